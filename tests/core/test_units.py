"""Unit edits: recipe data and validation, masks, and rendering that re-runs only the stages downstream."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import make_dcgan
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.units import UnitMask, drop, insert, scale, unit_edits, with_unit_edits
from studio.errors import RecipeError
from studio.model.api import ModelInfo
from studio.model.modules import module_generator
from studio.render.engine import Renderer


@pytest.fixture(scope="module")
def g():
    """A 32x32 DCGAN with stages 4x4, 8x8, 16x16 and the 32x32 image."""
    info = ModelInfo(family="dcgan", format="test", resolution=32, z_dim=16)
    return module_generator(make_dcgan(), info, model_id="tiny-units")


def recipe(seed: int = 3, edits=()) -> Recipe:
    return Recipe(ModelRef("tiny"), SeedLatent(seed), edits=tuple(edits))


def top_half() -> UnitMask:
    m = np.zeros((32, 32), bool)
    m[:16] = True
    return UnitMask.from_array(m)


def by_hand(g, r: Recipe, layer: int, fn) -> torch.Tensor:
    """The generator run stage by stage with `fn` applied to layer `layer`'s output: the reference."""
    ctx = g.context([r])
    x = None
    with torch.inference_mode():
        for i, stage in enumerate(g.stages):
            x = stage(x, ctx)
            if i == layer:
                x = fn(x.clone())
    return x


def test_recipe_json_round_trip_keeps_the_mask_as_rows():
    r = recipe(edits=[drop("3-5", [4, 1], top_half()), insert("6-8", [2], 1.5), scale("0-2", [0], 2.0)])
    d = json.loads(r.to_json())
    assert d["edits"][0] == {"type": "units", "layer": "3-5", "units": [4, 1], "op": "scale", "value": 0.0,
                             "mask": ["1" * 32] * 16 + ["0" * 32] * 16}
    back = Recipe.from_json(r.to_json())
    assert back == r and isinstance(back.edits[0].mask, UnitMask) and back.edits[1].mask is None
    assert unit_edits(back) == r.edits
    kept = with_unit_edits(back.with_walk("w", (1.0,) * 16, 0.5), [drop("3-5", [0])])
    assert unit_edits(kept) == (drop("3-5", [0]),) and kept.walk_amount("w") == 0.5


@pytest.mark.parametrize("fields, message", [
    ({"units": []}, "non-empty list of unit indices"),
    ({"units": [1, -2]}, "non-empty list of unit indices"),
    ({"units": [True]}, "non-empty list of unit indices"),
    ({"op": "add"}, "op must be one of scale, set"),
    ({"value": "0"}, "value must be a finite number"),
    ({"value": float("nan")}, "holds NaN, which is not a number JSON allows"),  # refused by the parser
    ({"layer": ""}, "layer must be a layer name"),
    ({"mask": "0101"}, "mask must be a list"),
    ({"mask": ["01", "0"]}, "equally long strings of 0 and 1"),
    ({"mask": ["02", "00"]}, "equally long strings of 0 and 1"),
    ({"mask": []}, "non-empty list"),
])
def test_bad_unit_edits_are_named(fields, message):
    d = {"type": "units", "layer": "3-5", "units": [1], "op": "scale", "value": 0.0, **fields}
    text = json.dumps({"schema": 1, "model": {"path": "m"}, "latent": {"type": "seed", "seed": 1},
                       "edits": [d]})
    with pytest.raises(RecipeError, match=message):
        Recipe.from_json(text)


def test_mask_resizes_with_area_interpolation():
    m = np.zeros((6, 6), bool)
    m[:, :3] = True  # the left half
    mask = UnitMask.from_array(m, grid=4)
    assert mask == ("1100",) * 4 and mask.shape == (4, 4)
    assert np.array_equal(mask.to_array(2, 2), [[1, 0], [1, 0]])
    assert np.allclose(mask.to_array(3, 3), [[1, 0.5, 0]] * 3)  # the middle column is half covered
    soft = UnitMask.from_array(np.eye(2, dtype=np.float32) * 0.7, grid=2)  # on where >= 0.5
    assert np.allclose(soft.to_array(2, 2), np.eye(2))
    with pytest.raises(RecipeError, match="2-D array"):
        UnitMask.from_array(np.zeros((2, 2, 2)))


def test_dropping_units_reruns_only_the_stages_after_the_layer(g):
    names = [s.name for s in g.stages]
    r = Renderer()
    base = recipe()
    full, ran = r.run(g, [base])
    assert ran == 4
    for k in (1, 2):
        edited = with_unit_edits(base, [drop(names[k], [0, 3])])
        out, ran = r.run(g, [edited])
        assert ran == len(names) - k  # stages before k came from the cache: their keys did not change
        want = by_hand(g, base, k, lambda x: x.index_fill_(1, torch.tensor([0, 3]), 0.0))
        assert torch.allclose(out, want, atol=1e-6) and not torch.allclose(out, full, atol=1e-3)
        other = with_unit_edits(base, [drop(names[k], [1])])
        assert r.run(g, [other])[1] == len(names) - k  # changing the dropped units: same stages again
        assert r.run(g, [edited])[1] == 0  # and back: all cached, edited output keyed by its edits
    assert torch.equal(r.run(g, [base])[0], full)


def test_ops_compose_in_order_and_set_inserts_a_value(g):
    layer = g.stages[1].name
    base = recipe()
    r = Renderer()
    same = r.run(g, [with_unit_edits(base, [scale(layer, [2], 0.5), scale(layer, [2], 2.0)])])[0]
    assert torch.allclose(same, r.run(g, [base])[0], atol=1e-6)
    out = r.run(g, [with_unit_edits(base, [scale(layer, [2, 5], 3.0), insert(layer, [5], 1.25)])])[0]

    def want_fn(x):
        x[:, 2] *= 3.0
        x[:, 5] = 1.25
        return x
    assert torch.allclose(out, by_hand(g, base, 1, want_fn), atol=1e-6)


def test_masked_edit_stays_inside_the_mask_and_its_receptive_field(g):
    layer = g.stages[1].name  # 8x8: the mask's top half is rows 0-3
    base = recipe()
    out = Renderer().run(g, [with_unit_edits(base, [insert(layer, range(16), 2.0, top_half())])])[0]
    ref = g.run(g.context([base]))

    def want_fn(x):
        x[:, :, :4] = 2.0
        return x
    assert torch.allclose(out, by_hand(g, base, 1, want_fn), atol=1e-6)
    diff = (out - ref).abs().amax(dim=(0, 1))  # per output pixel
    # rows 0-3 at 8x8 reach rows 0-8 at 16x16 and rows 0-18 at 32x32 (4x4 stride-2 transposed convs)
    assert diff[19:].max() == 0 and diff[:16].min() > 0


def test_batches_apply_each_samples_own_edits(g):
    layer = g.stages[2].name
    recipes = [recipe(1), recipe(2, [drop(layer, [0, 1, 2])]),
               recipe(3, [insert(layer, [4], 1.0, top_half())])]
    together, _ = Renderer().run(g, recipes)
    alone = torch.cat([Renderer().run(g, [rc])[0] for rc in recipes])
    assert torch.allclose(together, alone, atol=1e-6)
    frames = Renderer().render_batch(g, recipes, batch_size=2)  # the export path applies them too
    assert np.array_equal(frames[1], Renderer().render(g, recipes[1]).image)


def test_bad_layers_and_units_come_back_as_messages(g):
    r = Renderer()
    frame = r.render(g, recipe(edits=[drop("conv9", [0])]))
    assert "unit edit names layer 'conv9'" in frame.error
    assert "0-2" in frame.error  # the layers there are
    frame = r.render(g, recipe(edits=[drop(g.stages[1].name, [0, 99])]))
    assert "units [99] out of range (the layer has" in frame.error
