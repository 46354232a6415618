"""The DCGAN paper's box-drawing dialog on a generator with a planted object: boxes find the planted units."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from torch import nn

from studio.core.recipe import SeedLatent
from studio.core.units import drop, unit_edits
from studio.core.workspace import UnitSelection
from studio.model.api import ModelInfo
from studio.model.modules import module_generator
from studio.render.engine import ModelCache
from studio.ui.panels.dissect_dialog import BATCH, DissectDialog, sample_recipes, samples_job
from studio.ui.panels.feature_panel import FeaturePanel
from studio.ui.session import Session

from .helpers import SteppedWorker

PLANTED = (2, 5)
UNITS = 8


class Planted(nn.Module):
    """z -> (N, 8, 8, 8): units 2 and 5 are on in one quadrant (picked by the signs of z0 and z1), the object;
    the other units are random patterns of z, everywhere."""

    def __init__(self, z_dim: int = 8):
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(z_dim, UNITS * 64)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.proj(z)).reshape(len(z), UNITS, 8, 8)
        obj = torch.zeros(len(z), 8, 8)
        for i, (qy, qx) in enumerate(zip((z[:, 0] > 0).long().tolist(), (z[:, 1] > 0).long().tolist())):
            obj[i, 4 * qy:4 * qy + 4, 4 * qx:4 * qx + 4] = 1.0
        idx = list(PLANTED)
        x[:, idx] = 2.0 * obj[:, None] + 0.05 * x[:, idx]
        return x


def planted_generator():
    blocks = [("features", Planted()),
              ("image", nn.Sequential(nn.Upsample(scale_factor=4), nn.Conv2d(UNITS, 3, 1), nn.Tanh()))]
    info = ModelInfo(family="test", format="test", resolution=32, z_dim=8)
    return module_generator(nn.Sequential(*(m for _, m in blocks)), info, model_id="planted",
                            input_fn=lambda ctx: ctx.z, blocks=blocks)


def quadrant_box(g, seed: int) -> tuple[float, float, float, float]:
    z = g.latent(SeedLatent(seed))
    qy, qx = int(z[0] > 0), int(z[1] > 0)
    return (0.5 * qx, 0.5 * qy, 0.5 * qx + 0.5, 0.5 * qy + 0.5)


@pytest.fixture
def dialog(qtbot, session):
    g = planted_generator()
    session.set_generator(g, "planted.pt")
    panel = FeaturePanel(session, stat_samples=16)
    qtbot.addWidget(panel)
    d = panel.open_dissect_dialog()
    qtbot.addWidget(d)
    assert d.layer_box.currentData() == "features"
    return d


def test_samples_render_for_the_seeds(dialog):
    s = dialog.session
    assert [c.seed for c in dialog.cells] == list(range(12))
    assert all(cell.canvas.pixmap is not None for cell in dialog.cells)
    assert dialog.recipes[3].latent == SeedLatent(3) and not unit_edits(dialog.recipes[3])
    dialog.seeds.setText("5, 9-10")
    assert dialog.render_samples() and [c.seed for c in dialog.cells] == [5, 9, 10]
    dialog.seeds.setText("x")
    assert not dialog.render_samples() and "not a seed" in dialog.status.text()
    assert s.recipe is not None


def test_boxes_around_the_planted_object_find_its_units_and_apply_drops_them(qtbot, dialog):
    s, g = dialog.session, dialog.session.generator
    boxes = [[quadrant_box(g, c.seed)] if i % 2 == 0 else [] for i, c in enumerate(dialog.cells)]
    dialog.set_boxes(boxes)  # boxes on half the samples, as a user would draw on a few
    dialog.k.setValue(2)
    with qtbot.waitSignal(dialog.unitsFound, timeout=10000):
        assert dialog.find_units()
    assert set(dialog.proposed()) == set(PLANTED)
    assert "balanced accuracy" in dialog.status.text()
    # the after row: every sample re-rendered with the planted units dropped, and the object gone from it
    before = s.renderer.render_batch(g, dialog.recipes)
    assert all(cell.after.isVisibleTo(dialog) and not cell.after.pixmap().isNull() for cell in dialog.cells)
    after = s.renderer.render_batch(g, _dropped(dialog))
    x0, y0, x1, y1 = (int(v * 32) for v in quadrant_box(g, 0))
    assert not np.array_equal(before[0, y0:y1, x0:x1], after[0, y0:y1, x0:x1])
    steps = s.history.count
    assert dialog.apply()
    assert s.history.count == steps + 1  # the drop and the Features panel's selection of the units: one step
    (edit,) = unit_edits(s.recipe)
    assert edit.layer == "features" and set(edit.units) == set(PLANTED) and edit.value == 0.0
    assert s.workspace.units == UnitSelection("features", frozenset(PLANTED))
    panel = dialog.panel
    assert panel.selection == panel.tiles.selected == set(PLANTED) and panel.tiles.marks[PLANTED[0]].dropped
    s.undo()
    assert unit_edits(s.recipe) == () and panel.tiles.selected == set() and panel.tiles.marks == {}


def _dropped(dialog: DissectDialog):
    units = dialog.proposed()
    return [replace(r, edits=r.edits + (drop("features", units),)) for r in dialog.recipes]


def test_k_changes_the_proposal_and_rerenders_the_after_row(qtbot, dialog):
    g = dialog.session.generator
    dialog.set_boxes([[quadrant_box(g, c.seed)] for c in dialog.cells])
    dialog.k.setValue(1)
    dialog.find_units()
    assert len(dialog.proposed()) == 1 and dialog.proposed()[0] in PLANTED
    dialog.k.setValue(4)
    assert len(dialog.proposed()) == 4 and set(PLANTED) <= set(dialog.proposed())


def test_drawing_a_box_with_the_mouse_and_removing_it(qtbot, dialog):
    canvas = dialog.cells[0].canvas
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(10, 20))
    qtbot.mouseMove(canvas, QPoint(40, 50))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(64, 96))
    (box,) = canvas.boxes
    np.testing.assert_allclose(box, (10 / 128, 20 / 128, 64 / 128, 96 / 128), atol=1e-6)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))  # a click is not a box
    assert len(canvas.boxes) == 1
    qtbot.mouseClick(canvas, Qt.MouseButton.RightButton, pos=QPoint(30, 40))
    assert canvas.boxes == []


def test_bad_boxes_give_a_message_not_a_traceback(dialog):
    assert not dialog.find_units() and "Draw at least one box" in dialog.status.text()
    dialog.set_boxes([[(0.0, 0.0, 1.0, 1.0)] for _ in dialog.cells])  # everything inside: nothing to contrast
    dialog.find_units()
    assert "Could not find units" in dialog.status.text() and "cover some but not all" in dialog.status.text()
    assert dialog.find_button.isEnabled() and not dialog.apply_button.isEnabled()


def test_sample_renders_yield_a_stage_per_step_and_the_newest_job_wins(qtbot):
    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    g = planted_generator()
    s.set_generator(g, "planted.pt")
    recipes = sample_recipes(s.recipe, range(12))
    progress = list(samples_job(s.renderer, g, recipes))  # one step per stage of each batch
    assert len(progress) == 1 + -(-12 // BATCH) * (len(g.stages) - 1) and progress == sorted(progress)
    panel = FeaturePanel(s, stat_samples=16)
    qtbot.addWidget(panel)
    d = panel.open_dissect_dialog()
    qtbot.addWidget(d)
    assert d.running() == ("samples",)
    first = worker.jobs[-1][0]
    d.seeds.setText("5, 9-10")
    assert d.render_samples() and first.cancelled and d.running() == ("samples",)
    arrived: list[int] = []
    d.samplesReady.connect(lambda: arrived.append(len(d.cells)))
    worker.run_all()
    assert arrived == [3] and all(c.canvas.pixmap is not None for c in d.cells) and d.running() == ()
    assert "Could not" not in d.status.text() and not d.bar.isVisibleTo(d)
    d.set_boxes([[quadrant_box(g, c.seed)] for c in d.cells])
    d.k.setValue(2)
    assert d.find_units() and d.running() == ("find",)
    worker.run_all()
    assert len(d.proposed()) == 2
    d.k.setValue(1)
    d.k.setValue(3)  # two after rows asked for: only the newest renders
    after = [e[0] for e in worker.jobs]
    assert len(after) == 2 and after[0].cancelled and not after[1].cancelled and d.running() == ("after",)
    worker.run_all()
    assert d.running() == () and all(not c.after.isHidden() for c in d.cells)
    d.seeds.setText("0-3")
    d.render_samples()  # new samples: the ranking of the old ones no longer applies
    assert d.ranked is None and not d.apply_button.isEnabled()
    worker.run_all()
    assert [c.seed for c in d.cells] == [0, 1, 2, 3]


def test_a_model_switch_leaves_no_samples_of_the_previous_model(qtbot, dialog):
    s = dialog.session
    assert dialog.cells and dialog.recipes
    dialog.hide()
    s.set_generator(planted_generator(), "other.pt")
    assert dialog.cells == [] and dialog.recipes == []  # closed: nothing rendered until it opens again
    dialog.panel.open_dissect_dialog()
    assert [c.seed for c in dialog.cells] == list(range(12)) and all(c.canvas.pixmap for c in dialog.cells)
    assert all(r.model.path == "other.pt" for r in dialog.recipes)
