"""Helpers that drive widgets the way input devices do."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication


def drop_files(widget, paths: Iterable[Path]) -> tuple[bool, bool]:
    """Deliver a drag-enter and a drop of file URLs, as a file manager would; (enter accepted, drop accepted)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    # Qt declares the drag-enter position as an integer QPoint and the drop position as a QPointF.
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop.isAccepted()


def drag_slider(row, values: Iterable[float]) -> None:
    """What a mouse drag does to a slider: press, move through positions, release."""
    s = row.slider
    s.setSliderDown(True)
    for v in values:
        s.setSliderPosition(v)
    s.setSliderDown(False)


def grab_rgb(widget) -> np.ndarray:
    """What the widget shows, as H x W x 3 uint8."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()
