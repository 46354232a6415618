"""Safe output: everything is written under a temporary name beside the target and renamed at the end.

A cancelled, failed or killed export therefore never leaves anything under the final name, and an
existing file or folder is replaced only when the caller says so (the CLI's --force) and only when it is
the studio's own earlier output (studio.export.ownership); an existing empty folder is a fine target for a
folder export. Temporary names carry the writer's process id, so leftovers of a killed export are
recognised and swept next time.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

from studio import atomic
from studio.atomic import PARTIAL, temp_path
from studio.errors import StudioError
from studio.export.ownership import NotOurs, check_replaceable, empty_folder

__all__ = ["PARTIAL", "ExportError", "check_target", "commit", "commit_folder", "discard", "replaceable",
           "sweep_stale", "temp_path"]


class ExportError(StudioError):
    """An export cannot start or finish: the target exists, its folder is missing, a write failed."""


def check_target(final: Path, force: bool, confirmed: bool = False) -> None:
    """Fail before any rendering when the target cannot be written.

    `confirmed`: the user said yes to replacing this very file in a save dialog, so a single file is
    theirs to replace, whoever wrote it; a folder still only when it holds only the studio's own output
    (the dialog asked about its name, not about the files inside)."""
    parent = final.parent if str(final.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {final}: folder {parent} does not exist")
    if final.exists() or final.is_symlink():
        if final.suffix == "" and empty_folder(final):
            return  # an empty folder made for the frames: filled without --force
        if not force:
            raise ExportError(f"{final} already exists (use --force to overwrite)")
        if confirmed and final.is_file() and not final.is_symlink():
            return
        replaceable(final)
    elif final.suffix == "" and not os.access(parent, os.W_OK):
        raise ExportError(f"cannot write in {parent}: permission denied")


def commit(tmp: Path, final: Path, force: bool) -> None:
    """Move a finished temporary file or folder to its final name (atomically for files, flushed first)."""
    if tmp.is_dir():
        _commit_dir(tmp, final, force)
        return
    try:
        atomic.commit(tmp, final, replace=force)  # never replaces a file that appeared meanwhile unless forced
    except FileExistsError:
        raise ExportError(f"{final} already exists (use --force to overwrite)") from None


def replaceable(final: Path, own: Callable[[Path], bool] | None = None) -> None:
    """ExportError listing what is in the way unless --force may replace `final` (the studio's own output;
    `own` vouches for a folder's files, by default those of an exported PNG sequence)."""
    try:
        check_replaceable(final, own)
    except NotOurs as exc:
        raise ExportError(str(exc)) from None


def commit_folder(tmp: Path, final: Path, force: bool, own: Callable[[Path], bool] | None = None) -> None:
    """Move a finished folder to `final`: into an empty folder there, or (`force`) over the studio's own
    earlier output, checked again now that the work is done (nothing put there meanwhile is deleted)."""
    if final.exists() or final.is_symlink():
        if empty_folder(final):
            try:
                os.rmdir(final)  # refuses, atomically, when something appeared in it
            except OSError:
                pass
    if final.exists() or final.is_symlink():
        if not force:
            raise ExportError(f"{final} already exists (use --force to overwrite)")
        if final.is_symlink() or not final.is_dir():
            raise ExportError(f"{final} exists and is not a folder; refusing to replace it")
        replaceable(final, own)
        atomic.commit_dir(tmp, final, replace=True)
        return
    try:
        atomic.commit_dir(tmp, final, replace=False)
    except (FileExistsError, OSError) as exc:
        if final.exists():
            raise ExportError(f"{final} already exists (use --force to overwrite)") from None
        raise exc


def _commit_dir(tmp: Path, final: Path, force: bool) -> None:
    commit_folder(tmp, final, force)


def discard(path: Path) -> None:
    """Remove a temporary file or folder, whatever state it is in."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def sweep_stale(final: Path) -> list[Path]:
    """Delete temporaries for `final` left by processes that no longer run (a killed export)."""
    parent = final.parent if str(final.parent) else Path(".")
    pattern = re.compile(rf"^\.{re.escape(final.stem)}\.(\d+){re.escape(PARTIAL)}{re.escape(final.suffix)}"
                         rf"(\.json)?$")
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = pattern.match(p.name)
        if m and not _alive(int(m.group(1))):
            discard(p)
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
