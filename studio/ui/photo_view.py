"""The photo translator's central view: the whole photo with its movable crop, beside the result with a
before/after wipe.

The crop is edited where it is seen (drag to move, wheel to scale), so the user never has to think in
fractions; an aligned (free) crop is drawn turned, keeps its angle as it is moved or scaled, and Ctrl+wheel
turns it; the wipe compares the model's input (the crop at model resolution) with its output in one
frame, which shows what a toggle changed better than two images apart.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider, QWidget

from studio.core.photo import Crop, DEFAULT_CROP, clamp_crop, crop_corners, is_free
from studio.ui import theme
from studio.ui.images import to_qimage

DISPLAY_SIDE = 1024  # the photo is shown downscaled to this; the crop is in fractions, so nothing is lost
WHEEL_STEP = 1.1     # crop scale per wheel notch
TURN_STEP = 1.0      # degrees the crop turns per Ctrl+wheel notch


def _fit(box: QRectF, w: int, h: int) -> QRectF:
    """The largest rectangle of aspect w:h centred in box."""
    s = min(box.width() / w, box.height() / h)
    return QRectF(box.x() + (box.width() - w * s) / 2, box.y() + (box.height() - h * s) / 2, w * s, h * s)


class PhotoPane(QWidget):
    """The whole photo with its square crop; `cropEdited(crop, dragging)` as the user moves or scales it."""

    cropEdited = Signal(object, bool)
    released = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._size = (1, 1)  # the photo's true size (the crop is relative to it)
        self.crop: Crop = DEFAULT_CROP
        self._drag: tuple[QPointF, Crop] | None = None

    def set_photo(self, rgb: np.ndarray | None, size: tuple[int, int] = (1, 1)) -> None:
        self._image = None if rgb is None else to_qimage(rgb)
        self._size = size
        self.update()

    def set_crop(self, crop: Crop) -> None:
        self.crop = tuple(float(v) for v in crop)  # type: ignore[assignment]
        self.update()

    def has_photo(self) -> bool:
        return self._image is not None

    def photo_rect(self) -> QRectF:
        return _fit(QRectF(self.rect()).adjusted(4, 4, -4, -4), *self._size)

    def crop_polygon(self) -> QPolygonF:
        """The crop square on screen (turned for an aligned crop)."""
        r = self.photo_rect()
        w, h = self._size
        return QPolygonF([QPointF(r.x() + x * r.width() / w, r.y() + y * r.height() / h)
                          for x, y in crop_corners(w, h, self.crop)])

    def crop_rect(self) -> QRectF:
        r = self.photo_rect()
        w, h = self._size
        cx, cy, size = clamp_crop(w, h, self.crop)[:3]
        side = size * min(w, h) * r.width() / w
        return QRectF(r.x() + cx * r.width() - side / 2, r.y() + cy * r.height() - side / 2, side, side)

    def paintEvent(self, event) -> None:  # noqa: ANN001
        p = QPainter(self)
        p.fillRect(self.rect(), theme.colour("canvas"))
        if self._image is None:
            p.setPen(theme.colour("muted"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "Open or drop a photo\n(JPEG, PNG or WebP)")
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        r = self.photo_rect()
        p.drawImage(r, self._image)
        square = self.crop_polygon()
        outside = QPainterPath()
        outside.addRect(r)
        inside = QPainterPath()
        inside.addPolygon(square)
        p.fillPath(outside.subtracted(inside), QColor(0, 0, 0, 120))  # dim what the model does not see
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor("#ffd400"), 2))
        p.drawPolygon(square)
        if is_free(self.crop):  # the top edge marked: which way is up for the model
            p.setPen(QPen(QColor("#ffd400"), 4))
            p.drawLine(square[0], square[1])

    # -- editing the crop ----------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._image is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag = (event.position(), self.crop)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            return
        start, crop = self._drag
        r = self.photo_rect()
        d = event.position() - start
        self._emit((crop[0] + d.x() / r.width(), crop[1] + d.y() / r.height(), *crop[2:]), True)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = None
            self.released.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._image is None:
            return
        notches = event.angleDelta().y() / 120
        cx, cy, size = self.crop[:3]
        angle = self.crop[3] if is_free(self.crop) else 0.0
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:  # turn: the crop becomes a free one
            self._emit((cx, cy, size, angle + TURN_STEP * notches), False)
        else:
            self._emit((cx, cy, size / WHEEL_STEP ** notches, *self.crop[3:]), False)
        event.accept()

    def _emit(self, crop: Crop, dragging: bool) -> None:
        crop = clamp_crop(*self._size, crop)
        if crop != self.crop:
            self.set_crop(crop)
            self.cropEdited.emit(crop, dragging)


def wipe(before: np.ndarray, after: np.ndarray, position: float) -> np.ndarray:
    """`before` left of the wipe (a fraction of the width), `after` right of it; same-sized H x W x 3."""
    out = after.copy()
    cut = int(round(min(1.0, max(0.0, position)) * after.shape[1]))
    out[:, :cut] = before[:, :cut]
    return out


class WipePane(QWidget):
    """The result, with the model's input revealed left of the wipe line."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.before: np.ndarray | None = None
        self.after: np.ndarray | None = None
        self.position = 0.0
        self.smooth = False

    def set_images(self, before: np.ndarray | None, after: np.ndarray | None) -> None:
        self.before, self.after = before, after
        self.update()

    def set_position(self, position: float) -> None:
        self.position = position
        self.update()

    def composite(self) -> np.ndarray | None:
        """What the pane shows, at model resolution (None before the first frame)."""
        if self.after is None:
            return None
        if self.before is None or self.before.shape != self.after.shape:
            return self.after
        return wipe(self.before, self.after, self.position)

    def paintEvent(self, event) -> None:  # noqa: ANN001
        p = QPainter(self)
        p.fillRect(self.rect(), theme.colour("canvas"))
        img = self.composite()
        if img is None:
            return
        h, w = img.shape[:2]
        r = _fit(QRectF(self.rect()).adjusted(4, 4, -4, -4), w, h)
        if self.smooth:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(r, to_qimage(img))
        if self.before is not None and 0.0 < self.position < 1.0:
            x = r.x() + round(self.position * w) * r.width() / w
            p.setPen(QPen(QColor("#ffd400"), 2))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))


class PhotoView(QWidget):
    """Photo and crop on the left; result with its before/after wipe slider on the right."""

    WIPE_STEPS = 1000

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.photo = PhotoPane()
        self.result = WipePane()
        self.photo_caption = QLabel("Photo: drag the square to move the crop, scroll to resize it, "
                                    "Ctrl+scroll to turn it")
        self.result_caption = QLabel("Result: input left of the line, translation right")
        for c in (self.photo_caption, self.result_caption):
            c.setObjectName("muted")
            c.setAlignment(Qt.AlignmentFlag.AlignCenter)
            c.setWordWrap(True)
        self.wipe_slider = QSlider(Qt.Orientation.Horizontal)
        self.wipe_slider.setRange(0, self.WIPE_STEPS)
        self.wipe_slider.setValue(0)
        self.wipe_slider.setToolTip("Before/after wipe: the input (before) shows left of the line, the result (after) right of it")
        self.wipe_slider.valueChanged.connect(lambda v: self.result.set_position(v / self.WIPE_STEPS))
        wipe_row = QHBoxLayout()
        wipe_label = QLabel("Before/after wipe")
        wipe_label.setToolTip(self.wipe_slider.toolTip())
        wipe_row.addWidget(wipe_label)
        wipe_row.addWidget(self.wipe_slider, 1)

        grid = QGridLayout(self)  # one grid, so the two images line up whatever the captions' heights
        grid.setContentsMargins(8, 8, 8, 8)
        grid.setHorizontalSpacing(12)
        grid.addWidget(self.photo, 0, 0)
        grid.addWidget(self.result, 0, 1)
        grid.addWidget(self.photo_caption, 1, 0)
        grid.addWidget(self.result_caption, 1, 1)
        grid.addLayout(wipe_row, 2, 1)
        grid.setRowStretch(0, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

    def set_wipe(self, position: float) -> None:
        self.wipe_slider.setValue(round(position * self.WIPE_STEPS))

    def set_smooth(self, smooth: bool) -> None:
        self.result.smooth = smooth
        self.result.update()
