"""Attribute labels as a recipe edit, and the toggle semantics of attribute-translation models (StarGAN).

The official StarGAN test builds each target label from the source labels: a hair colour is set and the
other hair colours cleared (they are one categorical attribute split over several labels); any other
attribute is flipped. Labels are continuous here: values between 0 and 1 blend, values outside [0, 1]
push past anything seen in training (exaggeration), which the UI marks as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar, Sequence

from studio.core.recipe import Recipe, register_edit_type
from studio.errors import RecipeError

HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")  # the official exclusive set
CELEBA_DEFAULT = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")  # official 5-label models
ON_THRESHOLD = 0.5  # a label at or above this counts as "on" when flipping


@register_edit_type
@dataclass(frozen=True)
class Attributes:
    """Target label values for an attribute-translation model, one per attribute in the model's order."""

    kind: ClassVar[str] = "attributes"
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.values, tuple) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in self.values):
            raise RecipeError("attribute values must be a list of finite numbers")


Groups = Sequence[Sequence[int]]


def exclusive_groups(names: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    """Indices of labels that exclude each other: the hair colours present, when there are two or more."""
    hair = tuple(i for i, n in enumerate(names) if n in HAIR_COLOURS)
    return (hair,) if len(hair) >= 2 else ()


def _group(index: int, groups: Groups) -> Sequence[int]:
    return next((g for g in groups if index in g), ())


def set_value(values: Sequence[float], index: int, value: float, groups: Groups = ()) -> tuple[float, ...]:
    """Set one label; a positive value in an exclusive group clears the rest of the group."""
    if not 0 <= index < len(values):
        raise IndexError(f"attribute {index} out of range (model has {len(values)})")
    out = [float(v) for v in values]
    out[index] = float(value)
    if value > 0:
        for j in _group(index, groups):
            if j != index:
                out[j] = 0.0
    return tuple(out)


def toggle(values: Sequence[float], index: int, groups: Groups = (),
           strength: float = 1.0) -> tuple[float, ...]:
    """A click on attribute `index`: select it within its exclusive group, or flip it (on means `strength`).

    Selecting an already selected group member keeps it selected (a radio button), as the official test
    never produces an all-clear hair colour.
    """
    if _group(index, groups):
        return set_value(values, index, strength, groups)
    on = values[index] >= ON_THRESHOLD
    return set_value(values, index, 0.0 if on else strength, groups)


def official_targets(source: Sequence[float], names: Sequence[str]) -> list[tuple[float, ...]]:
    """One target per attribute, as the official StarGAN test (create_labels) makes them from `source`."""
    groups = exclusive_groups(names)
    return [toggle(source, i, groups) for i in range(len(names))]


def is_exaggerated(value: float) -> bool:
    """Outside [0, 1]: beyond the labels the model was trained on."""
    return value < 0.0 or value > 1.0


def attribute_values(recipe: Recipe, n: int) -> tuple[float, ...]:
    """The recipe's target labels for an n-attribute model (all zero when it sets none)."""
    edit = next((e for e in recipe.edits if isinstance(e, Attributes)), None)
    if edit is None:
        return (0.0,) * n
    if len(edit.values) != n:
        raise RecipeError(f"the recipe sets {len(edit.values)} attribute values but this model has {n}")
    return tuple(float(v) for v in edit.values)


def with_attributes(recipe: Recipe, values: Sequence[float]) -> Recipe:
    """The recipe with its attribute labels replaced (one Attributes edit at most)."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, Attributes))
    return replace(recipe, edits=kept + (Attributes(tuple(float(v) for v in values)),))
