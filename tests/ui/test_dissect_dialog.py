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
from studio.model.api import ModelInfo
from studio.model.modules import module_generator
from studio.ui.panels.dissect_dialog import DissectDialog
from studio.ui.panels.feature_panel import FeaturePanel

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
    assert d.layer_box.currentText() == "features"
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
    assert s.history.count == steps + 1
    (edit,) = unit_edits(s.recipe)
    assert edit.layer == "features" and set(edit.units) == set(PLANTED) and edit.value == 0.0
    s.undo()
    assert unit_edits(s.recipe) == ()


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
