"""Frames rendered on Ray workers: chunks of recipes out, (N, H, W, 3) uint8 frames back, in order.

A chunk is a whole number of the export's batches and each worker renders it batch by batch with the same
Renderer.iter_batch a local export uses, so the frames (hence the encoded file) are identical to a local
export's in fp32. Recipes travel as Recipe objects through Ray's own transport, within the cluster the user
runs; the model travels as a ModelSource (studio.distributed.models).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from studio.core.recipe import Recipe
from studio.distributed.cluster import ClusterError, ClusterInfo, worker_name
from studio.distributed.models import ModelSource, loads, worker_model
from studio.distributed.ordered import in_order, remote
from studio.errors import StudioError

CHUNK_BYTES = 24 << 20   # frames one chunk returns at most (a 1024 px chunk: 8 frames)
MAX_CHUNK = 64           # frames per chunk at most (small frames: fewer round trips, still balanced)
IN_FLIGHT = 2            # chunks queued per worker: one rendering, one ready to start


@dataclass(frozen=True)
class ChunkResult:
    frames: np.ndarray      # (N, H, W, 3) uint8
    worker: str             # 'Ray worker IP pid N'
    pid: int
    loaded_s: float         # time spent opening the model for this chunk (0 when it was already loaded)
    render_s: float


@dataclass
class ChunkStats:
    """What the driver saw of each chunk: who rendered it, how long it took there, when it arrived."""

    worker: str
    pid: int
    frames: int
    loaded_s: float
    render_s: float
    arrived_s: float


def render_chunk(src: ModelSource, recipes: Sequence[Recipe], batch: int, precision: str) -> ChunkResult:
    """The task body: `recipes` rendered in batches of `batch` with the worker's copy of the model."""
    import os

    t0 = time.perf_counter()
    before = loads()
    g = worker_model(src)
    t1 = time.perf_counter()
    renderer = _renderer()
    out = []
    try:
        for i in range(0, len(recipes), batch):
            steps = renderer.iter_batch(g, recipes[i:i + batch], precision=precision)
            out.extend(f for f in steps if f is not None)
    except StudioError as exc:
        raise ClusterError(f"{worker_name()}: {exc}") from None
    return ChunkResult(np.concatenate(out), worker_name(), os.getpid(), t1 - t0 if loads() > before else 0.0,
                       time.perf_counter() - t1)


_renderers: list[Any] = []


def _renderer() -> Any:
    """One Renderer per worker process; no activation cache: export-sized work never repeats a frame."""
    if not _renderers:
        from studio.render.engine import Renderer

        _renderers.append(Renderer(cache_bytes=0))
    return _renderers[0]


def chunk_size(batch: int, resolution: int, scale: int = 1) -> int:
    """Frames per chunk: a whole number of batches (identical frames), small enough for the object store."""
    frame = max(1, resolution * resolution * 3)
    frames = max(1, min(MAX_CHUNK, CHUNK_BYTES // frame))
    return batch * max(1, frames // batch)


@dataclass
class RayFrames:
    """A frame source for studio.export.job.export_job (its `frames` argument) that renders on the cluster.

    Called with (generator, recipes, batch size, precision) it yields None while waiting and each chunk's
    frames in order; `stats` records every chunk for the bench and the tests."""

    source: ModelSource
    cluster: ClusterInfo
    chunk: int | None = None
    stats: list[ChunkStats] = field(default_factory=list)

    def __call__(self, g: Any, recipes: Sequence[Recipe], batch: int,
                 precision: str) -> Iterator[np.ndarray | None]:
        size = self.chunk or chunk_size(batch, g.info.resolution)
        size = batch * max(1, math.ceil(size / batch))
        starts = list(range(0, len(recipes), size))
        task = remote(render_chunk, 1.0 if self.cluster.gpus else 0.0)
        t0 = time.perf_counter()

        def submit(k: int) -> Any:
            return task.remote(self.source, list(recipes[starts[k]:starts[k] + size]), batch, precision)

        def what(k: int) -> str:
            return f"frames {starts[k]}-{min(starts[k] + size, len(recipes)) - 1}"

        for result in in_order(submit, len(starts), IN_FLIGHT * self.cluster.workers, what):
            if result is None:
                yield None
                continue
            self.stats.append(ChunkStats(result.worker, result.pid, len(result.frames), result.loaded_s,
                                         result.render_s, time.perf_counter() - t0))
            yield result.frames


def render_frames(frames: RayFrames, g: Any, recipes: Sequence[Recipe], batch: int,
                  precision: str) -> np.ndarray:
    """All frames at once (a contact sheet): the source run to the end."""
    out = [f for f in frames(g, recipes, batch, precision) if f is not None]
    return np.concatenate(out) if out else np.zeros((0, 0, 0, 3), np.uint8)
