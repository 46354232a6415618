"""Which number format a render computes in, and the guard that keeps a faster format from showing.

Interactive frames default to `auto`: bf16 where the device computes bf16 natively (CPUs with AVX-512 BF16
or AMX, CUDA GPUs that support it), fp32 elsewhere. Exports and the CLI
default to fp32, so a saved recipe re-renders the same pixels. The stage runner applies the format
(autocast around each stage), not the plugins, so every family and drop-in gains from it; cached
activations are keyed by it.

The guard: before `auto` first uses a reduced format for a model, it renders a few seeds both ways and
keeps fp32 for that model unless the images agree to QUALITY_FLOOR_DB PSNR (uint8 pixels) and the reduced
frame is faster. A drop-in whose arithmetic breaks in bf16 (a large dynamic range, an accumulation bf16
cannot hold) stays exact; a model too small to gain stays on fp32.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from studio.errors import StudioError
from studio.model.numerics import check_precision, native_bf16

if TYPE_CHECKING:
    from studio.model.api import Generator

QUALITY_FLOOR_DB = 40.0  # a reduced-precision frame must match its fp32 frame at least this well
GUARD_SEEDS = (0, 1, 2)
SPEEDUP_NEEDED = 0.9  # auto keeps fp32 unless the reduced format renders a frame in at most this fraction


@dataclass(frozen=True)
class Verdict:
    """What the guard measured for one model, device and format: quality and the time ratio to fp32."""

    psnr_db: float
    time_ratio: float  # reduced / fp32 for one frame (after a warm-up); inf when it could not run

    def chosen(self, floor_db: float) -> bool:
        return self.psnr_db >= floor_db and self.time_ratio <= SPEEDUP_NEEDED


class PrecisionChooser:
    """What `auto` (and explicit choices) mean for each model; the guard's verdict remembered per model.

    `auto` needs both: native bf16 on the device, and a measured verdict that bf16 is within the quality
    floor and faster (small models are dominated by per-op overhead, where casting costs more than it
    saves). Measured once per model, device and format, not inside every forward."""

    def __init__(self, floor_db: float = QUALITY_FLOOR_DB):
        self.floor_db = floor_db
        self.verdicts: dict[tuple[str, str, str], Verdict] = {}
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
        return "bf16" if self.verdict(g, "bf16").chosen(self.floor_db) else "fp32"

    def verdict(self, g: "Generator", precision: str) -> Verdict:
        key = (g.model_id or str(id(g)), str(g.device), precision)
        with self._lock:
            found = self.verdicts.get(key)
        if found is None:
            found = measure(g, precision)
            with self._lock:
                self.verdicts[key] = found
            name = g.info.name or g.info.family
            if found.psnr_db < self.floor_db:
                self.notes.append(f"{name}: {precision} differs from fp32 by {found.psnr_db:.1f} dB PSNR "
                                  f"(below {self.floor_db:g} dB): rendering in fp32")
            elif found.time_ratio > SPEEDUP_NEEDED:
                self.notes.append(f"{name}: {precision} is not faster here (x{found.time_ratio:.2f} of fp32): "
                                  f"rendering in fp32")
        return found


def _guard_context(g: "Generator", seed: int):
    from studio.core.recipe import ModelRef, Recipe, SeedLatent

    try:
        return g.recipe_context([Recipe(ModelRef(""), SeedLatent(seed))])
    except StudioError:  # a translator's recipes start from a photo: its example input
        return g.example_context()


def measure(g: "Generator", precision: str, seeds: tuple[int, ...] = GUARD_SEEDS) -> Verdict:
    """Render `seeds` one at a time in fp32 and in `precision`, alternating: the PSNR over all of them, and
    the ratio of the summed times of all seeds but the first (whose runs warm both paths up)."""
    from studio.render.engine import to_uint8

    exact, reduced, t_exact, t_reduced = [], [], 0.0, 0.0
    try:
        for i, seed in enumerate(seeds):
            t0 = time.perf_counter()
            exact.append(to_uint8(g.run(_guard_context(g, seed))))
            t1 = time.perf_counter()
            ctx = _guard_context(g, seed)
            ctx.precision = precision
            reduced.append(to_uint8(g.run(ctx)))
            if i or len(seeds) == 1:
                t_exact, t_reduced = t_exact + t1 - t0, t_reduced + time.perf_counter() - t1
    except Exception:  # a model that cannot even render both ways is kept on fp32
        return Verdict(-math.inf, math.inf)
    return Verdict(psnr(np.concatenate(exact), np.concatenate(reduced)), t_reduced / max(t_exact, 1e-9))


def guard_psnr(g: "Generator", precision: str, seeds: tuple[int, ...] = GUARD_SEEDS) -> float:
    """PSNR (dB, uint8 pixels) of `precision` renders of `seeds` against fp32 ones; inf when identical."""
    return measure(g, precision, seeds).psnr_db


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
