"""Per-slider style-input ranges (GANSpace's start/end layer per edit) for W walks.

GANSpace edits name their own layer range ("component 3 on layers 5-7"); one preset shared by all sliders
cannot express two edits on different layers. Each slider may therefore hold its own [start, stop) in the
workspace's panel setting SLIDER_LAYERS_KEY, as (label, start, stop) triples (hashable, JSON as lists);
a slider without one uses the shared preset (walk.layers), so projects saved before keep their meaning.
The walk in the recipe carries its layers, so renders and saved recipes never need this setting.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from studio.core.recipe import Recipe, Walk
from studio.errors import RecipeError

SLIDER_LAYERS_KEY = "walk.slider_layers"


def _triples(value: Any) -> list[tuple[str, int, int]]:
    out = []
    for t in value or ():
        if isinstance(t, (list, tuple)) and len(t) == 3 and isinstance(t[0], str) \
                and all(isinstance(v, int) and not isinstance(v, bool) for v in t[1:]):
            out.append((t[0], int(t[1]), int(t[2])))
    return out  # anything malformed (a hand-edited project) is ignored: those sliders use the preset


def slider_layers(value: Any, label: str) -> tuple[int, int] | None:
    """The slider's own range from the setting's value, or None (it follows the shared preset)."""
    return next(((s, e) for lab, s, e in _triples(value) if lab == label), None)


def with_slider_layers(value: Any, label: str, layers: tuple[int, int] | None) -> tuple[tuple[str, int, int], ...]:
    """The setting with the slider's range set (None: removed, back to the preset)."""
    kept = [t for t in _triples(value) if t[0] != label]
    if layers is not None:
        kept.append((label, int(layers[0]), int(layers[1])))
    return tuple(kept)


def check_range(layers: tuple[int, int], num_ws: int) -> None:
    start, stop = layers
    if not 0 <= start < stop <= num_ws:
        raise RecipeError(f"style inputs {start}-{stop - 1} are outside this model's {num_ws} inputs "
                          f"(0-{num_ws - 1})")


def relayered(recipe: Recipe, label: str, layers: tuple[int, int] | None) -> Recipe:
    """The recipe with the walk owned by `label` moved to `layers` (same amount; no walk: unchanged)."""
    edits = tuple(replace(e, layers=layers) if isinstance(e, Walk) and e.label == label and e.space == "w" else e
                  for e in recipe.edits)
    return replace(recipe, edits=edits)


STRIP_SEEDS = (101, 202, 303, 404, 505, 606)  # other samples the same edit is shown on (GANSpace's grid)


def on_other_seeds(recipe: Recipe, count: int = 5, seeds: tuple[int, ...] = STRIP_SEEDS) -> list[Recipe]:
    """The recipe's edits (walks, mixes, truncation, class) on `count` other seeds: does the edit generalise,
    or does it only work on this face? The current seed is skipped."""
    from studio.core.recipe import SeedLatent

    current = recipe.latent.seed if isinstance(recipe.latent, SeedLatent) else None
    return [replace(recipe, latent=SeedLatent(s)) for s in seeds if s != current][:count]
