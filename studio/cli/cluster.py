"""`--ray auto|local|ADDRESS`, shared by the commands whose work shards over a Ray cluster (export, walk,
render --seeds, translate, project on a folder, directions fit/sample)."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from studio.cli.common import UsageError


def add_ray_option(p: Any, what: str = "frames") -> None:
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help=f"render the {what} on a Ray cluster (pip install 'latent-studio[ray]'): auto (this "
                        f"machine's cluster, else a local one), local, or a head node's HOST:PORT or "
                        f"ray://HOST:10001; the result is the same as without it")


def check_ray(ns: argparse.Namespace) -> None:
    """Fail before any work when --ray cannot be honoured (no extra; a local-only option with it)."""
    if getattr(ns, "ray", None) is None:
        return
    from studio.distributed.cluster import RAY_MISSING, check_address, ray_available

    if ns.ray not in ("auto", "local"):
        check_address(ns.ray)
    if not ray_available():
        raise UsageError(f"--ray: {RAY_MISSING}")
    if getattr(ns, "backend", "torch") != "torch":
        raise UsageError("--backend applies to rendering here; Ray workers render with torch (drop one of "
                         "them)")


@contextmanager
def cluster_frames(ns: argparse.Namespace, g: Any, path: Path) -> Iterator[Any]:
    """A RayFrames source for `g` (opened from `path`) while connected to --ray's cluster; None without
    --ray. The model goes by path on one machine, through the object store when the cluster spans several."""
    if getattr(ns, "ray", None) is None:
        yield None
        return
    from studio.distributed.frames import RayFrames

    with on_cluster(ns) as info:
        yield RayFrames(model_for(g, path, info), info)


@contextmanager
def on_cluster(ns: argparse.Namespace) -> Iterator[Any]:
    """Connected to --ray's cluster for the block (a note on stderr says which), disconnected after."""
    from studio.distributed.cluster import connected

    with connected(ns.ray) as info:
        print(f"note: rendering on {info.describe()}", file=sys.stderr)
        yield info


@contextmanager
def labelled_on_cluster(ns: argparse.Namespace, g: Any, path: Path) -> Iterator[Any]:
    """A labeller_scores_job stand-in that labels on --ray's cluster (None without --ray)."""
    if getattr(ns, "ray", None) is None:
        yield None
        return
    from studio.distributed.labels import cluster_scorer

    with cluster_frames(ns, g, path) as frames:
        yield cluster_scorer(frames)


def model_for(g: Any, path: Path, info: Any) -> Any:
    from studio.distributed.models import model_source

    return model_source(g, path, ship=info.other_machines)
