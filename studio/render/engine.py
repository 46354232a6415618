"""Rendering recipes: a pure function of (generator, recipes), with cached stage activations.

Each stage's cache key chains the previous key with what that stage reads, so an edit that only a late
stage sees (its units, its style rows) re-runs only the stages from there on.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from studio.core.recipe import ModelRef, Recipe
from studio.errors import Cancelled, PluginError, StudioError, users_interrupt
from studio.model.api import Generator, StageContext, describe_failure
from studio.model.check import output_problem
from studio.model.units import stage_key as unit_stage_key
from studio.render.cache import ActivationCache

if TYPE_CHECKING:
    from studio.render.backend import BackendChooser


@dataclass
class Frame:
    """A rendered image, or the reason there is none. Errors travel as data so the worker keeps running."""

    recipe: Recipe
    image: np.ndarray | None = None  # H x W x 3 uint8
    error: str | None = None
    render_ms: float = 0.0
    stages_run: int = 0
    view: str = "main"
    request_id: int = 0
    extras: dict = field(default_factory=dict)
    preview: bool = False  # an early low-resolution image of a render still running; the full frame follows

    @property
    def ok(self) -> bool:
        return self.error is None and self.image is not None


def to_uint8(x: Tensor) -> np.ndarray:
    """NCHW in [-1, 1] to NHWC uint8 RGB, converted on the device so only bytes cross to the host."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] > 3:
        x = x[:, :3]
    y = ((x.float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class Renderer:
    """Runs a generator's stages for a batch of recipes, reusing cached activations."""

    def __init__(self, cache_bytes: int = 256 << 20, precision: str = "fp32"):
        """`precision` (studio.render.precision): what `render` and `run` compute in unless told otherwise;
        fp32 by default so scripted and CLI renders are exact, `auto` for the studio's interactive frames."""
        from studio.render.precision import PrecisionChooser

        self.cache = ActivationCache(cache_bytes)
        self.precision = precision
        self.precisions = PrecisionChooser()

    def precision_for(self, g: Generator, precision: str | None = None) -> str:
        """The format a render of `g` computes in when `precision` (default: this renderer's) is asked for."""
        return self.precisions.effective(g, precision or self.precision)

    def run(self, g: Generator, recipes: Sequence[Recipe], cancel: Callable[[], bool] | None = None,
            on_preview: Callable[[Tensor], None] | None = None,
            precision: str | None = None) -> tuple[Tensor, int]:
        """The output tensor (N, C, H, W) in [-1, 1] and how many stages actually ran."""
        ctx = g.recipe_context(recipes)
        ctx.precision = self.precision_for(g, precision)
        return self.run_context(g, ctx, cancel, on_preview=on_preview)

    def run_context(self, g: Generator, ctx: StageContext, cancel: Callable[[], bool] | None = None,
                    stop: int | None = None,
                    on_preview: Callable[[Tensor], None] | None = None) -> tuple[Tensor, int]:
        """Stages [0, stop) (all by default) from the cache where it can: their last output and how many ran.

        A stage marked `progressive` (StyleGAN's skip architecture) hands `on_preview` its `preview(out)`,
        the image so far, when it actually runs with stages still to go: a cached prefix needs no preview."""
        n = len(g.stages) if stop is None else stop
        if not ctx.cacheable:
            return g.run(ctx, cancel=cancel, stop=n), n
        keys = []
        runtime = b"|ort" if getattr(g, "providers", None) is not None else b""  # an ONNX twin shares the id
        h = hashlib.blake2b(g.model_id.encode() + str(g.device).encode() + runtime + ctx.precision.encode()
                            + ctx.key(), digest_size=16)
        for stage in g.stages:
            h.update(stage.name.encode())
            h.update(stage.inputs(ctx))
            h.update(unit_stage_key(ctx.units, stage.name))  # empty without unit edits at this stage
            keys.append(h.digest())
        start, x = 0, None
        for i in range(n - 1, -1, -1):
            hit = self.cache.get(keys[i])
            if hit is not None:
                start, x = i + 1, hit
                break
        ran = 0
        for i, x in g.steps(ctx, start, x, n, cancel):
            self.cache.put(keys[i], x)
            ran += 1
            if on_preview is not None and i < n - 1 and getattr(g.stages[i], "progressive", False):
                with torch.inference_mode():
                    on_preview(g.stages[i].preview(x))
        assert x is not None
        return x, ran

    def render(self, g: Generator, recipe: Recipe, cancel: Callable[[], bool] | None = None,
               view: str = "main", request_id: int = 0,
               on_preview: Callable[[Frame], None] | None = None, precision: str | None = None) -> Frame:
        """One frame; failures come back as Frame.error (Cancelled propagates to the worker).

        `on_preview` receives a preview Frame (low resolution, `extras["full_size"]` the final (H, W)) as
        soon as a progressive stage has run, before the full frame is finished."""
        t0 = time.perf_counter()

        def preview(rgb: Tensor) -> None:
            assert on_preview is not None
            size = (g.info.resolution, g.info.resolution)
            on_preview(Frame(recipe, to_uint8(rgb)[0], render_ms=(time.perf_counter() - t0) * 1e3, view=view,
                             request_id=request_id, extras={"full_size": size}, preview=True))

        try:
            used = self.precision_for(g, precision)
            out, ran = self.run(g, [recipe], cancel, on_preview=preview if on_preview is not None else None,
                                precision=used)
            check_image(g, out)
            image = to_uint8(out)[0]
        except Cancelled:
            raise
        except StudioError as exc:
            return Frame(recipe, error=str(exc), view=view, request_id=request_id)
        except BaseException as exc:  # a plugin's bug (SystemExit too) must not kill the worker
            if users_interrupt(exc):
                raise
            return Frame(recipe, error=f"rendering failed in plugin {g.who()!r}: {describe_failure(exc)}",
                         view=view, request_id=request_id)
        return Frame(recipe, image, render_ms=(time.perf_counter() - t0) * 1e3, stages_run=ran, view=view,
                     request_id=request_id, extras={"precision": used})

    def render_batch(self, g: Generator, recipes: Sequence[Recipe], batch_size: int = 16,
                     cancel: Callable[[], bool] | None = None, precision: str | None = None) -> np.ndarray:
        """Many frames as (N, H, W, 3) uint8, in batches (no activation caching: export-sized work)."""
        chunks = []
        for i in range(0, len(recipes), batch_size):
            chunks.extend(out for out in self.iter_batch(g, recipes[i:i + batch_size], cancel, precision)
                          if out is not None)
        return np.concatenate(chunks) if chunks else np.zeros((0, 0, 0, 3), np.uint8)

    def iter_batch(self, g: Generator, recipes: Sequence[Recipe], cancel: Callable[[], bool] | None = None,
                   precision: str | None = None) -> Iterator[np.ndarray | None]:
        """One batch a stage at a time: None after each stage but the last, then the (N, H, W, 3) frames.

        A background job (an export) yields the worker thread back at each None, so an interactive
        frame waits for at most one stage of a batch rather than the whole batch.
        """
        ctx = g.recipe_context(recipes)
        ctx.precision = self.precision_for(g, precision)
        x = None
        for i, x in g.steps(ctx, cancel=cancel):  # inference mode only inside a step, not while suspended
            if i < len(g.stages) - 1:
                yield None
        assert x is not None
        check_image(g, x)
        yield to_uint8(x)


def check_image(g: Generator, out: Tensor) -> None:
    """A PluginError naming the plugin and its last stage when `out` is not an image of `g` (NaN or Inf,
    wrong shape, dtype or channel count): refused, never clamped (see studio.model.check.output_problem)."""
    problem = output_problem(g, out, exact_size="translate" not in g.info.capabilities)
    if problem is not None:
        raise PluginError(g.who(), g.stage_name(len(g.stages) - 1), problem)


class ModelCache:
    """Loaded generators by path, so re-rendering recipes of one model loads it once.

    `backend` ("torch", "onnx" or "auto") picks the runtime through BackendChooser; a model that cannot run
    on ONNX Runtime (no onnxruntime, an unexportable family, a failing provider) stays on torch, and the
    reason is appended to `notes` for the caller to show, never raised."""

    def __init__(self, device: torch.device | None = None, open_fn: Callable[..., Generator] | None = None,
                 backend: str = "torch", chooser: "BackendChooser | None" = None):
        from studio.render.device import select_device

        self.set_backend(backend)
        self.device = device or select_device()
        self.notes: list[str] = []
        self._chooser = chooser
        self._open = open_fn
        self._models: dict[str, tuple[float, Generator]] = {}
        self._on_runtime: dict[tuple[str, float, str, int], Generator] = {}  # (path, mtime, backend, batch)
        self._lock = threading.Lock()

    @property
    def chooser(self) -> "BackendChooser":
        from studio.render.backend import BackendChooser

        if self._chooser is None:
            self._chooser = BackendChooser()
        return self._chooser

    def get(self, ref: ModelRef | str, batch: int = 1) -> Generator:
        """The model at `ref`, on the runtime chosen for batches of `batch` (1: interactive frames; an
        export asks with its batch size, since "auto" may pick ONNX Runtime for one and torch for the other)."""
        g = self.base(ref)
        if self.backend == "torch":
            return g
        key = (*_file_version(ref), _variant(ref), self.backend, batch)
        with self._lock:
            hit = self._on_runtime.get(key)
        if hit is None:  # chosen once per model, backend and batch size: notes are said once too
            hit = self._on_backend(g, batch)
            with self._lock:
                self._on_runtime[key] = hit
        return hit

    def base(self, ref: ModelRef | str) -> Generator:
        """The model at `ref` as its plugin loaded it (torch), loaded once per path and file version."""
        path = Path(ref.path if isinstance(ref, ModelRef) else ref).expanduser()
        key, mtime = _file_version(ref)
        key += _variant(ref)
        with self._lock:
            hit = self._models.get(key)
            if hit and hit[0] == mtime:
                return hit[1]
        if self._open is None:
            from studio.model.registry import default_registry

            g = default_registry().open(path, self.device)
        else:
            g = self._open(path, self.device)
        picks = ref.picks if isinstance(ref, ModelRef) else {}
        if picks and ref.sha256.startswith(g.model_id + "#"):  # the variant the recipe was made with
            g = g.choose(**picks)
        with self._lock:
            self._models[key] = (mtime, g)
        return g

    def set_backend(self, backend: str) -> None:
        """Switch runtime for later `get`s (loaded models stay loaded; twins and timings are kept)."""
        from studio.render.backend import BACKENDS

        if backend not in BACKENDS:
            raise StudioError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.backend = backend

    def _on_backend(self, g: Generator, batch: int) -> Generator:
        """g on the runtime chosen for `batch`; g itself when that fails."""
        chooser = self.chooser
        seen = len(chooser.notes)
        try:
            chosen = chooser.generator_for(g, batch, self.backend)
        except Exception as exc:  # timing or twin failures must never stop a model from opening
            chooser.notes.append(f"{g.info.name or g.info.family}: staying on torch "
                                 f"({(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]})")
            chosen = g
        self.notes.extend(chooser.notes[seen:])
        self.notes.extend(getattr(chosen, "notes", []) if chosen is not g else [])  # provider fallbacks
        return chosen


def _variant(ref: ModelRef | str) -> str:
    """The picks part of a ModelRef ("#activation=LeakyReLU(0.2)"), "" for a plain model: part of cache keys."""
    return "#" + ref.sha256.partition("#")[2] if isinstance(ref, ModelRef) and ref.picks else ""


def _file_version(ref: ModelRef | str) -> tuple[str, float]:
    """A checkpoint's resolved path and mtime: a rewritten file is a new model."""
    path = Path(ref.path if isinstance(ref, ModelRef) else ref).expanduser()
    if not path.exists():
        return str(path), -1.0
    return str(path.resolve()), path.stat().st_mtime
