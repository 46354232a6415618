"""Class conditions in recipes: blends of class vectors and a per-layer class (BigGAN, as GANSpace offers).

A recipe's `condition` already holds the whole condition vector (a class one-hot, a blend of several,
InfoGAN's one-hot plus continuous codes), so a class index and a class interpolation need no new field: they
are values of that vector, and the timeline blends them linearly like any other number. A class for some
layers only is an edit, so the rest of the network keeps the recipe's class.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Mapping

from studio.core.recipe import Recipe, register_edit_type
from studio.errors import RecipeError


def class_blend(weights: Mapping[int, float], c_dim: int) -> tuple[float, ...]:
    """The class vector mixing classes by weight ({3: 0.5, 7: 0.5}); weights are used as given (a blend of
    one-hot vectors, the interpolation the BigGAN and cGAN embeddings are linear in)."""
    if not c_dim:
        raise RecipeError("this model is not class-conditional")
    out = [0.0] * c_dim
    for k, w in weights.items():
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < c_dim:
            raise RecipeError(f"class {k!r} is out of range: this model has {c_dim} classes (0-{c_dim - 1})")
        out[k] += float(w)
    return tuple(out)


def class_weights(condition: tuple[float, ...], start: int = 0, size: int | None = None) -> dict[int, float]:
    """The classes a condition (or its part [start, start+size)) draws with their weights, largest first."""
    part = condition[start:start + size] if size is not None else condition[start:]
    pairs = sorted(((i, w) for i, w in enumerate(part) if w), key=lambda p: -abs(p[1]))
    return dict(pairs)


@register_edit_type
@dataclass(frozen=True)
class LayerClass:
    """Layers [start, stop) of a model's class-reading layers (ModelInfo.class_layers) draw `condition`
    instead of the recipe's class: BigGAN's per-layer class (a dog's pose with a cat's fur). One per
    recipe."""

    kind: ClassVar[str] = "layer_class"
    layers: tuple[int, int]
    condition: tuple[float, ...]

    def __post_init__(self) -> None:
        ok = isinstance(self.layers, tuple) and len(self.layers) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in self.layers)
        if not ok or not 0 <= self.layers[0] < self.layers[1]:
            raise RecipeError("layer class: layers must be [start, stop) with start < stop")
        if not self.condition or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                         for v in self.condition):
            raise RecipeError("layer class: condition must be a list of numbers")


def layer_class(recipe: Recipe) -> LayerClass | None:
    return next((e for e in recipe.edits if isinstance(e, LayerClass)), None)


def with_layer_class(recipe: Recipe, layers: tuple[int, int] | None,
                     condition: tuple[float, ...] = ()) -> Recipe:
    """The recipe with its per-layer class set (None or an empty condition removes it)."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, LayerClass))
    if layers is None or not condition:
        return replace(recipe, edits=kept)
    edit = LayerClass((int(layers[0]), int(layers[1])), tuple(float(v) for v in condition))
    return replace(recipe, edits=kept + (edit,))
