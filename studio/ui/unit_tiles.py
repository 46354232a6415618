"""A grid of feature-map tiles, one per unit (channel) of a layer, drawn in one paint pass.

Hundreds of units make hundreds of widgets slow to build and lay out; one widget that paints every tile
from a cached pixmap stays fast when a layer has 512 units. Tiles carry marks for the unit's edit
(dropped: dimmed and crossed out; scaled: orange frame and factor; inserted: green frame and "+"; inside a
mask only: a magenta corner) and for the selection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap, QPolygon
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from studio.ui import theme

GAP = 4
DROPPED = QColor(220, 50, 47)
SCALED = QColor(240, 150, 20)
INSERTED = QColor(40, 170, 90)
MASKED = QColor(255, 64, 160)


@dataclass(frozen=True)
class TileMark:
    """How a unit is edited, as its tile shows it."""

    op: str          # "scale" or "set"
    value: float
    masked: bool = False

    @property
    def dropped(self) -> bool:
        return self.op == "scale" and self.value == 0.0

    def label(self) -> str:
        if self.dropped:
            return "dropped" + (" in mask" if self.masked else "")
        text = f"×{self.value:g}" if self.op == "scale" else f"set to {self.value:.3g}"
        return text + (" in mask" if self.masked else "")


def _lut() -> np.ndarray:
    try:
        return pg.colormap.get("inferno").getLookupTable(nPts=256, alpha=False).astype(np.uint8)
    except Exception:  # a trimmed pyqtgraph install: a plain grey ramp still reads as a heat map
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], 1)


_LUT: np.ndarray | None = None


def heat_rgb(maps: np.ndarray) -> np.ndarray:
    """(C, h, w) values in [0, 1] to (C, h, w, 3) uint8 through the inferno colour map."""
    global _LUT
    if _LUT is None:
        _LUT = _lut()
    idx = np.clip(np.nan_to_num(maps) * 255.0, 0, 255).astype(np.uint8)
    return _LUT[idx]


class TileGrid(QWidget):
    """Tiles in index order or a given order; emits clicks (with modifiers), hovers and context requests."""

    unitClicked = Signal(int, object)       # unit, Qt.KeyboardModifiers
    unitHovered = Signal(int)               # unit, or -1 when the cursor leaves the tiles
    contextRequested = Signal(int, QPoint)  # unit, global position

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.tile = 48
        self.order: list[int] = []
        self.marks: dict[int, TileMark] = {}
        self.selected: set[int] = set()
        self.hovered = -1
        self.tooltip_fn: Callable[[int], str] | None = None
        self._pixmaps: list[QPixmap] = []
        self._font = QFont()
        self._font.setPixelSize(9)

    # -- content -----------------------------------------------------------------------------------
    def set_maps(self, maps: np.ndarray | None) -> None:
        """(C, h, w) heat values in [0, 1] (None: no tiles)."""
        self._pixmaps = []
        if maps is not None:
            rgb = heat_rgb(maps)
            for tile in rgb:
                h, w, _ = tile.shape
                img = QImage(np.ascontiguousarray(tile).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
                self._pixmaps.append(QPixmap.fromImage(img))
        if len(self.order) != len(self._pixmaps):
            self.order = list(range(len(self._pixmaps)))
        self._relayout()

    def set_order(self, order: list[int]) -> None:
        self.order = list(order)
        self.update()

    def set_marks(self, marks: dict[int, TileMark]) -> None:
        self.marks = dict(marks)
        self.update()

    def set_selected(self, units: set[int]) -> None:
        self.selected = set(units)
        self.update()

    def set_tile_size(self, px: int) -> None:
        self.tile = int(px)
        self._relayout()

    def count(self) -> int:
        return len(self._pixmaps)

    # -- geometry ----------------------------------------------------------------------------------
    def columns(self) -> int:
        return max(1, (self.width() - GAP) // (self.tile + GAP))

    def _relayout(self) -> None:
        rows = -(-len(self._pixmaps) // self.columns()) if self._pixmaps else 0
        self.setFixedHeight(GAP + rows * (self.tile + GAP))
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(8 * (self.tile + GAP) + GAP, self.height())

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        self._relayout()

    def tile_rect(self, slot: int) -> QRect:
        cols = self.columns()
        r, c = divmod(slot, cols)
        return QRect(GAP + c * (self.tile + GAP), GAP + r * (self.tile + GAP), self.tile, self.tile)

    def unit_rect(self, unit: int) -> QRect:
        return self.tile_rect(self.order.index(unit))

    def unit_at(self, pos: QPoint) -> int:
        cols = self.columns()
        c, r = (pos.x() - GAP) // (self.tile + GAP), (pos.y() - GAP) // (self.tile + GAP)
        if pos.x() < GAP or pos.y() < GAP or c >= cols:
            return -1
        slot = r * cols + c
        if slot >= len(self.order) or not self.tile_rect(slot).contains(pos):
            return -1
        return self.order[slot]

    # -- input -------------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        unit = self.unit_at(event.position().toPoint())
        if unit != self.hovered:
            self.hovered = unit
            self.update()
            self.unitHovered.emit(unit)

    def leaveEvent(self, event) -> None:  # noqa: ANN001
        if self.hovered != -1:
            self.hovered = -1
            self.update()
            self.unitHovered.emit(-1)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        unit = self.unit_at(event.position().toPoint())
        if unit >= 0 and event.button() == Qt.MouseButton.LeftButton:
            self.unitClicked.emit(unit, event.modifiers())

    def contextMenuEvent(self, event) -> None:  # noqa: ANN001
        unit = self.unit_at(event.pos())
        if unit >= 0:
            self.contextRequested.emit(unit, event.globalPos())

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.tooltip_fn is not None:
            unit = self.unit_at(event.pos())
            if unit >= 0:
                QToolTip.showText(event.globalPos(), self.tooltip_fn(unit), self, self.unit_rect(unit))
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    # -- drawing -----------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setFont(self._font)
        accent = theme.colour("accent")
        visible = event.rect()
        for slot, unit in enumerate(self.order):
            rect = self.tile_rect(slot)
            if not rect.intersects(visible) or unit >= len(self._pixmaps):
                continue
            p.drawPixmap(rect, self._pixmaps[unit])  # nearest: feature maps are small, keep their cells crisp
            mark = self.marks.get(unit)
            if mark is not None:
                self._draw_mark(p, rect, mark)
            p.setPen(QColor(255, 255, 255, 200))
            p.fillRect(QRect(rect.left(), rect.top(), 4 + 6 * len(str(unit)), 11), QColor(0, 0, 0, 120))
            p.drawText(rect.adjusted(2, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, str(unit))
            if unit in self.selected:
                p.setPen(QPen(accent, 3))
                p.drawRect(rect.adjusted(1, 1, -2, -2))
            elif unit == self.hovered:
                p.setPen(QPen(QColor(255, 255, 255, 230), 1))
                p.drawRect(rect.adjusted(0, 0, -1, -1))
        p.end()

    def _draw_mark(self, p: QPainter, rect: QRect, mark: TileMark) -> None:
        if mark.dropped:
            p.fillRect(rect, QColor(0, 0, 0, 150))
            p.setPen(QPen(DROPPED, 2))
            p.drawLine(rect.topLeft() + QPoint(4, 4), rect.bottomRight() - QPoint(4, 4))
            p.drawLine(rect.topRight() + QPoint(-4, 4), rect.bottomLeft() + QPoint(4, -4))
        else:
            colour = SCALED if mark.op == "scale" else INSERTED
            p.setPen(QPen(colour, 2))
            p.drawRect(rect.adjusted(1, 1, -1, -1))
            text = f"×{mark.value:.2g}" if mark.op == "scale" else "+"
            p.fillRect(QRect(rect.right() - 4 - 6 * len(text), rect.bottom() - 11, 5 + 6 * len(text), 12), colour)
            p.setPen(QColor(255, 255, 255))
            p.drawText(rect.adjusted(0, 0, -2, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, text)
        if mark.masked:
            r = rect
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(MASKED)
            p.drawPolygon(QPolygon([QPoint(r.right() - 10, r.top()), QPoint(r.right() + 1, r.top()),
                                    QPoint(r.right() + 1, r.top() + 11)]))
            p.setBrush(Qt.BrushStyle.NoBrush)
