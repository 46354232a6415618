"""A point in a style generator's W space as a recipe latent.

Z interpolation bends through the mapping network; interpolating in W (after it) gives the straighter,
more even morphs StyleGAN is known for, and a keyframe carrying per-layer edits (W walks on some layers,
style mixing) is a different w per style input, W+. A timeline frame between such keyframes is therefore
"this w", which no seed or z can express; families with a W space render it (plugins/stylegan/generator.py
WSpaceRecipes), skipping the mapping network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from studio.core.recipe import register_latent_type
from studio.errors import RecipeError


@register_latent_type
@dataclass(frozen=True)
class WLatent:
    """One w (w_dim values, shared by every style input) or a W+ point (num_ws * w_dim values, row-major).

    Truncation still pulls it toward w_avg; edits after it (W walks, mixes) apply as for a mapped z."""

    kind: ClassVar[str] = "w"
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.values, tuple) or not self.values or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in self.values):
            raise RecipeError("a w latent must be a non-empty list of finite numbers")

    @classmethod
    def of(cls, ws: np.ndarray) -> "WLatent":
        """From rows (num_ws, w_dim): stored as one w when every row is the same (plain W), else W+."""
        ws = np.asarray(ws, np.float32)
        flat = ws[0] if ws.ndim == 2 and bool((ws == ws[:1]).all()) else ws.reshape(-1)
        return cls(tuple(float(v) for v in flat))

    def rows(self, num_ws: int, w_dim: int) -> np.ndarray:
        """The w of every style input, (num_ws, w_dim) float32."""
        v = np.asarray(self.values, np.float32)
        if v.size == w_dim:
            return np.repeat(v[None], num_ws, axis=0)
        if v.size == num_ws * w_dim:
            return v.reshape(num_ws, w_dim)
        raise RecipeError(f"w latent has {v.size} values; this model's w has {w_dim} "
                          f"(or {num_ws * w_dim} for W+)")
