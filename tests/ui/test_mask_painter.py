"""The canvas mask painter: brush and eraser strokes in image pixels, gap-free lines, size changes."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from studio.core.units import UnitMask
from studio.ui.canvas import ImageCanvas
from studio.ui.mask_painter import EDGE_ALPHA, MASK_RGBA, MaskPainter


@pytest.fixture
def painter(qtbot):
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(300, 300)
    canvas.set_image(np.zeros((40, 60, 3), np.uint8))
    p = MaskPainter(canvas)
    return p


def test_brush_paints_discs_of_its_size_and_a_fast_line_has_no_gaps(painter):
    changes = []
    painter.maskChanged.connect(changes.append)
    painter.set_tool("brush")
    painter.set_size(5)
    painter.stroke([(10.5, 10.5)])
    assert painter.mask.shape == (40, 60)
    ys, xs = np.nonzero(painter.mask)
    assert ((xs + 0.5 - 10.5) ** 2 + (ys + 0.5 - 10.5) ** 2 <= 2.5 ** 2).all() and painter.mask.sum() == 21
    painter.stroke([(5, 30), (55, 30)])  # one long segment: stamped densely along it
    assert painter.mask[30, 5:55].all()
    assert len(changes) == 2 and changes[-1] is painter.mask


def test_eraser_clears_and_an_empty_mask_reads_as_none(painter):
    changes = []
    painter.maskChanged.connect(changes.append)
    painter.set_tool("brush")
    painter.set_size(4)
    painter.stroke([(20, 20)])
    painter.set_tool("eraser")
    painter.set_size(12)
    painter.stroke([(20, 20)])
    assert not painter.has_mask() and changes[-1] is None
    painter.stroke([(20, 20)])  # erasing nothing is no change
    assert len(changes) == 2


def test_overlay_shows_the_mask_and_a_new_image_size_drops_it(painter):
    painter.set_tool("brush")
    painter.stroke([(30, 20)])
    shown = painter.item.image
    assert shown.shape == (40, 60, 4) and tuple(shown[20, 30]) == MASK_RGBA and shown[0, 0, 3] == 0
    edge = np.nonzero(painter.mask[20])[0].min()
    assert shown[20, edge, 3] == EDGE_ALPHA > MASK_RGBA[3]  # the outline is drawn solid
    painter.set_visible(False)
    assert painter.item.image[20, 30, 3] == 0 and painter.has_mask()  # hidden, still applies
    painter.set_visible(True)
    painter.canvas.set_image(np.zeros((40, 60, 3), np.uint8))  # same size: the mask stays
    assert painter.has_mask()
    fine, unit = painter.mask.copy(), painter.unit
    painter.canvas.set_image(np.zeros((64, 64, 3), np.uint8))  # a new size: drawn again from the grid
    assert painter.unit is unit and painter.has_mask() and painter.mask.shape == (64, 64)
    assert painter.mask[32, 32] and not painter.mask[0, 0]
    np.testing.assert_array_equal(painter.mask, unit.to_array(64, 64) >= 0.5)
    painter.canvas.set_image(np.zeros((40, 60, 3), np.uint8))  # back: the stroke as it was painted
    np.testing.assert_array_equal(painter.mask, fine)


def test_a_stroke_settles_to_its_grid_and_shown_masks_draw_without_a_signal(painter):
    changes = []
    painter.maskChanged.connect(changes.append)
    painter.set_tool("brush")
    painter.set_size(10)
    painter.stroke([(15, 15)])
    first, first_fine = painter.unit, painter.mask.copy()
    assert first == UnitMask.from_array(first_fine)
    painter.stroke([(45, 25)])
    second = painter.unit
    assert second != first and len(changes) == 2
    painter.show_unit_mask(first)  # undo: the first stroke's fine drawing comes back
    assert painter.unit is first and len(changes) == 2
    np.testing.assert_array_equal(painter.mask, first_fine)
    grid = UnitMask(["0" * 32] * 16 + ["1" * 32] * 16)  # never painted here (a project): drawn from its grid
    painter.show_unit_mask(grid)
    assert painter.mask[39, 0] and not painter.mask[0, 0] and painter.item.image[39, 0, 3] > 0
    painter.show_unit_mask(None)
    assert painter.mask is None and not painter.has_mask() and len(changes) == 2
    painter.set_size(1)
    painter.stroke([(5.5, 5.5)])  # one pixel covers no grid cell: counts as nothing, and is drawn as nothing
    assert painter.unit is None and painter.mask is None


def test_off_tool_hides_the_outline_and_rejects_bad_tools(painter):
    painter.set_tool("brush")
    painter._hover(QPointF(10, 10))
    assert painter.outline.isVisible() and painter.outline.rect().width() == painter.size
    painter.set_tool("off")
    assert not painter.outline.isVisible()
    with pytest.raises(ValueError):
        painter.set_tool("spray")
