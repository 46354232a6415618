"""`latent-studio train FAMILY`: train a demo model on ToyFaces (resumable: rerun to continue)."""
from __future__ import annotations

import argparse
from typing import Any

from studio.cli.common import UsageError

TRAINERS = {"dcgan": "studio.train.dcgan", "stargan": "studio.train.stargan",
            "stylegan2": "studio.train.stylegan2"}


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train a demo model on ToyFaces (resumable)",
                       description="Train a demo model on ToyFaces. Progress is saved in --out-dir; "
                                   "running the same command again resumes.", add_help=True)
    p.add_argument("family", help=f"which model: {', '.join(TRAINERS)}")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the trainer's own options (see `train FAMILY --help`)")
    p.set_defaults(func=cmd_train)


def cmd_train(ns: argparse.Namespace) -> int:
    import importlib

    module = TRAINERS.get(ns.family)
    if module is None:
        raise UsageError(f"no trainer for {ns.family!r} (known: {', '.join(TRAINERS)})")
    return int(importlib.import_module(module).main(ns.rest) or 0)
