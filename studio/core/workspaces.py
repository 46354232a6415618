"""One workspace (with its own undo history) per model worked on, and which one is active.

Switching models switches workspaces: the DCGAN's fitted slider, keyframes, bins and unit selection stay
with the DCGAN, the StyleGAN2 starts from its own (fresh or restored) workspace, and switching back brings
the DCGAN's back, undo history included. A model is recognised by its content hash, or by its path when
the hash is unknown, so a moved checkpoint keeps its work.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from studio.core.history import DEFAULT_MAX_BYTES, History
from studio.core.recipe import ModelRef
from studio.core.workspace import Workspace


def same_model(a: ModelRef, b: ModelRef) -> bool:
    if a.sha256 and b.sha256:
        return a.sha256 == b.sha256
    return _resolved(a.path) == _resolved(b.path)


def _resolved(path: str) -> str:
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError):
        return path


@dataclass(frozen=True)
class SavedWorkspace:
    """One model's workspace as a project stores it: its states oldest first and the present one."""

    states: tuple[Workspace, ...]
    index: int = 0
    texts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.states:
            raise ValueError("a saved workspace needs at least one state")
        object.__setattr__(self, "index", max(0, min(int(self.index), len(self.states) - 1)))

    @property
    def present(self) -> Workspace:
        return self.states[self.index]

    @property
    def model(self) -> ModelRef:
        return self.present.model

    def relocated(self, ref: ModelRef) -> "SavedWorkspace":
        old = self.model.path
        return SavedWorkspace(tuple(s.relocated(old, ref) for s in self.states), self.index, self.texts)


class Workspaces:
    """The session's workspaces; `revision` counts every change, so autosave writes only after one."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._histories: list[History] = []
        self._active: History | None = None
        self.revision = 0

    @property
    def history(self) -> History | None:
        return self._active

    @property
    def present(self) -> Workspace | None:
        return self._active.present if self._active is not None else None

    def find(self, ref: ModelRef) -> History | None:
        return next((h for h in self._histories if same_model(h.present.model, ref)), None)

    def activate(self, ref: ModelRef, fresh: Callable[[], Workspace]) -> Workspace:
        """Make `ref`'s workspace active, starting it with `fresh()` the first time; the model's recipes are
        pointed at `ref` (the file as opened now)."""
        h = self.find(ref)
        if h is None:
            h = History(fresh(), self.max_bytes)
            self._histories.append(h)
        elif h.present.model != ref:
            states, texts, index = h.states()
            old = h.present.model.path
            moved = History.restored([s.relocated(old, ref) for s in states], index, texts, self.max_bytes)
            self._histories[self._histories.index(h)] = moved
            h = moved
        self._active = h
        self.revision += 1
        return h.present

    # -- the active workspace ------------------------------------------------------------------------
    def push(self, state: Workspace, text: str, merge_key: str | None = None, gesture: int = 0) -> bool:
        assert self._active is not None, "no model is open"
        changed = self._active.push(state, text, merge_key, gesture)
        if changed:
            self.revision += 1
        return changed

    def set_derived(self, **changes: object) -> None:
        """Derived data (a PCA) for every state of the active workspace, without an undo step."""
        assert self._active is not None, "no model is open"
        self._active.set_derived(**changes)
        self.revision += 1

    def undo(self) -> Workspace | None:
        state = self._active.undo() if self._active is not None else None
        if state is not None:
            self.revision += 1
        return state

    def redo(self) -> Workspace | None:
        state = self._active.redo() if self._active is not None else None
        if state is not None:
            self.revision += 1
        return state

    # -- as data -------------------------------------------------------------------------------------
    def saved(self) -> tuple[tuple[SavedWorkspace, ...], int]:
        """Every workspace as it would be saved, and the active one's position (-1: none active).

        Cheap (references to immutable states), so autosave takes it on the GUI thread and serialises off it."""
        out = []
        for h in self._histories:
            states, texts, index = h.states()
            out.append(SavedWorkspace(tuple(states), index, tuple(texts)))
        active = self._histories.index(self._active) if self._active is not None else -1
        return tuple(out), active

    def load(self, workspaces: tuple[SavedWorkspace, ...]) -> None:
        """Replace every workspace with saved ones (a project opening); none is active until a model opens."""
        self._histories = [History.restored(list(w.states), w.index, list(w.texts), self.max_bytes)
                           for w in workspaces]
        self._active = None
        self.revision += 1
