"""Which number format a render computes in, and the guard that keeps a faster format from showing.

Interactive frames default to `auto`: bf16 with channels_last activations where the device computes bf16
natively (CPUs with AVX-512 BF16 or AMX, CUDA GPUs that support it), fp32 elsewhere. Exports and the CLI
default to fp32, so a saved recipe re-renders the same pixels. The stage runner applies the format
(autocast around each stage), not the plugins, so every family and drop-in gains from it; cached
activations are keyed by it.

The guard: before `auto` first uses a reduced format for a model, it renders a few seeds both ways and
keeps fp32 for that model unless the images agree to QUALITY_FLOOR_DB PSNR (uint8 pixels). A drop-in whose
arithmetic breaks in bf16 (a large dynamic range, an accumulation bf16 cannot hold) stays exact.
"""
from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

import numpy as np

from studio.errors import StudioError
from studio.model.numerics import check_precision, native_bf16

if TYPE_CHECKING:
    from studio.model.api import Generator

QUALITY_FLOOR_DB = 40.0  # a reduced-precision frame must match its fp32 frame at least this well
GUARD_SEEDS = (0, 1, 2)


class PrecisionChooser:
    """What `auto` (and explicit choices) mean for one model, with the guard's verdict remembered per model."""

    def __init__(self, floor_db: float = QUALITY_FLOOR_DB):
        self.floor_db = floor_db
        self.verdicts: dict[tuple[str, str, str], float] = {}  # (model id, device, format) -> PSNR
        self.notes: list[str] = []
        self._lock = threading.Lock()

    def effective(self, g: "Generator", requested: str) -> str:
        """The format a render of `g` computes in when `requested` was asked for."""
        if requested == "fp32" or getattr(g, "providers", None) is not None:  # ONNX Runtime runs its own
            return "fp32"
        check_precision(requested, g.device)
        if requested != "auto":
            return requested
        if not native_bf16(g.device.type):
            return "fp32"
        return "bf16" if self.passes(g, "bf16") else "fp32"

    def passes(self, g: "Generator", precision: str) -> bool:
        key = (g.model_id or str(id(g)), str(g.device), precision)
        with self._lock:
            db = self.verdicts.get(key)
        if db is None:
            db = guard_psnr(g, precision)
            with self._lock:
                self.verdicts[key] = db
            if db < self.floor_db:
                self.notes.append(f"{g.info.name or g.info.family}: {precision} differs from fp32 by "
                                  f"{db:.1f} dB PSNR (below {self.floor_db:g} dB): rendering in fp32")
        return db >= self.floor_db


def guard_psnr(g: "Generator", precision: str, seeds: tuple[int, ...] = GUARD_SEEDS) -> float:
    """PSNR (dB, uint8 pixels) of `precision` renders of `seeds` against fp32 ones; inf when identical."""
    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.render.engine import to_uint8

    def context():  # a fresh one each time: the reduced run marks its context
        try:
            return g.recipe_context([Recipe(ModelRef(""), SeedLatent(s)) for s in seeds])
        except StudioError:  # a translator's recipes start from a photo: its example input
            return g.example_context()

    try:
        exact = to_uint8(g.run(context())).astype(np.float64)
        ctx = context()
        ctx.precision = precision
        reduced = to_uint8(g.run(ctx)).astype(np.float64)
    except Exception:  # a model that cannot even render both ways is kept on fp32
        return -math.inf
    return psnr(exact, reduced)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
