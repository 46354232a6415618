"""`latent-studio plugin new CKPT --out my_gan.py`: write a drop-in plugin for a checkpoint, with its best
guess of the architecture and every guess marked (see studio.model.scaffold)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from studio.cli.common import UsageError, existing_file


def register(sub: Any) -> None:
    p = sub.add_parser("plugin", help="write a drop-in plugin for a checkpoint (plugin new CKPT --out FILE)",
                       description="Tools for plugin authors.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    new = actions.add_parser("new", help="inspect a checkpoint and write a drop-in plugin for it",
                             description="Inspect a checkpoint (keys, shapes, a pickled module tree; "
                             "nothing in it runs) and write a drop-in plugin with the best guess of its architecture. "
                             "Lines marked '# GUESS' are what the file does not record.")
    new.add_argument("checkpoint", metavar="CKPT", help="the checkpoint to describe")
    new.add_argument("--out", required=True, type=Path, help="the .py file to write")
    new.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    new.set_defaults(func=cmd_plugin_new)
    p.set_defaults(func=_no_action)


def _no_action(ns: argparse.Namespace) -> int:
    raise UsageError("say what to do: 'latent-studio plugin new CKPT --out FILE.py'")


def cmd_plugin_new(ns: argparse.Namespace) -> int:
    from studio.atomic import write_atomic
    from studio.model.registry import PLUGIN_PATH_ENV, Registry
    from studio.model.scaffold import plugin_name, scaffold

    path = existing_file(Path(ns.checkpoint), "checkpoint")
    out: Path = ns.out
    if out.suffix != ".py":
        raise UsageError(f"--out must name a .py file (a drop-in plugin), not {out.name}")
    if out.exists() and not ns.force:
        raise UsageError(f"{out} exists; add --force to overwrite it")
    text, spec = scaffold(path, out, Registry.discover(search_paths=[]).plugins)
    write_atomic(out, text)
    guessed = "; ".join(spec.guesses) or "nothing"
    if spec.complete:
        print(f"wrote {out}: {spec.what}, plugin {plugin_name(out)!r}; guessed (marked # GUESS): {guessed}")
        print(f"try it: {PLUGIN_PATH_ENV}={out.resolve().parent} latent-studio info {path}")
    else:
        print(f"wrote {out}: a SKELETON for {spec.what}; it does not load until you fill in the lines "
              f"marked # GUESS ({guessed})")
    return 0
