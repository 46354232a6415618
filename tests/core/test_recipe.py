"""Recipes: JSON round trips, version and shape checks, walk editing semantics."""
from __future__ import annotations

import json

import pytest

from studio.core.recipe import SCHEMA_VERSION, ModelRef, Recipe, SeedLatent, VectorLatent, Walk
from studio.errors import RecipeError


def full_recipe() -> Recipe:
    """A recipe with every field away from its default, including a layer-restricted W walk."""
    return Recipe(
        model=ModelRef("/models/ffhq.pkl", "ab" * 32),
        latent=VectorLatent((0.5, -1.25, 3.0)),
        truncation=0.7,
        edits=(Walk("pca:0", (1.0, 0.0, 0.0), 2.5),
               Walk("pca:3", (0.0, 0.6, 0.8), -1.5, space="w", layers=(4, 8))),
        noise="random",
        condition=(0.0, 1.0),
        noise_seed=42,
    )


def test_json_round_trip_keeps_every_field():
    r = full_recipe()
    back = Recipe.from_json(r.to_json())
    assert back == r
    assert isinstance(back.edits[1].layers, tuple) and back.edits[1].layers == (4, 8)
    assert back.edits[1].space == "w"
    assert isinstance(back.latent, VectorLatent)
    # Compact JSON too, and the dict form is plain JSON types (lists, not tuples).
    assert Recipe.from_json(r.to_json(indent=None)) == r
    d = json.loads(r.to_json())
    assert d["schema"] == SCHEMA_VERSION
    assert d["latent"] == {"type": "vector", "values": [0.5, -1.25, 3.0]}
    assert d["edits"][1]["layers"] == [4, 8]
    assert d["noise_seed"] == 42 and back.noise_seed == 42


def test_seed_recipe_round_trip_and_defaults():
    r = Recipe(ModelRef("m.pth"), SeedLatent(42))
    back = Recipe.from_json(r.to_json())
    assert back == r and back.latent == SeedLatent(42)
    assert back.truncation == 1.0 and back.edits == () and back.noise == "const"


def test_newer_schema_is_refused_with_a_clear_message():
    d = full_recipe().to_dict()
    d["schema"] = SCHEMA_VERSION + 1
    with pytest.raises(RecipeError, match=r"schema 2 is newer .*update Latent Studio"):
        Recipe.from_dict(d)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"model": {"path": "m"}}', "no schema version"),
    ('{"schema": 1, "latent": {"type": "seed", "seed": 1}}', "malformed recipe"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"seed": 1}}', "malformed latent"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "dream", "seed": 1}}',
     "unknown latent type 'dream'"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "seed", "seed": 1},'
     ' "edits": [{"type": "teleport"}]}', "unknown edit type 'teleport'"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "seed", "seed": 1},'
     ' "edits": [{"type": "walk", "label": "x"}]}', "malformed recipe"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "seed", "seed": 1}, "truncation": "high"}',
     "malformed recipe"),
    ('{"schema": 1, "model": {"path": "m", "colour": "red"}, "latent": {"type": "seed", "seed": 1}}',
     "malformed recipe"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "seed", "seed": "abc"}}',
     "seed must be a non-negative integer"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "vector", "values": [1, "x"]}}',
     "list of numbers"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "seed", "seed": 1},'
     ' "edits": [{"type": "walk", "label": "x", "direction": "abc", "amount": 1}]}', "direction must be"),
    ('{"schema": 1, "model": {"path": "m"}, "latent": {"type": "seed", "seed": 1},'
     ' "edits": [{"type": "walk", "label": "x", "direction": [1, 2], "amount": "lots"}]}', "amount must be"),
])
def test_malformed_recipes_raise_recipe_error(text, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_json(text)


def test_with_walk_replaces_by_label_and_zero_removes():
    r = Recipe(ModelRef("m"), SeedLatent(1))
    r1 = r.with_walk("pca:0", (1.0, 0.0), 1.0).with_walk("pca:1", (0.0, 1.0), 2.0)
    r2 = r1.with_walk("pca:0", (1.0, 0.0), -3.0)
    assert [e.label for e in r2.edits] == ["pca:1", "pca:0"]  # replaced walk moves last: order of edits
    assert r2.walk_amount("pca:0") == -3.0 and r2.walk_amount("pca:1") == 2.0
    assert sum(isinstance(e, Walk) and e.label == "pca:0" for e in r2.edits) == 1
    r3 = r2.with_walk("pca:0", (1.0, 0.0), 0)
    assert [e.label for e in r3.edits] == ["pca:1"] and r3.walk_amount("pca:0") == 0.0
    assert r3.without_walks().edits == ()
    # Recipes are immutable values: the originals are untouched, equal edits give equal recipes.
    assert r.edits == () and len(r1.edits) == 2
    assert r.with_walk("a", (1.0,), 1.0) == r.with_walk("a", [1], 1)
    assert r.with_seed(7).latent == SeedLatent(7) and r.with_truncation(0.5).truncation == 0.5
