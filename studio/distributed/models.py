"""The model a Ray worker renders with: named by the sha256 of its file, loaded once per worker process.

The driver sends a ModelSource: the checkpoint's path (enough where the workers share the driver's disk, a
single machine or a shared filesystem) and, for clusters that span machines, its bytes in the object
store. A worker keeps what it loaded by content hash, so every later chunk of the job (and of the next job
with the same file) reuses it; a file at the path whose hash differs is never used for it. The loader is
the studio's own registry (safe loaders only), exactly as a local export opens the file.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.distributed.cluster import ClusterError, worker_name
from studio.errors import StudioError, clipped

CACHE_ENV = "LATENT_STUDIO_RAY_CACHE"  # where workers keep models sent through the object store

_loaded: dict[str, Any] = {}   # (sha256 + picks) -> Generator, in each worker process
_loads = 0                     # how many times this process opened a model (the bench and tests read it)
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelSource:
    """How a worker finds the model: `path` on its disk, else the bytes in `blob` (an object ref)."""

    path: str
    sha256: str              # of the file's bytes: the cache key and the check of a copy
    model_id: str            # the driver's generator's id (picks included): a worker's must match
    name: str                # the file's name, for messages (and the sniffers, which read the extension)
    blob: Any = field(default=None, compare=False)

    @property
    def picks(self) -> dict[str, str]:
        from studio.core.recipe import ModelRef

        return ModelRef("", self.model_id).picks


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_source(g: Any, path: Path, ship: bool) -> ModelSource:
    """The source for generator `g` opened from `path`; `ship` puts the file's bytes in the object store
    (call with Ray initialised) for workers on other machines."""
    path = Path(path).expanduser().resolve()
    blob = None
    if ship:
        import ray

        blob = ray.put(path.read_bytes())
    return ModelSource(str(path), file_sha256(path), g.model_id, path.name, blob)


def worker_model(src: ModelSource) -> Any:
    """The generator for `src` in this worker process, loaded on first use (ClusterError naming this worker
    and the cause when it cannot be)."""
    global _loads
    key = src.model_id + "|" + src.sha256
    with _lock:
        hit = _loaded.get(key)
        if hit is not None:
            return hit
        path = _local_file(src)
        try:
            from studio.model.registry import default_registry
            from studio.render.device import select_device

            g = default_registry().open(path, select_device())
            if src.picks:
                g = g.choose(**src.picks)
        except StudioError as exc:
            raise ClusterError(f"{worker_name()} cannot load {src.name}: {exc}") from None
        except Exception as exc:  # a plugin's bug, a missing library on that node
            raise ClusterError(f"{worker_name()} cannot load {src.name}: {type(exc).__name__}: "
                               f"{clipped(str(exc), 300)}") from None
        if g.model_id != src.model_id:
            raise ClusterError(f"{worker_name()} cannot load {src.name}: it opens as model "
                               f"{g.model_id[:16]}, not {src.model_id[:16]} (another plugin or version on "
                               f"that node)")
        _loaded[key] = g
        _loads += 1
        return g


def loads() -> int:
    return _loads


def _local_file(src: ModelSource) -> Path:
    """The file with `src.sha256` on this node: at its path, in this node's cache, or written there now
    from the object store."""
    path = Path(src.path)
    if path.is_file() and file_sha256(path) == src.sha256:
        return path
    cached = cache_dir() / src.sha256 / src.name
    if cached.is_file() and file_sha256(cached) == src.sha256:
        return cached
    why = ("has other contents (it changed after the export started)" if path.is_file()
           else "is not on that node")
    if src.blob is None:
        raise ClusterError(f"{worker_name()} cannot load {src.name}: {src.path} {why}, and the model was not "
                           f"sent through the object store")
    import ray

    data = ray.get(src.blob)
    if hashlib.sha256(data).hexdigest() != src.sha256:
        raise ClusterError(f"{worker_name()} cannot load {src.name}: the copy from the object store is "
                           f"damaged (sha256 differs)")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, cached)  # another worker on the node may write the same bytes at the same time
    return cached


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "latent-studio-ray")
