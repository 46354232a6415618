"""`latent-studio`: the GUI with no arguments, or the same engine headless (one module per command).

Errors the user can act on end as one line on stderr and exit status 2; nothing half-written is left
behind, and nothing existing is overwritten without --force. Qt is imported only to open the GUI.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn, Sequence

from studio.cli.common import PROG, UsageError, one_line, say
from studio.errors import StudioError

# command name -> module under studio.cli that registers it (imported only when the parser is built)
COMMANDS = {"info": "info", "render": "render", "plugins": "plugins", "train": "train",
            "walk": "walk", "export": "export", "convert": "convert", "mix": "mix",
            "translate": "translate", "doctor": "doctor", "plugin": "plugin_new",
            "project": "project", "latent": "project", "directions": "directions"}
EXIT_USER_ERROR = 2
EXIT_UNEXPECTED = 1


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (with a pointer to --help) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        if not args or (len(args) == 1 and not args[0].startswith("-") and args[0] not in COMMANDS):
            return _open_gui(args[0] if args else None)
        try:
            ns = build_parser().parse_args(args)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        return int(ns.func(ns) or 0)
    except BrokenPipeError:  # `latent-studio info x | head -3`: the reader left, nothing to report
        # (before OSError, which it is); stdout goes to devnull so the interpreter's final flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (StudioError, OSError) as exc:
        if debug:
            traceback.print_exc()
        say(one_line(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except SystemExit as exc:  # no command of ours exits this way: a plugin (or a library it called) did
        if debug:
            traceback.print_exc()
        say(f"stopped: plugin code raised SystemExit({exc.code!r}) (rerun with --debug to see where)")
        return EXIT_UNEXPECTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        say(f"unexpected {type(exc).__name__}: {one_line(exc)} (rerun with --debug to see the traceback)")
        return EXIT_UNEXPECTED


def build_parser() -> argparse.ArgumentParser:
    from studio import __version__

    p = _Parser(prog=PROG, description="Explore and edit GAN latent spaces. With no command (or just a "
                "checkpoint path) the desktop app opens.",
                epilog="Add --debug anywhere to see the full traceback of an error.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(f"studio.cli.{module}").register(sub)
    return p


def _open_gui(path: str | None) -> int:
    if path is not None and path.startswith("demo:"):
        from studio.cli.common import existing_file

        path = str(existing_file(path, "checkpoint"))
    if path is not None and not Path(path).expanduser().exists():
        raise UsageError(f"{path!r} is neither a command ({', '.join(COMMANDS)}) nor an existing file")
    from studio.doctor import qt_start_problem

    problem = qt_start_problem()  # checked first: Qt aborts the process when its platform cannot load
    if problem is not None:
        raise UsageError(f"the desktop app cannot start: {problem}. '{PROG} doctor' checks the rest")
    try:
        from studio.ui.app import run_app
    except ImportError as exc:
        raise UsageError(f"the desktop app cannot start: {exc}. '{PROG} doctor' says what is missing; the "
                         f"headless commands ({', '.join(COMMANDS)}) still work") from None
    return int(run_app(sys.argv, path) or 0)


def __getattr__(name: str):  # `from studio.cli import parse_seeds` keeps working for scripts and tests
    if name in ("parse_seeds", "parse_grid"):
        from studio.cli import render

        return getattr(render, name)
    raise AttributeError(name)
