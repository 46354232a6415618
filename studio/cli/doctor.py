"""`latent-studio doctor`: the one command to run when something is off (a window that will not open, a
missing runtime, a plugin that failed): each check with the fix, in one screen."""
from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check Python, torch, ONNX Runtime, Qt and its system libraries, "
                                      "plugins and folders, with the fix for each problem",
                       description="Check what the studio needs and say how to fix what is missing.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(ns: argparse.Namespace) -> int:
    """Status 1 when a check failed, so scripts can tell."""
    from studio.doctor import as_dicts, format_report, report

    checks = report()
    print(json.dumps(as_dicts(checks), indent=2) if ns.json else format_report(checks))
    return 0 if all(c.ok for c in checks) else 1
