"""With the real RenderWorker thread: frames arrive through queued signals and the last request wins."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from studio.render.engine import ModelCache, Renderer
from studio.render.worker import RenderWorker
from studio.ui.main_window import MainWindow
from studio.ui.session import Session

from .conftest import PCA_SAMPLES
from .helpers import drag_slider, drop_files


@pytest.fixture
def threaded_window(qtbot, settings, tmp_path):
    worker = RenderWorker()
    session = Session(worker, ModelCache(torch.device("cpu")))
    w = MainWindow(session, settings, checkpoints=tmp_path / "none", pca_samples=PCA_SAMPLES)
    qtbot.addWidget(w)
    w.show()
    yield w
    worker.stop()


def test_fast_slider_values_end_on_the_last_one(qtbot, threaded_window, tiny_dcgan_path):
    w = threaded_window
    s = w.session
    gui_thread = threading.current_thread()
    seen_threads: set[threading.Thread] = set()
    s.frameReady.connect(lambda _: seen_threads.add(threading.current_thread()))
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(w, [tiny_dcgan_path])
    qtbot.waitUntil(lambda: bool(w.walk_panel.sliders()), timeout=20000)

    label, row = next(iter(w.walk_panel.sliders().items()))
    values = list(np.linspace(-2.9, 2.9, 60)) + [1.234]
    drag_slider(row, values)
    final = s.recipe
    assert final.walk_amount(label) == pytest.approx(1.234, abs=1e-9)
    qtbot.waitUntil(lambda: s.last_frame is not None and s.last_frame.recipe == final, timeout=20000)

    expected = Renderer().render(s.generator, final).image
    assert np.array_equal(s.last_frame.image, expected)
    assert np.array_equal(w.canvas.image(), expected)
    assert seen_threads == {gui_thread}, "frames must be delivered on the GUI thread"
    assert s.history.count == 1


def test_pca_shows_computing_until_the_background_job_is_done(qtbot, threaded_window, tiny_dcgan_path):
    w = threaded_window
    panel = w.walk_panel
    states: list[tuple[str, bool, int]] = []

    def at_model_change(_g) -> None:  # runs on the GUI thread: the job's result cannot have arrived yet
        states.append((panel.pca.placeholder.text(), panel.pca.progress.isVisibleTo(panel), len(panel.pca.rows)))

    w.session.modelChanged.connect(at_model_change)
    progress: list[int] = []
    panel.pca.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(panel.pcaReady, timeout=30000):
        drop_files(w, [tiny_dcgan_path])
    assert states == [("computing…", True, 0)]
    assert progress and progress[-1] == 100
    assert len(panel.pca.rows) == panel.PCA_K
    assert not panel.pca.placeholder.isVisibleTo(panel) and not panel.pca.progress.isVisibleTo(panel)

    # a PCA slider walks by its direction's standard deviation per unit
    label, (spec, row) = next(iter(panel.pca.rows.items()))
    assert label == "pca:0" and spec.scale > 0
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        drag_slider(row, [1.0])
    assert w.session.recipe.walk_amount("pca:0") == pytest.approx(spec.scale)
