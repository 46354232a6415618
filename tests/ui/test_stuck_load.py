"""Loading is apart from rendering: a load stuck in a plugin leaves frames of the open model coming and the
next open working (the newest open wins); a FIFO is refused with a message; plugins that failed are told
once and listed in Help > Plugins."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from studio.bundled import resolve_demo
from studio.model.registry import Registry, reset_default_registry
from studio.render.engine import ModelCache
from studio.render.worker import RenderWorker
from studio.ui.main_window import MainWindow
from studio.ui.session import Session

from .conftest import PCA_SAMPLES

HANGING_LOAD = '''
import time
from pathlib import Path

from studio.errors import CheckpointError

RELEASE = Path({release!r})


class Hangs:
    name = "hangsonload"
    formats = "*.hang test files"

    def sniff(self, probe):
        return 1.0 if probe.path.suffix == ".hang" else 0.0

    def load(self, probe, device):
        end = time.monotonic() + 60  # stuck until the test releases it
        while not RELEASE.exists() and time.monotonic() < end:
            time.sleep(0.01)
        raise CheckpointError("the stuck load finally ended")


plugin = Hangs()
'''


@pytest.fixture
def stuck(tmp_path: Path):
    """(registry with a drop-in whose load hangs, a file it claims, the release file)."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    release = tmp_path / "release"
    (folder / "hangs.py").write_text(HANGING_LOAD.format(release=str(release)))
    model = tmp_path / "model.hang"
    model.write_text("stuck\n")
    yield Registry.discover(search_paths=[folder]), model, release
    release.touch()


@pytest.fixture
def stuck_window(qtbot, settings, tmp_path, stuck):
    reg = stuck[0]
    worker = RenderWorker()
    session = Session(worker, ModelCache(torch.device("cpu"), open_fn=reg.open))
    w = MainWindow(session, settings, checkpoints=tmp_path / "none", pca_samples=PCA_SAMPLES)
    qtbot.addWidget(w)
    w.show()
    yield w
    worker.stop()


def test_a_stuck_load_leaves_rendering_and_the_next_open_working(qtbot, stuck_window, stuck,
                                                                 tiny_dcgan_safetensors):
    w, s = stuck_window, stuck_window.session
    _, hang, release = stuck
    demo = resolve_demo("demo:dcgan")
    with qtbot.waitSignal(s.frameReady, timeout=30000):
        w.open_path(demo)
    assert s.model_path == demo

    w.open_path(hang)  # its plugin's load never returns (until released below)
    assert s.loading
    # the open model keeps rendering: an edit comes back as a frame while the load is stuck
    seven = s.recipe.with_seed(7)
    s.edit(seven, "Seed 7")
    qtbot.waitUntil(lambda: s.last_frame is not None and s.last_frame.recipe == seven, timeout=20000)
    assert s.model_path == demo and s.loading

    # the next open is not queued behind the stuck one: it loads, and being the newest it wins
    with qtbot.waitSignal(s.modelChanged, timeout=30000):
        w.open_path(tiny_dcgan_safetensors)
    qtbot.waitUntil(lambda: s.last_frame is not None and s.last_frame.image.shape == (32, 32, 3), timeout=20000)
    assert s.model_path == tiny_dcgan_safetensors and not s.loading

    # the stuck load ends at last: superseded, its failure is dropped, not shown over the model now open
    w.hide_error()
    release.touch()
    qtbot.wait(500)
    assert s.model_path == tiny_dcgan_safetensors
    assert "stuck load" not in w.banner.text() and "stuck load" not in w.statusBar().currentMessage()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_fifo_is_refused_with_a_message_and_the_model_keeps_rendering(qtbot, window, tmp_path):
    s = window.session
    demo = resolve_demo("demo:dcgan")
    window.open_path(demo)
    assert s.last_frame is not None
    pipe = tmp_path / "model.safetensors"
    os.mkfifo(pipe)
    window.open_path(pipe)  # a synchronous worker: a blocking open would hang the test right here
    assert "is a named pipe (FIFO), not a checkpoint file" in window.banner.text()
    project = tmp_path / "p.lsproj"
    os.mkfifo(project)
    assert not window.open_project(project)
    assert "p.lsproj is a named pipe (FIFO), not a project file" in window.banner.text()
    s.edit(s.recipe.with_seed(9), "Seed 9")
    assert s.model_path == demo and s.last_frame.recipe.latent.seed == 9 and s.last_frame.ok


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch):
    folder = tmp_path / "dropins"
    folder.mkdir()
    (folder / "broken.py").write_text("raise ImportError('needs the frobnicate package')\n")
    monkeypatch.setenv("LATENT_STUDIO_PLUGIN_PATH", str(folder))
    reset_default_registry()
    yield folder / "broken.py"
    reset_default_registry()


def test_a_failed_plugin_is_told_once_and_listed_in_help_plugins(qtbot, window, broken_plugin):
    s = window.session
    told: list[list[str]] = []
    s.pluginProblems.connect(told.append)
    window.open_path(resolve_demo("demo:dcgan"))
    assert s.generator is not None and s.generator.info.family == "dcgan"
    assert len(told) == 1 and len(told[0]) == 1 and "broken.py failed to load" in told[0][0]
    text = window.banner.text()
    assert text.startswith("A plugin could not be used: drop-in plugin") and "frobnicate" in text
    assert "Help > Plugins" in text

    window.hide_error()
    window.open_path(resolve_demo("demo:stargan"))
    assert len(told) == 1 and window.banner.text() == ""  # told once, not at every open

    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert window.actions_by_name["plugins"] in menu.actions()
    dialog = window.plugins_dialog()
    qtbot.addWidget(dialog)
    families = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert {"DCGAN", "StyleGAN", "StarGAN", "ONNX"} <= set(families)
    problems = [dialog.problems.item(i).text() for i in range(dialog.problems.count())]
    assert len(problems) == 1 and str(broken_plugin) in problems[0] and "frobnicate" in problems[0]
