"""Recently opened checkpoints, kept in QSettings (injectable, so tests never touch the user's settings)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

KEY = "recent/files"
MAX_RECENT = 10


class RecentFiles(QObject):
    changed = Signal()

    def __init__(self, settings: QSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings

    def paths(self) -> list[Path]:
        raw = self.settings.value(KEY, [])
        if isinstance(raw, str):  # QSettings returns a lone string for a one-item list in ini files
            raw = [raw]
        return [Path(p) for p in (raw or []) if p]

    def add(self, path: str | Path) -> None:
        p = str(Path(path).expanduser().resolve())
        items = [p] + [str(q) for q in self.paths() if str(q) != p]
        self._store(items[:MAX_RECENT])

    def remove(self, path: str | Path) -> None:
        p = str(path)
        self._store([str(q) for q in self.paths() if str(q) != p])

    def clear(self) -> None:
        self._store([])

    def _store(self, items: list[str]) -> None:
        self.settings.setValue(KEY, items)
        self.settings.sync()
        self.changed.emit()
