"""Ctrl+C and SIGTERM close the running app as its close button does; SIGKILL still leaves a recovery."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core.project import Autosave

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start_app(home: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_STUDIO_DATA=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"), HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "studio", "demo:dcgan"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_autosave(proc: subprocess.Popen[str], store: Autosave, timeout: float = 90.0) -> None:
    """Until the app has opened the demo and autosaved it (the timer runs every few seconds)."""
    deadline = time.monotonic() + timeout
    while not store.path.is_file():
        if proc.poll() is not None:
            pytest.fail(f"the app exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the app never autosaved")
        time.sleep(0.2)


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 0), (signal.SIGTERM, 0)])
def test_interrupt_and_terminate_close_cleanly(tmp_path, sig, status):
    proc = start_app(tmp_path)
    store = Autosave(tmp_path / "data" / "autosave")
    wait_for_autosave(proc, store)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{sig.name} did not close the app")
    assert proc.returncode == status, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Unexpected error" not in err, err
    assert store.marker.exists()
    assert store.pending_recovery() is None  # the next launch offers no recovery


def test_a_killed_app_still_leaves_its_session_to_recover(tmp_path):
    proc = start_app(tmp_path)
    store = Autosave(tmp_path / "data" / "autosave")
    wait_for_autosave(proc, store)
    proc.kill()
    proc.communicate(timeout=60)
    recovered = store.pending_recovery()
    assert recovered is not None and Path(recovered.model.path).name == "dcgan_toyfaces.safetensors"
