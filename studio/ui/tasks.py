"""Long work where the user looks: running tasks (export, PCA, fitting, dissection) with progress, ETA and
Cancel in the status bar, and a finished export's file one click away.

`Tasks` is the list the session keeps (a job run with `Session.run_job(..., task="Exporting walk.mp4")` is
tracked here from start to end); `TaskArea` is its view in the status bar, always on screen whatever panel
is in front.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QProcess, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QToolButton,
                               QWidget)

ETA_AFTER_S = 1.0  # before this much time (or any progress) an ETA would be a guess: none is shown


def format_seconds(s: float) -> str:
    """`m:ss` for the time left."""
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"


class Task:
    """One tracked job: its title, how far it is, and how to stop it."""

    def __init__(self, title: str, cancel: Callable[[], None] | None, clock: Callable[[], float]):
        self.title = title
        self.fraction = 0.0
        self.detail = ""           # e.g. "120/1500 frames"
        self.eta_s: float | None = None
        self.cancelling = False
        self._cancel = cancel
        self._clock = clock
        self.started = clock()

    def report(self, p: Any) -> None:
        """Take a job's progress: a fraction in [0, 1], or an object with done / total (and eta_s)."""
        done, total = getattr(p, "done", None), getattr(p, "total", None)
        if isinstance(done, int) and isinstance(total, int):
            self.fraction = done / total if total else 1.0
            self.detail = "encoding" if getattr(p, "phase", "") == "finishing" else f"{done}/{total}"
            eta = getattr(p, "eta_s", None)
            self.eta_s = float(eta) if isinstance(eta, (int, float)) else self._estimate()
        elif isinstance(p, (int, float)):
            self.fraction = min(max(float(p), 0.0), 1.0)
            self.eta_s = self._estimate()

    def _estimate(self) -> float | None:
        elapsed = self._clock() - self.started
        if self.fraction <= 0 or elapsed < ETA_AFTER_S:
            return None
        return elapsed * (1 - self.fraction) / self.fraction

    @property
    def can_cancel(self) -> bool:
        return self._cancel is not None and not self.cancelling

    def cancel(self) -> None:
        if self.can_cancel:
            self.cancelling = True
            assert self._cancel is not None
            self._cancel()


class Tasks(QObject):
    """The tasks running now, newest last, and the last finished file worth revealing."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(parent)
        self.running: list[Task] = []
        self.finished_file: Path | None = None  # a finished export's file, offered until dismissed
        self.finished_text = ""
        self.clock = clock

    def start(self, title: str, cancel: Callable[[], None] | None = None) -> Task:
        task = Task(title, cancel, self.clock)
        self.running.append(task)
        self.changed.emit()
        return task

    def report(self, task: Task, p: Any) -> None:
        task.report(p)
        self.changed.emit()

    def end(self, task: Task) -> None:
        if task in self.running:
            self.running.remove(task)
            self.changed.emit()

    def offer_file(self, path: Path, text: str) -> None:
        """A job wrote `path`: the task area offers to show it in the file manager."""
        self.finished_file, self.finished_text = Path(path), text
        self.changed.emit()

    def dismiss_file(self) -> None:
        self.finished_file, self.finished_text = None, ""
        self.changed.emit()


def reveal_in_file_manager(path: Path) -> None:
    """Show `path` selected in the file manager (its folder opened where selecting is not possible)."""
    path = Path(path)
    if sys.platform == "darwin":
        QProcess.startDetached("open", ["-R", str(path)])
    elif sys.platform.startswith("win"):
        QProcess.startDetached("explorer", [f"/select,{path}"])
    else:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path if path.is_dir() else path.parent)))


class TaskArea(QWidget):
    """The status-bar view of `Tasks`: the newest task's title, a progress bar, the time left and Cancel
    (with "+N" when others run too); after an export, "Show file" until dismissed."""

    def __init__(self, tasks: Tasks, parent: QWidget | None = None,
                 reveal: Callable[[Path], None] = reveal_in_file_manager):
        super().__init__(parent)
        self.tasks = tasks
        self.reveal_fn = reveal
        self.title = QLabel("")
        self.title.setMaximumWidth(220)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(120, 12)
        self.eta = QLabel("")
        self.eta.setObjectName("muted")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop this task (nothing half-done is kept)")
        self.cancel.clicked.connect(self._cancel_shown)
        self.reveal = QPushButton("Show file")
        self.reveal.setToolTip("Show the exported file in the file manager")
        self.reveal.clicked.connect(self._reveal)
        self.dismiss = QToolButton()
        self.dismiss.setText("✕")
        self.dismiss.setAutoRaise(True)
        self.dismiss.setToolTip("Dismiss")
        self.dismiss.clicked.connect(tasks.dismiss_file)
        self.done_label = QLabel("")
        self.done_label.setMaximumWidth(260)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 6, 0)
        row.setSpacing(6)
        for w in (self.title, self.bar, self.eta, self.cancel, self.done_label, self.reveal, self.dismiss):
            row.addWidget(w, 0, Qt.AlignmentFlag.AlignVCenter)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        tasks.changed.connect(self.refresh)
        self.refresh()

    def shown_task(self) -> Task | None:
        return self.tasks.running[-1] if self.tasks.running else None

    def refresh(self) -> None:
        task = self.shown_task()
        for w in (self.title, self.bar, self.eta, self.cancel):
            w.setVisible(task is not None)
        if task is not None:
            more = len(self.tasks.running) - 1
            self.title.setText(f"{task.title}{f' (+{more})' if more else ''}")
            self.title.setToolTip("\n".join(t.title for t in self.tasks.running))
            self.bar.setValue(int(round(1000 * task.fraction)))
            parts = [task.detail] if task.detail else []
            if task.cancelling:
                parts = ["cancelling…"]
            elif task.eta_s is not None:
                parts.append(f"{format_seconds(task.eta_s)} left")
            self.eta.setText(" · ".join(parts))
            self.cancel.setEnabled(task.can_cancel)
        has_file = self.tasks.finished_file is not None
        for w in (self.done_label, self.reveal, self.dismiss):
            w.setVisible(has_file)
        self.done_label.setText(self.tasks.finished_text)
        self.setVisible(task is not None or has_file)

    def _cancel_shown(self) -> None:
        task = self.shown_task()
        if task is not None:
            task.cancel()
            self.refresh()

    def _reveal(self) -> None:
        if self.tasks.finished_file is not None:
            self.reveal_fn(self.tasks.finished_file)
