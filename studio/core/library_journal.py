"""Direction-library changes as workspace data, so undo and redo reach the library folder too.

The library is a folder of .lsdir files shared by every model and session, so it cannot be part of a
workspace. What a workspace can hold is what its history did to that folder: for each file it touched, the
file's content before the first change and the content it should have now (a SavedDirection as JSON, or
None for "no file"). An undo step then carries the deleted direction itself, and moving through the history
(undo, redo) brings the folder from one state's journal to the other's. A file is only changed when it
still holds what the journal expects, so a file someone else put under that name is never overwritten or
deleted (a restored direction then goes under a free name).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.direction_library import EXT, SavedDirection, load_direction, save_direction
from studio.core.workspace import Workspace
from studio.errors import StudioError

LIBRARY_KEY = "directions.library"  # panel setting: {file name: [content before, content now]}

Content = dict[str, Any] | None  # SavedDirection.to_dict(), or None for no file


def journal(ws: Workspace) -> dict[str, tuple[Content, Content]]:
    """The library files this workspace's history changed: name -> (before the first change, now)."""
    raw = ws.panel(LIBRARY_KEY) or {}
    return {str(k): (v[0], v[1]) for k, v in raw.items()}


def with_file(ws: Workspace, name: str, before: Content, after: Content) -> Workspace:
    """`ws` recording that library file `name` goes from `before` to `after` (the first `before` is kept)."""
    entries = journal(ws)
    first = entries[name][0] if name in entries else before
    if first == after:
        entries.pop(name, None)  # back where it started: nothing to undo for this file
    else:
        entries[name] = (first, after)
    return ws.with_panel(LIBRARY_KEY, {k: [b, a] for k, (b, a) in entries.items()})


def free_path(folder: Path, name: str) -> Path:
    """A file name made from `name` that no file in `folder` has yet (as DirectionLibrary.add picks)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "direction"
    path = folder / f"{base}{EXT}"
    n = 2
    while path.exists():
        path = folder / f"{base}-{n}{EXT}"
        n += 1
    return path


def holds(path: Path, content: Content) -> bool:
    """Whether the file at `path` holds `content` (None: there is no file)."""
    if not path.exists():
        return content is None
    if content is None:
        return False
    try:
        d = load_direction(path)
    except StudioError:
        return False
    v = np.asarray(content.get("vectors", ()), np.float32)
    return (d.name == content.get("name") and d.space == content.get("space") and d.vectors.shape == v.shape
            and bool(np.allclose(d.vectors, v, atol=1e-6)))


def apply(folder: Path, name: str, current: Content, target: Content) -> Path | None:
    """Bring library file `name` from `current` to `target`; the path written (None: removed or left).

    Raises OSError or StudioError when the folder cannot be written."""
    path = folder / name
    if holds(path, target):
        return path if target is not None else None
    if target is None:
        if holds(path, current):
            path.unlink()
        return None
    if path.exists() and not holds(path, current):
        path = free_path(folder, str(target.get("name", "direction")))  # another file took the name
    folder.mkdir(parents=True, exist_ok=True)
    return save_direction(SavedDirection.from_dict(target), path)


def reconcile(folder: Path, old: Workspace, new: Workspace) -> list[str]:
    """Bring the library folder from `old`'s journal to `new`'s (an undo or redo); messages for failures."""
    a, b = journal(old), journal(new)
    errors = []
    for name in sorted(set(a) | set(b)):
        current = a[name][1] if name in a else b[name][0]
        target = b[name][1] if name in b else a[name][0]
        if current == target:
            continue
        try:
            apply(folder, name, current, target)
        except (OSError, StudioError) as exc:
            errors.append(f"Could not change the direction library ({folder / name}): {exc}")
    return errors
