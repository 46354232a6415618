"""numpy frames to Qt images. Call only on the GUI thread (QPixmap needs it; QImage is kept there too)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def to_qimage(image: np.ndarray) -> QImage:
    """An RGB888 QImage that owns a copy of the H x W x 3 uint8 array's pixels."""
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {arr.shape}")
    h, w, _ = arr.shape
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def thumbnail(image: np.ndarray, size: int) -> QPixmap:
    """A square pixmap of `size` px: crisp (nearest) when upscaling small frames, smooth when shrinking."""
    img = to_qimage(image)
    mode = (Qt.TransformationMode.FastTransformation if img.width() <= size
            else Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(img.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode))


def placeholder(size: int) -> QPixmap:
    """A neutral square with an ellipsis: where a thumbnail will appear once it has rendered (never blank)."""
    from PySide6.QtGui import QPainter, QPen

    from studio.ui import theme

    pix = QPixmap(size, size)
    base = theme.colour("alt")
    pix.fill(base)
    p = QPainter(pix)
    p.setPen(QPen(theme.colour("muted"), 1, Qt.PenStyle.DashLine))
    p.drawRect(0, 0, size - 1, size - 1)
    p.setPen(theme.colour("muted"))
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, "…")
    p.end()
    return pix
