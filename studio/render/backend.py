"""Choosing torch or ONNX Runtime per model and batch size: time both once, remember the faster.

ONNX Runtime's CPU kernels beat eager torch on some nets and sizes and lose on others, so "auto" measures
instead of guessing. The ONNX twin of a torch model comes from a plugin offering `runtime_twin(g, folder)`
(the ONNX family), found through the registry: this module imports no family. A twin that cannot be made
(onnxruntime absent, an unexportable family, a provider that fails) leaves the model on torch, with the
reason in `notes`, never an error.
"""
from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from studio.atomic import write_atomic
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model.api import Generator, StageContext

BACKENDS = ("auto", "torch", "onnx")
MARGIN = 0.95  # ONNX Runtime must be 5% faster to be chosen: timing noise never flips a tie


@dataclass(frozen=True)
class Choice:
    backend: str  # "torch" or "onnx"
    torch_ms: float | None  # None when there is no ONNX twin (nothing was timed)
    onnx_ms: float | None
    reason: str = ""


def batch_context(g: Generator, batch: int) -> StageContext:
    """Stage inputs for `batch` samples: seeded latents, or (translators) the example input repeated."""
    if g.info.z_dim:  # through the family's own context, so StyleGAN-like models get their ws
        return g.context([Recipe(ModelRef(""), SeedLatent(i)) for i in range(batch)])
    ex = g.example_context()

    def rep(t):
        if isinstance(t, Tensor) and t.ndim and len(t) == 1:
            return t.repeat(batch, *([1] * (t.ndim - 1)))
        return t

    return replace(ex, z=rep(ex.z), ws=rep(ex.ws), c=rep(ex.c),
                   extras={k: rep(v) for k, v in ex.extras.items()})


def time_run(g: Generator, batch: int, repeats: int = 5) -> float:
    """Median ms of g.run on a batch, after one warm-up run (which also calibrates the CPU fast path's
    kernel choice)."""
    ctx = batch_context(g, batch)
    g.run(ctx)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        g.run(ctx)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def default_twin_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("latent-studio", appauthor=False)) / "onnx"


class BackendChooser:
    """Which runtime renders each (model hash, batch size); `generator_for` returns the one to use."""

    def __init__(self, folder: Path | None = None,
                 make_twin: Callable[[Generator, Path], Generator] | None = None, repeats: int = 5):
        self.folder = Path(folder) if folder is not None else default_twin_dir()
        self._make_twin = make_twin
        self.repeats = repeats
        self.notes: list[str] = []
        self._twins: dict[str, Generator | None] = {}
        self._lock = threading.Lock()
        self._choices: dict[str, Choice] = self._read()

    # -- the ONNX twin ----------------------------------------------------------------------------
    def twin(self, g: Generator) -> Generator | None:
        """g's ONNX Runtime twin (made once per model hash), or None with the reason in notes."""
        if getattr(g, "providers", None) is not None:  # already an ONNX model
            return None
        with self._lock:
            if g.model_id in self._twins:
                return self._twins[g.model_id]
        twin = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            make = self._make_twin or _registry_twin
            twin = make(g, self.folder / (g.model_id or "unnamed")[:32])
        except Exception as exc:  # no onnxruntime, an unexportable family, a failing provider
            self.notes.append(f"{g.info.name or g.info.family}: staying on torch ({_line(exc)})")
        with self._lock:
            self._twins[g.model_id] = twin
        return twin

    # -- choosing ---------------------------------------------------------------------------------
    def choose(self, g: Generator, batch: int) -> Choice:
        key = f"{g.model_id}:{batch}:t{torch.get_num_threads()}"  # timings hold for this thread count
        with self._lock:
            hit = self._choices.get(key)
        if hit is not None:
            return hit
        twin = self.twin(g)
        if twin is None:  # nothing to compare: no timing (translators have no latent to time with anyway)
            choice = Choice("torch", None, None, "no ONNX Runtime twin")
        else:
            torch_ms = time_run(g, batch, self.repeats)
            onnx_ms = time_run(twin, batch, self.repeats)
            fast = onnx_ms < MARGIN * torch_ms
            choice = Choice("onnx" if fast else "torch", torch_ms, onnx_ms,
                            f"torch {torch_ms:.2f} ms vs ONNX Runtime {onnx_ms:.2f} ms at batch {batch}")
        with self._lock:
            self._choices[key] = choice
        if twin is not None:
            self._write()
        return choice

    def generator_for(self, g: Generator, batch: int = 1, backend: str = "auto") -> Generator:
        """The generator to render `g` with: itself, or its ONNX Runtime twin."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if backend == "torch":
            return g
        if backend == "onnx":
            return self.twin(g) or g
        return (self.twin(g) or g) if self.choose(g, batch).backend == "onnx" else g

    # -- remembering ------------------------------------------------------------------------------
    @property
    def _store(self) -> Path:
        return self.folder / "choices.json"

    def _read(self) -> dict[str, Choice]:
        from studio.core import safe_json
        from studio.errors import StudioError

        try:  # a damaged cache of timings costs a re-timing, never a failure
            data = safe_json.load(self._store)
            return {str(k): Choice(**v) for k, v in data.items()}
        except (StudioError, ValueError, TypeError, AttributeError):
            return {}

    def _write(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._lock:
                timed = {k: asdict(v) for k, v in self._choices.items() if v.onnx_ms is not None}
            write_atomic(self._store, json.dumps(timed, indent=1))
        except OSError as exc:  # a read-only cache folder costs a re-timing next session, nothing more
            self.notes.append(f"cannot remember backend choices in {self._store}: {exc}")


def _registry_twin(g: Generator, folder: Path) -> Generator:
    from studio.model.registry import default_registry

    for p in default_registry().plugins:
        make = getattr(p, "runtime_twin", None)
        if make is not None:
            return make(g, folder)
    raise RuntimeError("no installed plugin runs models on ONNX Runtime (install the onnx extra)")


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def describe(g: Generator) -> str:
    """For a status bar: which runtime renders g, and on which provider."""
    providers: Sequence[str] | None = getattr(g, "providers", None)
    if providers:
        return f"ONNX Runtime ({providers[0].replace('ExecutionProvider', '')})"
    return f"torch ({g.device.type})"
