"""An export job rendered on a Ray cluster, in the job shape the studio's worker steps (studio.export.job).

Connecting (which may start a local cluster: seconds) runs on a helper thread while the job yields
'connecting' progress, so the worker keeps serving interactive frames; then the ordinary export job runs
with the cluster as its frame source, and the connection is closed however the job ends (finished,
cancelled, failed), so Cancel stops the cluster's tasks and leaves nothing under the final name.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Sequence

from studio.core.recipe import Recipe
from studio.distributed.cluster import ClusterInfo, connect, disconnect
from studio.distributed.frames import RayFrames
from studio.distributed.models import model_source
from studio.export.job import ExportJob, Progress, export_job
from studio.export.writers import ExportOptions

_WAIT_S = 0.02


def cluster_export_job(address: str, g: Any, model_path: Path, recipes: Sequence[Recipe], target: Path,
                       options: ExportOptions = ExportOptions(), **kw: Any) -> ExportJob:
    """export_job(g, recipes, target, options, **kw) with its frames rendered on the cluster at `address`
    (auto, local or HOST:PORT); the target is checked by export_job before any connection is made."""
    total = len(recipes)
    yield Progress(0, total, 0.0, "connecting")
    t0 = time.perf_counter()
    box: dict[str, Any] = {}

    def join() -> None:
        try:
            box["info"] = connect(address)
        except BaseException as exc:  # reported on the job's thread
            box["error"] = exc

    helper = threading.Thread(target=join, name="ray-connect", daemon=True)
    helper.start()
    try:
        while helper.is_alive():
            helper.join(_WAIT_S)
            yield Progress(0, total, time.perf_counter() - t0, "connecting")
    except GeneratorExit:  # cancelled while connecting: leave once the connection is made
        helper.join()
        if "info" in box:
            disconnect(box["info"])
        raise
    if "error" in box:
        raise box["error"]
    info: ClusterInfo = box["info"]
    try:
        frames = RayFrames(model_source(g, model_path, ship=info.other_machines), info)
        return (yield from export_job(g, recipes, target, options, frames=frames, **kw))
    finally:
        disconnect(info)
