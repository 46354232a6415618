"""Autosave keeps every session it cannot restore (issue 26 item 4), below the GUI and through the real CLI.

The window-level cases (restore-then-cancel, a checkpoint that no longer loads, another model) are in
tests/ui/test_recovery.py; here: the store's own guarantees, and `latent-studio` started on a damaged
autosave as a user starts it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.cli import main
from studio.core.project import Autosave, DamagedAutosave, Project, load_project
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.workspace import Workspace


def _project(seed: int) -> Project:
    return Project.of(Workspace(Recipe(ModelRef("/models/netG.pth"), SeedLatent(seed))))


def _crashed(folder: Path, seed: int = 4) -> bytes:
    store = Autosave(folder)
    store.begin()
    assert store.save(_project(seed))
    return store.path.read_bytes()  # no clean_exit: the process died


def test_a_held_crashed_session_is_moved_aside_by_the_first_write(tmp_path):
    crashed = _crashed(tmp_path / "auto")
    store = Autosave(tmp_path / "auto")
    assert store.pending_recovery().recipe.latent == SeedLatent(4)
    store.begin()
    store.hold()  # the user chose Restore; it has not completed
    assert store.save(_project(7))  # a write meanwhile (a bug, a race): it must not replace the crashed one
    kept = sorted((tmp_path / "auto").glob("autosave-unrecovered-*.lsproj"))
    assert len(kept) == 1 and kept[0].read_bytes() == crashed and store.kept == kept[0]
    assert load_project(store.path).recipe.latent == SeedLatent(7)
    assert store.save(_project(8))  # once moved, later writes are ordinary
    assert len(list((tmp_path / "auto").glob("autosave-*"))) == 1


def test_quitting_during_a_restore_keeps_the_crashed_session(tmp_path):
    crashed = _crashed(tmp_path / "auto")
    store = Autosave(tmp_path / "auto")
    store.pending_recovery()
    store.begin()
    store.hold()
    store.clean_exit()  # closed before the restore finished
    kept = list((tmp_path / "auto").glob("autosave-unrecovered-*.lsproj"))
    assert len(kept) == 1 and kept[0].read_bytes() == crashed
    assert Autosave(tmp_path / "auto").pending_recovery() is None  # a clean exit, and nothing overwritten


def test_a_released_restore_writes_over_its_own_file(tmp_path):
    _crashed(tmp_path / "auto")
    store = Autosave(tmp_path / "auto")
    store.pending_recovery()
    store.begin()
    store.hold()
    store.release()  # restored: the session saved now is the crashed one
    assert store.save(_project(5))
    assert not list((tmp_path / "auto").glob("autosave-*"))


def test_names_never_collide(tmp_path):
    folder = tmp_path / "auto"
    kept = []
    for i in range(3):  # three damaged files within one second
        folder.mkdir(exist_ok=True)
        (folder / "autosave.lsproj").write_text("{" * (i + 1))
        with pytest.raises(DamagedAutosave) as exc:
            Autosave(folder).pending_recovery()
        assert exc.value.kept is not None and str(exc.value.kept) in str(exc.value)
        kept.append(exc.value.kept)
    assert len(set(kept)) == 3 and [p.read_text() for p in kept] == ["{", "{{", "{{{"]


def test_a_fifo_under_the_autosave_name_is_never_opened(tmp_path):
    folder = tmp_path / "auto"
    folder.mkdir()
    os.mkfifo(folder / "autosave.lsproj")
    t0 = time.monotonic()
    with pytest.raises(DamagedAutosave, match="not a regular file"):
        Autosave(folder).pending_recovery()  # reading a FIFO would block forever
    assert time.monotonic() - t0 < 5
    assert not (folder / "autosave.lsproj").exists()


def test_export_of_a_damaged_project_is_one_line(capsys, tmp_path):
    path = tmp_path / "p.lsproj"
    path.write_text('{"format": "latent-studio-project", "schema": 2, "active": ' + "9" * 400 + "}")
    assert main(["export", str(path), "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "p.lsproj" in err and "unexpected" not in err
    assert path.is_file()  # a project the user named is never moved


def test_latent_studio_starts_on_a_damaged_autosave(tmp_path, tiny_dcgan_path):
    """The launch that failed at every start: `latent-studio CKPT` with a 400-digit integer in the autosave."""
    pytest.importorskip("PySide6")
    data = tmp_path / "data"
    (data / "autosave").mkdir(parents=True)
    damaged = b'{"format":"latent-studio-project","schema":2,"active":' + b"9" * 400 + b',"workspaces":[]}\n'
    (data / "autosave" / "autosave.lsproj").write_bytes(damaged)
    env = {**os.environ, "LATENT_STUDIO_DATA": str(data), "QT_QPA_PLATFORM": "offscreen",
           "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen([sys.executable, "-m", "studio", str(tiny_dcgan_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list((data / "autosave").glob("autosave-damaged-*.lsproj")) and proc.poll() is None:
            assert time.monotonic() < deadline, "the app neither started nor moved the autosave aside"
            time.sleep(0.1)
        time.sleep(1.0)  # let it open the model
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]  # still running: it started
        proc.send_signal(signal.SIGTERM)  # closes like the window's close button
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err and b"unexpected" not in err, err.decode()[-2000:]
    kept = list((data / "autosave").glob("autosave-damaged-*.lsproj"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged
    assert load_project(data / "autosave" / "autosave.lsproj").model.path == str(tiny_dcgan_path)
