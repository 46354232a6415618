"""Atomic file writes: the one way the studio writes a file that must never be seen half-written.

Content goes to a hidden temporary beside the target (same folder, so the rename cannot cross file
systems), is flushed to disk, then renamed over the target in one step; on any failure the temporary is
removed and the target is untouched. Stdlib only and Qt-free, so every layer (core included) can use it.
Temporary names carry the writer's process id (`.NAME.PID.partial.EXT`), so leftovers of a killed writer
are recognisable, and keep the extension, so writers that pick a format by suffix (encoders) still work.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

PARTIAL = ".partial"


def temp_path(final: str | os.PathLike) -> Path:
    """`.NAME.PID.partial.EXT` beside `final`: hidden, unique to this process, same extension."""
    final = Path(final)
    return final.with_name(f".{final.stem}.{os.getpid()}{PARTIAL}{final.suffix}")


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a written file (or every file directly in a folder) to disk: a rename of unflushed data can
    leave an empty file after a power cut."""
    path = Path(path)
    for f in (sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit(tmp: str | os.PathLike, final: str | os.PathLike, replace: bool = True) -> None:
    """Flush `tmp` and move it to `final` in one step. With `replace` False an existing `final` is never
    overwritten (FileExistsError), even one that appeared while `tmp` was being written."""
    tmp, final = Path(tmp), Path(final)
    fsync_path(tmp)
    if replace:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # fails when `final` exists: the check and the move are one step
    except FileExistsError:  # an OSError too: not the fallback below
        raise
    except OSError:  # a file system without hard links
        if final.exists():
            raise FileExistsError(f"{final} already exists") from None
        os.replace(tmp, final)
        return
    tmp.unlink()


def write_atomic(path: str | os.PathLike, content: str | bytes | Callable[[Path], None], *,
                 replace: bool = True, encoding: str = "utf-8") -> Path:
    """Write `content` to `path` atomically and return the path.

    `content` is text (written with `encoding`), bytes, or a callback given the temporary path to write
    itself (for writers that need a file name: torch.save, safetensors, image encoders). The temporary is
    removed whatever happens; `replace` as for `commit`."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        if callable(content):
            content(tmp)
        elif isinstance(content, str):
            with open(tmp, "w", encoding=encoding) as f:
                f.write(content)
        else:
            with open(tmp, "wb") as f:
                f.write(content)
        commit(tmp, path, replace)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def commit_dir(tmp: str | os.PathLike, final: str | os.PathLike, replace: bool = True) -> None:
    """Flush a finished folder and move it to `final`. A folder cannot be renamed over another, so an
    existing `final` (only with `replace`, else FileExistsError) is renamed aside first, put back if the
    move fails, and deleted after it."""
    tmp, final = Path(tmp), Path(final)
    fsync_path(tmp)
    if not final.exists():
        os.rename(tmp, final)
        return
    if not replace:
        raise FileExistsError(f"{final} already exists")
    old = final.with_name(f".{final.name}.{os.getpid()}.old")
    os.rename(final, old)
    try:
        os.rename(tmp, final)
    except OSError:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """A fresh temporary folder beside `final` that becomes `final` only when the body succeeds: a failed
    or killed writer leaves nothing under the final name, and the temporary is removed either way."""
    tmp = temp_path(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        commit_dir(tmp, final, replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
