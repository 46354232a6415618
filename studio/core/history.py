"""Undo and redo over whole workspaces, in plain Python, bounded by bytes.

A step is "the workspace before and after one user action". Steps sent with the same merge key within one
gesture (a slider drag) merge into one, and a gesture that ends where it started leaves no step. The
history is bounded by what it would cost on disk: each state is stored as the components that differ from
the state before, with long vectors kept once in a shared table (studio/core/vector_table.py), which is
exactly how a project file writes it, so the bound and the file agree. The oldest steps go first.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from studio.core.vector_table import VectorTable
from studio.core.workspace import Workspace, nbytes, workspace_to_dict

DEFAULT_MAX_BYTES = 4 << 20


@dataclass
class _Entry:
    state: Workspace
    text: str = ""
    merge_key: str | None = None
    gesture: int = -1
    size: int = 0                              # bytes of this state's delta from the one before
    hashes: list[str] = field(default_factory=list)  # vectors its delta refers to


class History:
    """The states a user can step through; `present` is the current workspace."""

    def __init__(self, initial: Workspace, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self.table = VectorTable()
        self._entries: list[_Entry] = []
        self._index = 0
        self._vector_bytes = 0
        self._append(_Entry(initial))

    # -- reading -------------------------------------------------------------------------------------
    @property
    def present(self) -> Workspace:
        return self._entries[self._index].state

    @property
    def index(self) -> int:
        """How many steps lie behind the present state."""
        return self._index

    @property
    def count(self) -> int:
        """How many steps the history holds (states minus one)."""
        return len(self._entries) - 1

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._entries) - 1

    def undo_text(self) -> str:
        return self._entries[self._index].text if self.can_undo() else ""

    def redo_text(self) -> str:
        return self._entries[self._index + 1].text if self.can_redo() else ""

    def states(self) -> tuple[list[Workspace], list[str], int]:
        """Every state oldest first, each step's text (the first state's is ""), and the present's index."""
        return [e.state for e in self._entries], [e.text for e in self._entries], self._index

    @property
    def nbytes(self) -> int:
        """What the history costs serialised: the deltas plus each distinct vector once."""
        return sum(e.size for e in self._entries) + self._vector_bytes

    # -- changing ------------------------------------------------------------------------------------
    def push(self, state: Workspace, text: str, merge_key: str | None = None, gesture: int = 0) -> bool:
        """Make `state` present as a new step (or merged into the last one); False when nothing changed."""
        if state == self.present and state.pca is self.present.pca:
            return False
        while len(self._entries) > self._index + 1:  # a new edit discards what could be redone
            self._drop(len(self._entries) - 1)
        last = self._entries[-1]
        if merge_key is not None and self._index > 0 and last.merge_key == merge_key and last.gesture == gesture:
            self._drop(len(self._entries) - 1)
            self._index -= 1
            if state == self.present and state.pca is self.present.pca:
                return True  # dragged back to where the gesture started: no step at all
        self._append(_Entry(state, text, merge_key, gesture))
        self._index = len(self._entries) - 1
        self._trim()
        return True

    def set_derived(self, **changes: object) -> None:
        """Store data derived from the model (a computed PCA) in every state, without a step: it belongs to
        the model, not to an edit, so undoing to a state from before it was computed keeps it."""
        for e in self._entries:
            e.state = replace(e.state, **changes)
        for i in range(len(self._entries)):
            self._resize(i)

    def undo(self) -> Workspace | None:
        if not self.can_undo():
            return None
        self._index -= 1
        return self.present

    def redo(self) -> Workspace | None:
        if not self.can_redo():
            return None
        self._index += 1
        return self.present

    @classmethod
    def restored(cls, states: Sequence[Workspace], index: int, texts: Sequence[str] = (),
                 max_bytes: int = DEFAULT_MAX_BYTES) -> "History":
        """A history stepping through saved states (a project or an autosave)."""
        h = cls(states[0], max_bytes)
        texts = list(texts) + ["Restored step"] * len(states)
        for i, s in enumerate(states[1:], start=1):
            h._append(_Entry(s, texts[i] or "Restored step", None, -1))
        h._index = max(0, min(int(index), len(h._entries) - 1))
        h._trim()
        return h

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _append(self, entry: _Entry) -> None:
        self._entries.append(entry)
        self._resize(len(self._entries) - 1)

    def _resize(self, i: int) -> None:
        """(Re)measure entry i against the entry before it."""
        e = self._entries[i]
        self._vector_bytes -= self.table.release(e.hashes)
        prev = self._entries[i - 1].state if i > 0 else None
        found: list[str] = []
        e.size = nbytes(workspace_to_dict(e.state, self.table, prev, found))
        e.hashes = found
        self._vector_bytes += self.table.hold(found)

    def _drop(self, i: int) -> None:
        e = self._entries.pop(i)
        self._vector_bytes -= self.table.release(e.hashes)
        if i < len(self._entries):
            self._resize(i)  # the next state is now measured against another one

    def _trim(self) -> None:
        """Forget the oldest steps while over the bound; the present state always stays."""
        while self.nbytes > self.max_bytes and self._index > 0:
            self._drop(0)
            self._index -= 1

