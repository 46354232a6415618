"""StyleGAN's recipe edits: style mixing (some style inputs from another latent), StyleGAN3's input
transform, the truncation cutoff and per-layer noise strength.

Core edit types (not the plugin's) so a recipe file using them parses before any plugin is loaded.
"""
from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from studio.core.recipe import Recipe, SeedLatent, VectorLatent, register_edit_type
from studio.errors import RecipeError


@register_edit_type
@dataclass(frozen=True)
class Mix:
    """Style inputs [start, stop) come from another latent (a seed, or inline z values), blended by `amount`
    (1: entirely the other latent's). `label` names the source slot that owns this edit, e.g. "mix:B"."""

    kind: ClassVar[str] = "mix"
    label: str
    layers: tuple[int, int]
    seed: int = -1
    values: tuple[float, ...] = ()
    amount: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple) or len(self.layers) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in self.layers):
            raise RecipeError(f"mix {self.label!r}: layers must be [start, stop]")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise RecipeError(f"mix {self.label!r}: seed must be an integer")
        if (self.seed >= 0) == bool(self.values):
            raise RecipeError(f"mix {self.label!r}: give either a seed or latent values")
        if not isinstance(self.amount, (int, float)) or isinstance(self.amount, bool):
            raise RecipeError(f"mix {self.label!r}: amount must be a number")
        VectorLatent(tuple(self.values))  # validates the values' types

    def latent(self) -> SeedLatent | VectorLatent:
        return SeedLatent(self.seed) if self.seed >= 0 else VectorLatent(tuple(self.values))


def with_mix(recipe: Recipe, label: str, layers: tuple[int, int], seed: int = -1,
             values: tuple[float, ...] = (), amount: float = 1.0) -> Recipe:
    """Set the mix owned by `label`; amount 0 removes it (like Recipe.with_walk)."""
    kept = tuple(e for e in recipe.edits if not (isinstance(e, Mix) and e.label == label))
    if amount == 0:
        return replace(recipe, edits=kept)
    mix = Mix(label, (int(layers[0]), int(layers[1])), int(seed), tuple(float(v) for v in values),
              float(amount))
    return replace(recipe, edits=kept + (mix,))


@register_edit_type
@dataclass(frozen=True)
class Transform:
    """StyleGAN3's input transform: shift the image by `translate` (fractions of its size) and rotate it by
    `angle` degrees, by moving the Fourier-feature input rather than resampling pixels. One per recipe."""

    kind: ClassVar[str] = "transform"
    translate: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.translate, tuple) or len(self.translate) != 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.translate):
            raise RecipeError("transform: translate must be [x, y]")
        if not isinstance(self.angle, (int, float)) or isinstance(self.angle, bool):
            raise RecipeError("transform: angle must be a number")


def with_transform(recipe: Recipe, translate: tuple[float, float] = (0.0, 0.0), angle: float = 0.0) -> Recipe:
    """Set the recipe's input transform; the identity removes it."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, Transform))
    if tuple(translate) == (0.0, 0.0) and angle == 0:
        return replace(recipe, edits=kept)
    t = Transform((float(translate[0]), float(translate[1])), float(angle))
    return replace(recipe, edits=kept + (t,))


@register_edit_type
@dataclass(frozen=True)
class TruncationCutoff:
    """Truncation psi pulls only the first `cutoff` style inputs toward the average w (the official code's
    truncation_cutoff): coarse structure stays typical while fine detail keeps its variety. One per recipe."""

    kind: ClassVar[str] = "truncation_cutoff"
    cutoff: int

    def __post_init__(self) -> None:
        if not isinstance(self.cutoff, int) or isinstance(self.cutoff, bool) or self.cutoff < 1:
            raise RecipeError(f"truncation cutoff must be a whole number of style inputs >= 1, "
                              f"not {self.cutoff!r}")


def truncation_cutoff(recipe: Recipe) -> int | None:
    """The recipe's cutoff, or None when psi applies to every style input."""
    return next((e.cutoff for e in recipe.edits if isinstance(e, TruncationCutoff)), None)


def with_truncation_cutoff(recipe: Recipe, cutoff: int | None) -> Recipe:
    """Set the recipe's truncation cutoff; None removes it (psi on every style input)."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, TruncationCutoff))
    return replace(recipe, edits=kept + ((TruncationCutoff(cutoff),) if cutoff is not None else ()))


@register_edit_type
@dataclass(frozen=True)
class NoiseStrength:
    """Per-layer multipliers of a StyleGAN2's trained noise strengths, one per noise input in the model's
    order (4x4 first): 0 silences a layer's noise, 2 doubles it. Acts with the recipe's noise mode (const or
    random); one per recipe."""

    kind: ClassVar[str] = "noise_strength"
    scales: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.scales, tuple) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                for v in self.scales):
            raise RecipeError("noise strength: scales must be a list of finite numbers >= 0")


def noise_strengths(recipe: Recipe) -> tuple[float, ...] | None:
    """The recipe's per-layer noise multipliers, or None (every layer as trained)."""
    return next((e.scales for e in recipe.edits if isinstance(e, NoiseStrength)), None)


def with_noise_strength(recipe: Recipe, scales: tuple[float, ...] | None) -> Recipe:
    """Set the per-layer noise multipliers; None, or all ones, removes the edit."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, NoiseStrength))
    if scales is None or all(v == 1 for v in scales):
        return replace(recipe, edits=kept)
    return replace(recipe, edits=kept + (NoiseStrength(tuple(float(v) for v in scales)),))


@register_edit_type
@dataclass(frozen=True)
class NoiseMaps:
    """A StyleGAN2's per-pixel noise inputs as data (what a projection with noise optimisation found): one
    map per noise layer in the model's order (4x4 first), each base64 of little-endian float32 r x r values.
    They replace the stored constant noise when the recipe's noise is "const"; one per recipe."""

    kind: ClassVar[str] = "noise_maps"
    maps: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.maps, tuple) or not self.maps or not all(isinstance(m, str) for m in self.maps):
            raise RecipeError("noise maps: maps must be a non-empty list of base64 texts")

    def arrays(self) -> list[np.ndarray]:
        """The maps as square float32 arrays, or a RecipeError for text that is not one."""
        out = []
        for i, text in enumerate(self.maps):
            try:
                a = np.frombuffer(base64.b64decode(text, validate=True), "<f4")
            except (binascii.Error, ValueError):
                raise RecipeError(f"noise map {i} is not base64 float32 data") from None
            side = int(round(math.sqrt(a.size)))
            if a.size == 0 or side * side != a.size or not bool(np.isfinite(a).all()):
                raise RecipeError(f"noise map {i} holds {a.size} values, not a square of finite numbers")
            out.append(a.reshape(side, side).astype(np.float32))
        return out

    @classmethod
    def of(cls, arrays: list[np.ndarray]) -> "NoiseMaps":
        return cls(tuple(base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode("ascii")
                         for a in arrays))


def noise_maps(recipe: Recipe) -> NoiseMaps | None:
    """The recipe's optimised noise maps, or None (the model's stored constant noise)."""
    return next((e for e in recipe.edits if isinstance(e, NoiseMaps)), None)


def with_noise_maps(recipe: Recipe, maps: NoiseMaps | None) -> Recipe:
    """Set (None: remove) the recipe's noise maps."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, NoiseMaps))
    return replace(recipe, edits=kept + ((maps,) if maps is not None else ()))
