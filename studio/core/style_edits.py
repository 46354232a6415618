"""Style mixing as a recipe edit: take some style inputs from another latent.

Core edit types (not the plugin's) so a recipe file using them parses before any plugin is loaded.
"""
from __future__ import annotations

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
