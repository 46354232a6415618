"""Refusing what is not a regular file before anything opens it.

Opening a FIFO for reading blocks until a writer appears (forever, for a pipe someone named
`project.lsproj`), and a character device such as /dev/zero or /dev/urandom never ends. `os.stat` does not
open the file, so it cannot block; every loader calls `regular_file` first. Stdlib only and Qt-free, so
every layer (core included) can use it. (A file swapped for a FIFO between this check and the open is a
race that only someone who controls the folder can win; they could hang the app in simpler ways.)
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from studio.errors import StudioError

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def regular_file(path: str | os.PathLike, what: str = "file",
                 error: type[StudioError] = StudioError) -> Path:
    """`path` when it names a regular file (symbolic links followed); else `error` saying what it is.

    `what` names the expected content in the message ("checkpoint", "project", "recipe")."""
    p = Path(path).expanduser()
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise error(f"no such {what} file: {p}") from None
    except PermissionError:
        raise error(f"{p.name} cannot be read (permission denied)") from None
    except OSError as exc:  # a symlink loop, a name too long, a path through a file
        raise error(f"{p} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return p
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    if kind == "a folder":
        raise error(f"{p} is a folder, not a {what} file")
    raise error(f"{p} is {kind}, not a {what} file; Latent Studio opens only regular files")
