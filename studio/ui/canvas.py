"""The image view: a pyqtgraph ImageItem in a ViewBox, and the empty state shown before a model is open.

GAN outputs are small (32 to 1024 px), so the default view is the largest whole-number zoom that fits:
every image pixel becomes an exact square of screen pixels. Smooth mode turns on bilinear filtering.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.ui import theme

# Offscreen and many VMs have no OpenGL: stay on the raster path. Row-major matches H x W x 3 frames.
pg.setConfigOptions(useOpenGL=False, imageAxisOrder="row-major", antialias=False)


class ImageCanvas(pg.GraphicsView):
    """Shows one H x W x 3 uint8 image; wheel zooms, drag pans, `fit()` returns to integer zoom."""

    zoomChanged = Signal(float)  # screen pixels per image pixel
    imageChanged = Signal()      # a new frame (or none) is shown: overlays re-check its size

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background=theme.colour("canvas"))
        self.setAcceptDrops(False)  # let file drops reach the main window
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        self.setCentralItem(self.view)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)
        self._image: np.ndarray | None = None
        self._auto_fit = True
        self._smooth = False
        self.view.sigResized.connect(self._on_resized)
        self.view.sigRangeChangedManually.connect(self._on_manual_range)
        self.view.sigRangeChanged.connect(lambda *_: self.zoomChanged.emit(self.zoom()))

    # -- image -------------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray, full_size: tuple[int, int] | None = None) -> None:
        """Show a frame; a new size refits the view, the same size keeps the user's zoom and pan.

        `full_size` (a progressive preview's final (H, W)): the low-resolution image is upscaled smoothly to
        it first, so the preview sits exactly where the full frame will, at the user's zoom."""
        if full_size is not None and image.shape[:2] != tuple(full_size):
            from studio.export.writers import upscale

            image = upscale(image[None], max(1, int(full_size[0]) // image.shape[0]), smooth=True)[0]
        resized = self._image is None or self._image.shape != image.shape
        self._image = image
        self.item.setImage(image, autoLevels=False, levels=(0, 255))
        if resized or self._auto_fit:
            self.fit()
        self.imageChanged.emit()

    def clear(self) -> None:
        self._image = None
        self.item.clear()
        self.imageChanged.emit()

    def add_overlay(self, item: pg.GraphicsObject, z: float = 10.0) -> None:
        """Host a tool's item (a painted mask, a brush outline) above the image, in image pixel coordinates."""
        item.setZValue(z)
        self.view.addItem(item)

    def image(self) -> np.ndarray | None:
        """The array on screen (what tests compare with rendered frames)."""
        return self._image

    # -- view --------------------------------------------------------------------------------------
    def set_smooth(self, smooth: bool) -> None:
        """Bilinear (smooth) or nearest-neighbour (crisp pixels) upscaling."""
        self._smooth = smooth
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        self.viewport().update()

    def smooth(self) -> bool:
        return self._smooth

    def set_background(self, colour: QColor) -> None:
        self.setBackground(colour)

    def fit_scale(self) -> float:
        """The zoom `fit()` uses: the largest whole number that fits, or a fraction for huge images."""
        if self._image is None:
            return 1.0
        h, w = self._image.shape[:2]
        rect = self.view.boundingRect()
        vw, vh = max(rect.width(), 1.0), max(rect.height(), 1.0)
        s = min(vw / w, vh / h)
        return float(math.floor(s)) if s >= 1 else s

    def fit(self) -> None:
        """Centre the image at integer zoom; the view then follows window resizes until the user zooms."""
        self._auto_fit = True
        if self._image is None:
            return
        h, w = self._image.shape[:2]
        rect = self.view.boundingRect()
        s = self.fit_scale()
        # whole screen-pixel margins, so image pixel edges fall on screen pixel edges
        left, top = math.floor((rect.width() - w * s) / 2), math.floor((rect.height() - h * s) / 2)
        x0, y0 = -left / s, -top / s
        self.view.setRange(xRange=(x0, x0 + rect.width() / s), yRange=(y0, y0 + rect.height() / s), padding=0.0)
        (vx0, vx1), (vy0, vy1) = self.view.viewRange()
        if abs(rect.width() / max(vx1 - vx0, 1e-12) - s) > 1e-6:
            # the aspect lock re-derived one axis from a half-pixel view size: set that axis exactly again
            self.view.setXRange(x0, x0 + rect.width() / s, padding=0.0)

    def zoom(self) -> float:
        """Screen pixels per image pixel (from the range, which is exact with the aspect locked)."""
        (x0, x1), _ = self.view.viewRange()
        return self.view.boundingRect().width() / (x1 - x0) if x1 > x0 else 1.0

    def _on_resized(self) -> None:
        if self._auto_fit:
            self.fit()

    def _on_manual_range(self, *_: object) -> None:
        self._auto_fit = False


class EmptyState(QWidget):
    """What the canvas area shows with no model: how to get one."""

    openRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        card = QFrame(self)
        card.setObjectName("emptyCard")
        card.setFixedWidth(480)  # a fixed width lets the wrapped labels compute their height
        logo = QLabel(card)
        logo.setPixmap(theme.icon("app").pixmap(64, 64))
        logo.setFixedHeight(72)
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel("No model open", card)
        self.title.setObjectName("emptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel("Open a checkpoint (Ctrl+O) or drop one here", card)
        self.hint.setObjectName("emptyHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.open_button = QPushButton("Open checkpoint…", card)
        self.open_button.setObjectName("primary")
        theme.set_icon(self.open_button, "open")
        self.open_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.open_button.clicked.connect(self.openRequested)
        self.demo_hint = QLabel("…or pick a ready-made model from File ▸ Demo models.", card)
        self.demo_hint.setObjectName("emptyHint")
        self.demo_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.demo_hint.setWordWrap(True)
        self.demo_hint.hide()
        formats = QLabel("Reads DCGAN checkpoints (.pth, .safetensors) and any format a plugin adds.", card)
        formats.setObjectName("muted")
        formats.setAlignment(Qt.AlignmentFlag.AlignCenter)
        formats.setWordWrap(True)

        inner = QVBoxLayout(card)
        inner.setContentsMargins(36, 30, 36, 30)
        inner.setSpacing(12)
        inner.addWidget(logo)
        inner.addWidget(self.title)
        inner.addWidget(self.hint)
        inner.addSpacing(6)
        inner.addWidget(self.open_button, alignment=Qt.AlignmentFlag.AlignHCenter)
        inner.addWidget(self.demo_hint)
        inner.addSpacing(4)
        inner.addWidget(formats)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def set_demos_available(self, available: bool) -> None:
        self.demo_hint.setVisible(available)

    def text(self) -> str:
        """Everything the empty state says (for tests and accessibility)."""
        parts = [self.title.text(), self.hint.text()]
        if not self.demo_hint.isHidden():
            parts.append(self.demo_hint.text())
        return "\n".join(parts)
