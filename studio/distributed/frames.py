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
from studio.distributed.stop import Stop
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


def render_chunk(src: ModelSource, recipes: Sequence[Recipe], batch: int, precision: str,
                 stop: Stop) -> ChunkResult | None:
    """The task body: `recipes` rendered in batches of `batch` with the worker's copy of the model (None when
    the job was cancelled before it finished)."""
    import os

    t0 = time.perf_counter()
    before = loads()
    g = worker_model(src)
    t1 = time.perf_counter()
    renderer = _renderer()
    out = []
    try:
        for i in range(0, len(recipes), batch):
            if i:
                stop.check()
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

        def submit(k: int, stop: Stop) -> Any:
            return task.remote(self.source, list(recipes[starts[k]:starts[k] + size]), batch, precision, stop)

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


EACH_CHUNK = 8  # photos per task when each item renders on its own (translate)


def render_each(src: ModelSource, recipes: Sequence[Recipe], photos: Sequence[bytes | None],
                stop: Stop) -> list[tuple[np.ndarray | None, str | None]] | None:
    """The task body for items rendered one by one with their own failures (photos to translate): (image,
    None) or (None, why) per recipe. `photos[i]`, when given, is recipe i's photo file, for a node that
    does not share the driver's disk (it is kept there by content hash, like a model). None: cancelled."""
    g = worker_model(src)
    renderer = _renderer()
    out: list[tuple[np.ndarray | None, str | None]] = []
    for k, (recipe, data) in enumerate(zip(recipes, photos)):
        if k:
            stop.check()
        try:
            if data is not None:
                recipe = _with_local_photo(recipe, data)
            frame = renderer.render(g, recipe)
        except StudioError as exc:
            out.append((None, str(exc)))
            continue
        out.append((frame.image, None) if frame.ok else (None, frame.error))
    return out


def _with_local_photo(recipe: Recipe, data: bytes) -> Recipe:
    import hashlib
    import os
    from dataclasses import replace
    from pathlib import Path

    from studio.distributed.models import cache_dir

    latent = recipe.latent
    name = Path(getattr(latent, "path", "photo")).name
    if Path(latent.path).is_file():
        return recipe
    where = cache_dir() / "photos" / hashlib.sha256(data).hexdigest() / name
    if not where.is_file():
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = where.with_name(f".{name}.{os.getpid()}.partial")
        tmp.write_bytes(data)
        os.replace(tmp, where)
    return replace(recipe, latent=replace(latent, path=str(where)))


def each_on_cluster(frames: RayFrames, recipes: Sequence[Recipe],
                    ship_photos: bool = False) -> Iterator[tuple[np.ndarray | None, str | None] | None]:
    """render_each over the cluster in chunks: each recipe's (image, error) in order, None while waiting.
    `ship_photos` sends each recipe's photo file along (a cluster spanning machines)."""
    from pathlib import Path

    task = remote(render_each, 1.0 if frames.cluster.gpus else 0.0)
    starts = list(range(0, len(recipes), EACH_CHUNK))

    def submit(k: int, stop: Stop) -> Any:
        part = list(recipes[starts[k]:starts[k] + EACH_CHUNK])
        photos = [Path(r.latent.path).read_bytes() if ship_photos and hasattr(r.latent, "path") else None
                  for r in part]
        return task.remote(frames.source, part, photos, stop)

    def what(k: int) -> str:
        return f"items {starts[k]}-{min(starts[k] + EACH_CHUNK, len(recipes)) - 1}"

    for result in in_order(submit, len(starts), IN_FLIGHT * frames.cluster.workers, what):
        if result is None:
            yield None
            continue
        yield from result
