"""Per-slider style-input ranges: the setting's triples, and a walk moved to a new range keeping its amount."""
from __future__ import annotations

import pytest

from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.walk_layers import check_range, relayered, slider_layers, with_slider_layers
from studio.errors import RecipeError


def test_ranges_are_kept_per_slider_and_removed_to_follow_the_preset():
    v = with_slider_layers(None, "pca:0", (2, 5))
    v = with_slider_layers(v, "pca:3", (0, 2))
    assert slider_layers(v, "pca:0") == (2, 5) and slider_layers(v, "pca:3") == (0, 2)
    assert slider_layers(v, "pca:1") is None
    v = with_slider_layers(v, "pca:0", None)
    assert slider_layers(v, "pca:0") is None and slider_layers(v, "pca:3") == (0, 2)
    hash(v)  # a panel setting: hashable, JSON-able as lists
    assert slider_layers([["pca:3", 0, 2]], "pca:3") == (0, 2)  # as read back from a project
    assert slider_layers([["pca:3", "a", 2], "junk"], "pca:3") is None  # a hand-edited file: ignored


def test_relayered_moves_only_that_w_walk():
    r = Recipe(ModelRef("m"), SeedLatent(1)).with_walk("pca:0", (1.0, 0.0), 2.0, "w").with_walk(
        "pca:1", (0.0, 1.0), -1.0, "w", (0, 2)).with_walk("z:0", (1.0, 0.0), 1.0, "z")
    out = relayered(r, "pca:0", (4, 6))
    assert [(e.label, e.amount, e.layers) for e in out.edits] == [("pca:0", 2.0, (4, 6)), ("pca:1", -1.0, (0, 2)),
                                                                   ("z:0", 1.0, None)]
    assert relayered(r, "none", (1, 2)) == r


def test_a_range_outside_the_model_is_refused():
    check_range((0, 10), 10)
    for bad in ((3, 3), (5, 11), (-1, 2)):
        with pytest.raises(RecipeError, match="outside this model's 10 inputs"):
            check_range(bad, 10)
