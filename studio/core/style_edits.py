"""StyleGAN's recipe edits: style mixing (some style inputs from another latent), StyleGAN3's input
transform, the truncation cutoff and per-layer noise strength.

Core edit types (not the plugin's) so a recipe file using them parses before any plugin is loaded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

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
