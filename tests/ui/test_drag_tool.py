"""Edit ▸ Drag to edit with the StyleGAN2 demo: points placed by clicking, Start shows the drag live, Stop
keeps the result as one undo step (undo restores the exact previous frame), the record lets it continue,
and the drag's path exported as a GIF from the timeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from studio.bundled import demo_checkpoints
from studio.core.drag import PANEL_KEY, read_record
from studio.core.recipe import SeedLatent
from studio.core.wspace import WLatent
from studio.demo.landmarks import find_landmarks
from studio.render.engine import ModelCache
from studio.ui import drag_tool
from studio.ui.main_window import MainWindow
from studio.ui.session import Session

from .helpers import SteppedWorker

STYLEGAN = next(p for p in demo_checkpoints() if p.stem.startswith("stylegan2"))
SEED = 5


@pytest.fixture
def setup(qtbot, tmp_path):
    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    w = MainWindow(s, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   checkpoints=tmp_path / "none", pca_samples=200)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    s.open_model(STYLEGAN)
    worker.step()  # the load
    while worker.jobs:  # the PCA the latent panel starts, so only the drag runs below
        worker.step()
    QApplication.processEvents()
    s.edit(s.recipe.with_seed(SEED), f"Seed {SEED}")
    s.end_gesture()
    QApplication.processEvents()
    return worker, s, w


def _eye(w: MainWindow) -> tuple[float, float]:
    eye = find_landmarks(w.canvas.image())["left_eye"]
    assert eye is not None
    return eye


def test_place_start_stop_and_undo_restores_the_exact_frame(setup, monkeypatch):
    worker, s, w = setup
    monkeypatch.setattr(drag_tool, "PREVIEW_EVERY_S", 0.0)  # every step's image shown
    tool = w.drag_tool
    w.drag_tool.action.trigger()  # Edit > Drag to edit
    assert tool.bar.isVisible() and tool.mode == "points"
    before, shown = s.recipe, w.canvas.image().copy()
    hx, hy = _eye(w)
    tool.click(hx, hy)  # what a click on the canvas calls, in image pixels
    assert not tool.start_button.isEnabled()  # a handle without its target
    tool.click(hx + 5.0, hy)
    assert tool.points()[0].handle == (hx, hy) and tool.start_button.isEnabled()
    tool.set_mode("brush")
    tool.painter.stroke([(12.0, 30.0), (52.0, 30.0)])  # a flexible region across the face
    assert tool.painter.has_mask()
    assert tool.start()
    assert tool.stop_button.isEnabled() and s.tasks.running
    for _ in range(50):  # other jobs (thumbnails) take turns with the drag
        if s.tasks.running and round(s.tasks.running[0].fraction * 100) >= 4:
            break
        worker.step()
        QApplication.processEvents()
    assert w.render_label.text().startswith("dragging: step 4/100")
    assert tool.status.text().startswith("step 4/")
    assert not np.array_equal(w.canvas.image(), shown)  # the live preview
    tool.stop_button.click()
    worker.run_all()
    QApplication.processEvents()
    assert tool.running is None and not s.tasks.running
    r = s.recipe
    assert isinstance(r.latent, WLatent) and r != before
    record = read_record(s.workspace.panel(PANEL_KEY))
    assert record is not None and record.ended == "stopped" and record.steps == 4 and record.mask is not None
    assert record.handles == ((hx, hy),) and record.ended_at[0] != (hx, hy)  # tracking moved the handle
    assert tool.handles == list(record.ended_at)  # the next Start continues from there
    dragged = w.canvas.image().copy()
    assert not np.array_equal(dragged, shown)
    assert s.history.undo_text().startswith("Drag 1 point")
    s.undo()
    QApplication.processEvents()
    assert s.recipe == before and isinstance(s.recipe.latent, SeedLatent)
    assert np.array_equal(w.canvas.image(), shown)  # exactly the frame before the drag
    assert tool.handles == [(hx, hy)]  # the points as placed
    s.redo()
    QApplication.processEvents()
    assert s.recipe == r and np.array_equal(w.canvas.image(), dragged)
    assert tool.handles == list(record.ended_at)
    s.edit(s.recipe.with_seed(SEED + 1), "Another seed")  # another face: the points were on the last one
    QApplication.processEvents()
    assert tool.handles == [] and tool.targets == [] and not tool.start_button.isEnabled()


def test_a_finished_drag_moves_the_eye_and_its_path_exports_as_a_gif(setup, tmp_path):
    worker, s, w = setup
    tool = w.drag_tool
    tool.set_active(True)
    hx, hy = _eye(w)
    tool.add_point((hx, hy), (hx + 5.0, hy))
    assert tool.start()
    worker.run_all()
    QApplication.processEvents()
    assert tool.last is not None and tool.last.ended == "reached" and tool.last.steps <= 100
    ex, ey = _eye(w)
    assert abs(ex - (hx + 5.0)) < 2.0 and abs(ey - hy) < 2.0  # the eye itself moved, measured in the image
    assert tool.to_timeline()
    t = s.workspace.timeline
    assert len(t.keyframes) >= 2 and t.keyframes[-1] == s.recipe
    out = tmp_path / "drag.gif"
    assert w.timeline_panel.export_to(out)
    worker.run_all()
    QApplication.processEvents()
    gif = Image.open(out)
    assert gif.n_frames == t.frame_count() > 2
    gif.seek(0)
    first = np.asarray(gif.convert("RGB"))
    gif.seek(gif.n_frames - 1)
    last = np.asarray(gif.convert("RGB"))
    assert np.abs(first.astype(int) - last.astype(int)).mean() > 1.0  # the drag plays


def test_start_without_points_is_a_message(setup):
    worker, s, w = setup
    errors: list[str] = []
    s.error.connect(errors.append)
    w.drag_tool.set_active(True)
    assert not w.drag_tool.start()
    assert errors and "handle" in errors[0] and "\n" not in errors[0]
    assert not w.drag_tool.to_timeline() and len(errors) == 2


def test_start_at_the_targets_changes_nothing(setup):
    worker, s, w = setup
    tool = w.drag_tool
    tool.set_active(True)
    steps = s.history.count
    tool.add_point((30.5, 30.5), (30.6, 30.5))  # within the tolerance already
    assert tool.start()
    worker.run_all()
    QApplication.processEvents()
    assert s.history.count == steps and isinstance(s.recipe.latent, SeedLatent)


def test_an_edit_during_the_drag_stands(setup):
    worker, s, w = setup
    tool = w.drag_tool
    tool.set_active(True)
    tool.add_point((26.5, 30.5), (31.5, 30.5))
    assert tool.start()
    for _ in range(6):
        worker.step()
    s.edit(s.recipe.with_seed(SEED + 2), "Another seed")
    worker.run_all()
    QApplication.processEvents()
    assert s.recipe.latent == SeedLatent(SEED + 2) and tool.running is None
    assert np.array_equal(w.canvas.image(), w.session.renderer.render(s.generator, s.recipe).image)
