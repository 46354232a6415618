"""Helpers that drive widgets the way input devices do."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from studio.render.worker import JobHandle, SyncWorker


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


class SteppedWorker(SyncWorker):
    """Frames at once, jobs one step per `step()` with newest-wins keys, as the real worker runs them
    between frames: lets a test see what a job shows before it is done, and which of two jobs reports."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[list] = []   # [handle, job, on_done, on_error, on_progress]
        self.keyed: dict[str, JobHandle] = {}
        self.steps = 0

    def submit_job(self, job, on_done=None, on_error=None, on_progress=None, key=None) -> JobHandle:
        handle = JobHandle(next(self._ids))
        if key is not None:
            if key in self.keyed:
                self.keyed[key].cancel()
            self.keyed[key] = handle
        self.jobs.append([handle, job, on_done, on_error, on_progress])
        return handle

    def step(self) -> None:
        handle, job, on_done, on_error, on_progress = entry = self.jobs.pop(0)
        if handle.cancelled:
            job.close()
            if on_error:
                on_error("cancelled")
            return
        try:
            p = next(job)
        except StopIteration as stop:
            if on_done:
                on_done(stop.value)
            return
        self.steps += 1
        if on_progress:
            on_progress(p)
        self.jobs.append(entry)

    def run_all(self) -> None:
        while self.jobs:
            self.step()
