"""Painting a region on the canvas: the mask that unit edits (dropping, scaling, inserting units) apply inside.

What counts is `unit`, a UnitMask at the stored grid (image-normalised, so it applies at every image size
and layer); the Features panel keeps it in the workspace, one undo step per stroke. `mask`, a boolean array
at the image's own resolution, is only the drawing cache strokes paint into: the fine drawing of recent
masks is remembered by value, so undo and redo show the stroke as painted, and any other mask (a project,
a new image size) is drawn from its grid. Painting is a tool mode: while the brush or eraser is on, a left
drag paints instead of panning (the wheel still zooms), and the brush outline follows the cursor.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem

from studio.core.units import UnitMask
from studio.ui.canvas import ImageCanvas

TOOLS = ("off", "brush", "eraser")
MASK_RGBA = (255, 40, 200, 90)  # magenta: stands out on faces, skies and dark backgrounds alike
EDGE_ALPHA = 235
FINE_KEPT = 32  # fine drawings remembered for undo / redo (a 256 px mask is 64 KB)


def _eroded(mask: np.ndarray) -> np.ndarray:
    """Pixels whose four neighbours are all in the mask (the image border counts as outside)."""
    m = np.pad(mask, 1)
    return m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]


class _MaskItem(pg.ImageItem):
    """The overlay image; while a tool is on it takes left drags and clicks (so they paint, not pan)."""

    def __init__(self, painter: "MaskPainter"):
        super().__init__(axisOrder="row-major")
        self.painter = painter
        self.setAcceptHoverEvents(True)

    def hoverEvent(self, ev) -> None:  # noqa: ANN001 - pyqtgraph HoverEvent
        if ev.isExit():
            self.painter._hover(None)
            return
        if self.painter.tool != "off":
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            self.painter._hover(ev.pos())

    def mouseDragEvent(self, ev) -> None:  # noqa: ANN001 - pyqtgraph MouseDragEvent
        if self.painter.tool == "off" or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self.painter.begin_stroke()
            self.painter.paint_line(ev.buttonDownPos(), ev.pos())
        else:
            self.painter.paint_line(ev.lastPos(), ev.pos())
        self.painter._hover(ev.pos())
        if ev.isFinish():
            self.painter.end_stroke()

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001 - pyqtgraph MouseClickEvent
        if self.painter.tool == "off" or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self.painter.begin_stroke()
        self.painter.paint_line(ev.pos(), ev.pos())
        self.painter.end_stroke()


class MaskPainter(QObject):
    """Brush / eraser over an ImageCanvas; `maskChanged` after each stroke (None once cleared), with `unit`
    already the stroke's UnitMask."""

    maskChanged = Signal(object)  # np.ndarray (H, W) bool, or None
    toolChanged = Signal(str)

    def __init__(self, canvas: ImageCanvas, parent: QObject | None = None, fill_alpha: int = MASK_RGBA[3]):
        super().__init__(parent)
        self.canvas = canvas
        self.fill = (*MASK_RGBA[:3], int(fill_alpha))  # a tool showing its result through the region tints less
        self.tool = "off"
        self.size = 8.0          # brush diameter in image pixels
        self.mask: np.ndarray | None = None   # the drawing cache at the image's resolution
        self.unit: UnitMask | None = None      # what counts: the mask at the stored grid
        self._fine: dict[UnitMask, np.ndarray] = {}
        self._visible = True
        self._stroke_changed = False
        self.item = _MaskItem(self)
        canvas.add_overlay(self.item)
        self.outline = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255, 220))
        pen.setCosmetic(True)  # one screen pixel wide at any zoom
        pen.setStyle(Qt.PenStyle.DashLine)
        self.outline.setPen(pen)
        self.outline.setVisible(False)
        canvas.add_overlay(self.outline, z=20)
        canvas.imageChanged.connect(self.image_changed)
        self._refresh()

    # -- state -------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}")
        self.tool = tool
        if tool == "off":
            self.outline.setVisible(False)
        self.canvas.setCursor(Qt.CursorShape.CrossCursor if tool != "off" else Qt.CursorShape.ArrowCursor)
        self._refresh()
        self.toolChanged.emit(tool)

    def set_size(self, diameter: float) -> None:
        self.size = max(1.0, float(diameter))

    def set_visible(self, visible: bool) -> None:
        """Show or hide the painted region (it keeps applying to edits either way)."""
        self._visible = visible
        self._refresh()

    def has_mask(self) -> bool:
        return self.unit is not None

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Replace the mask as a user edit would (emits maskChanged)."""
        self.mask = None if mask is None else np.asarray(mask, bool).copy()
        self._settle()
        self._refresh()
        self.maskChanged.emit(self.mask if self.has_mask() else None)

    def show_unit_mask(self, unit: UnitMask | None) -> None:
        """Show `unit` (the workspace's mask after undo, redo or a model switch); not an edit, no signal."""
        if unit == self.unit and (unit is None or self._fits(self.mask)):
            return
        self.unit = unit
        self.mask = self._drawing(unit)
        self._refresh()

    def _settle(self) -> None:
        """`unit` from the drawing; a stroke too small to cover a grid cell counts as nothing, so is drawn as
        nothing."""
        m = self.mask
        unit = UnitMask.from_array(m) if m is not None and m.any() else None
        if unit is not None and "1" not in "".join(unit):
            unit = None
        self.unit = unit
        if unit is None:
            self.mask = None
            return
        assert m is not None
        self._fine.pop(unit, None)
        self._fine[unit] = m.copy()
        while len(self._fine) > FINE_KEPT:
            self._fine.pop(next(iter(self._fine)))

    def _fits(self, m: np.ndarray | None) -> bool:
        image = self.canvas.image()
        return m is not None and image is not None and m.shape == image.shape[:2]

    def _drawing(self, unit: UnitMask | None) -> np.ndarray | None:
        """The fine drawing of `unit` when one was painted at this image size, else its grid resampled."""
        if unit is None:
            return None
        fine = self._fine.get(unit)
        if self._fits(fine):
            assert fine is not None
            return fine.copy()
        image = self.canvas.image()
        if image is None:
            return None
        h, w = image.shape[:2]
        return unit.to_array(h, w) >= 0.5

    def clear(self) -> None:
        self.set_mask(None)

    # -- painting (image pixel coordinates: x right, y down) ----------------------------------------
    def _ensure_mask(self) -> bool:
        image = self.canvas.image()
        if image is None:
            return False
        h, w = image.shape[:2]
        if self.mask is None or self.mask.shape != (h, w):
            drawn = self._drawing(self.unit)
            self.mask = drawn if drawn is not None else np.zeros((h, w), bool)
        return True

    def begin_stroke(self) -> None:
        self._stroke_changed = False

    def paint_line(self, a: QPointF, b: QPointF) -> None:
        """Stamp the brush along a -> b (dense enough that a fast drag leaves no gaps)."""
        if not self._ensure_mask():
            return
        assert self.mask is not None
        r = self.size / 2
        steps = max(1, int(np.ceil(np.hypot(b.x() - a.x(), b.y() - a.y()) / max(r / 2, 0.5))))
        h, w = self.mask.shape
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy = xx + 0.5, yy + 0.5  # pixel centres
        hit = np.zeros_like(self.mask)
        for t in np.linspace(0.0, 1.0, steps + 1):
            px, py = a.x() + t * (b.x() - a.x()), a.y() + t * (b.y() - a.y())
            hit |= (cx - px) ** 2 + (cy - py) ** 2 <= max(r, 0.5) ** 2
        value = self.tool != "eraser"
        before = self.mask[hit]
        if before.size and (before != value).any():
            self.mask[hit] = value
            self._stroke_changed = True
            self._refresh()

    def end_stroke(self) -> None:
        if self._stroke_changed:
            self._settle()
            self._refresh()
            self.maskChanged.emit(self.mask if self.has_mask() else None)
        self._stroke_changed = False

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Paint one stroke through image-pixel points (scripting and tests drive the tool with this)."""
        self.begin_stroke()
        pts = [QPointF(x, y) for x, y in points]
        for a, b in zip(pts, pts[1:] or pts):
            self.paint_line(a, b)
        self.end_stroke()

    # -- drawing ------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        image = self.canvas.image()
        if self.mask is None or image is None or self.mask.shape != image.shape[:2] or not self._visible:
            self.item.setVisible(image is not None and self.tool != "off")  # still takes the strokes
            shape = image.shape[:2] if image is not None else (1, 1)
            self.item.setImage(np.zeros((*shape, 4), np.uint8), autoLevels=False, levels=(0, 255))
            return
        rgba = np.zeros((*self.mask.shape, 4), np.uint8)
        rgba[self.mask] = self.fill
        rgba[self.mask & ~_eroded(self.mask), 3] = EDGE_ALPHA  # a solid edge: the region reads as painted
        self.item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.item.setVisible(True)

    def image_changed(self) -> None:
        """Call when the canvas shows a new frame: at a new size the mask is drawn again from its grid (it is
        image-normalised, so it still applies); nothing is dropped."""
        image = self.canvas.image()
        if self.unit is not None and image is not None and not self._fits(self.mask):
            self.mask = self._drawing(self.unit)
        self._refresh()

    def _hover(self, pos: QPointF | None) -> None:
        if pos is None or self.tool == "off":
            self.outline.setVisible(False)
            return
        r = self.size / 2
        self.outline.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
        self.outline.setVisible(True)
