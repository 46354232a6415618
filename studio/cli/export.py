"""`latent-studio export`: render a saved project's timeline to a video, animation or PNG frames."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.cli.common import PROG, UsageError, existing_file, load_model
from studio.cli.walk import add_output_options, check_output, export_batch, run_export


def register(sub: Any) -> None:
    e = sub.add_parser("export", help="render a project's timeline to MP4, GIF, WebP or PNG frames",
                       description="Render the timeline saved in a project file (format by --out's "
                                   "extension; no extension: a folder of PNG frames).",
                       epilog="example: export morph.lsproj --out morph.mp4 --scale 4")
    e.add_argument("project", metavar="PROJECT", type=Path, help="project file saved by the studio")
    e.add_argument("--model", type=Path, help="checkpoint to use when the project's has moved")
    add_output_options(e, fps_default=None)
    e.set_defaults(func=cmd_export)


def cmd_export(ns: argparse.Namespace) -> int:
    from studio.core.project import load_project
    from studio.model.spaces import frame_recipes

    project = load_project(existing_file(ns.project, "project"))
    if ns.model is not None:
        project = project.relocated(existing_file(ns.model, "checkpoint").resolve())
    try:
        path = project.check_model(ns.project.parent)
    except Exception as exc:
        raise UsageError(f"{exc}; give it with --model") from None
    timeline = project.timeline
    if not timeline.keyframes:
        raise UsageError(f"{ns.project.name} has no keyframes on its timeline; add some in the studio first")
    if ns.ease:
        timeline = timeline.with_all_segments(easing=ns.ease)
    check_output(ns)
    g = load_model(path, ns.device, ns.backend, export_batch(ns))
    if project.model.sha256 and g.model_id and project.model.sha256 != g.model_id:
        print(f"{PROG}: warning: {path.name} has changed since the project was saved (sha256 differs); "
              f"exporting it anyway", file=sys.stderr)
    ref = replace(project.model, path=str(path))
    recipes = [replace(r, model=ref) for r in frame_recipes(g, timeline)]
    return run_export(g, recipes, ns, ns.fps or timeline.fps)
