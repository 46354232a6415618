"""Attribute toggles with the official StarGAN semantics, continuous strengths, and the Attributes edit."""
from __future__ import annotations

import pytest

from studio.core.attributes import (CELEBA_DEFAULT, Attributes, attribute_values, exclusive_groups, is_exaggerated,
                                    official_targets, set_value, toggle, with_attributes)
from studio.core.photo import ImageLatent
from studio.core.recipe import ModelRef, Recipe, Walk
from studio.errors import RecipeError

NAMES = CELEBA_DEFAULT  # Black_Hair, Blond_Hair, Brown_Hair, Male, Young
HAIR = exclusive_groups(NAMES)


def test_hair_colours_form_the_only_exclusive_group():
    assert HAIR == ((0, 1, 2),)
    assert exclusive_groups(("Male", "Gray_Hair", "Smiling", "Black_Hair")) == ((1, 3),)
    assert exclusive_groups(("Blond_Hair", "Male")) == ()  # one hair colour alone is an ordinary flip


def test_hair_colour_is_selected_and_others_cleared():
    src = (1.0, 0.0, 0.0, 1.0, 0.0)  # black-haired old man
    assert toggle(src, 1, HAIR) == (0.0, 1.0, 0.0, 1.0, 0.0)
    assert toggle(src, 0, HAIR) == src  # selecting the selected colour keeps it (a radio button)
    assert toggle((0.0, 0.3, 0.6, 0, 0), 0, HAIR, strength=0.8) == (0.8, 0.0, 0.0, 0.0, 0.0)


def test_other_attributes_flip():
    src = (0.0, 1.0, 0.0, 1.0, 0.0)
    assert toggle(src, 3, HAIR) == (0.0, 1.0, 0.0, 0.0, 0.0)
    assert toggle(src, 4, HAIR) == (0.0, 1.0, 0.0, 1.0, 1.0)
    assert toggle(toggle(src, 4, HAIR), 4, HAIR) == src
    assert toggle(src, 4, HAIR, strength=1.5) == (0.0, 1.0, 0.0, 1.0, 1.5)  # on at the attribute's strength
    assert toggle((0, 0, 0, 0.7, 0), 3, HAIR)[3] == 0.0 and toggle((0, 0, 0, 0.3, 0), 3, HAIR)[3] == 1.0


def test_official_targets_match_the_create_labels_rule():
    src = (0.0, 0.0, 1.0, 0.0, 1.0)  # brown-haired young woman
    targets = official_targets(src, NAMES)
    assert targets == [(1.0, 0.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 0.0, 1.0),
                       (0.0, 0.0, 1.0, 1.0, 1.0), (0.0, 0.0, 1.0, 0.0, 0.0)]


def test_strengths_and_exaggeration():
    v = set_value((1.0, 0.0, 0.0, 0.0, 0.0), 2, 0.4, HAIR)
    assert v == (0.0, 0.0, 0.4, 0.0, 0.0)  # a positive hair colour still clears the others
    assert set_value(v, 0, 0.0, HAIR) == v  # zero clears nothing
    assert set_value(v, 3, -0.5, HAIR)[3] == -0.5
    assert [is_exaggerated(x) for x in (-0.01, 0.0, 0.5, 1.0, 1.01, 2.0)] == [True, False, False, False, True, True]
    with pytest.raises(IndexError):
        set_value(v, 5, 1.0)


def test_attributes_edit_in_recipes():
    r = Recipe(ModelRef("g.ckpt"), ImageLatent("face.jpg"), edits=(Walk("pca:0", (1.0,), 0.5),))
    assert attribute_values(r, 5) == (0.0,) * 5
    r2 = with_attributes(with_attributes(r, (1, 0, 0, 0, 1)), (0, 1, 0, 0, 1.5))
    assert [type(e) for e in r2.edits] == [Walk, Attributes]  # replaced, not stacked; other edits kept
    assert attribute_values(r2, 5) == (0.0, 1.0, 0.0, 0.0, 1.5)
    assert Recipe.from_json(r2.to_json()) == r2
    with pytest.raises(RecipeError, match="sets 5 attribute values but this model has 4"):
        attribute_values(r2, 4)
    for bad in ((1, "x"), (True,), (float("inf"),)):
        with pytest.raises(RecipeError):
            Attributes(bad)
    with pytest.raises(RecipeError):
        Recipe.from_json('{"schema": 1, "model": {"path": "g"}, "latent": {"type": "image", "path": "f.jpg"},'
                         ' "edits": [{"type": "attributes", "values": ["a"]}]}')
