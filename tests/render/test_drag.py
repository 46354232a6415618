"""The drag (DragGAN) on the demo models: W+ rows past k stay, z models drag too, Stop keeps a result,
tracking follows the content, the mask keeps the rest, the result is a recipe, bad input is one message."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import studio
from studio.bundled import resolve_demo
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.core.wspace import WLatent
from studio.demo.landmarks import find_landmarks
from studio.errors import RecipeError
from studio.render.drag import (DragControl, DragPoint, DragSettings, default_layer, drag, drag_job,
                                dragged_recipe)
from studio.render.engine import Renderer, to_uint8


@pytest.fixture(scope="module")
def sg2():
    return studio.load(str(resolve_demo("demo:stylegan2")), "cpu")


@pytest.fixture(scope="module")
def dcgan():
    return studio.load(str(resolve_demo("demo:dcgan")), "cpu")


def _recipe(g, seed: int) -> Recipe:
    return Recipe(ModelRef("", g.model_id), SeedLatent(seed))


def test_w_plus_drag_moves_the_eye_and_keeps_the_later_rows(sg2):
    r = _recipe(sg2, 5)
    before = Renderer().render(sg2, r).image
    eye = find_landmarks(before)["left_eye"]
    target = (eye[0] + 5.0, eye[1])
    res = drag(sg2, r, [DragPoint(eye, target)], None, DragSettings(steps=100, rows=3))
    assert res.ended == "reached" and res.space == "w+" and res.distance <= 0.5 + 1e-4
    after = Renderer().render(sg2, res.recipe(r)).image
    np.testing.assert_array_equal(after, to_uint8(res.image)[0])  # the recipe renders what the drag showed
    moved = find_landmarks(after)["left_eye"]
    assert math.dist(moved, target) < 2.0  # the eye itself, measured in the image
    start = sg2.recipe_context([r]).ws[0].numpy()
    rows = res.latent.rows(sg2.info.num_ws, sg2.info.w_dim)
    assert not np.allclose(rows[:3], start[:3]) and np.array_equal(rows[3:], start[3:])
    assert len(res.trajectory) == res.steps + 1 and np.array_equal(res.trajectory[0], start)
    assert res.trajectory_latents(4)[-1] == res.latent


def test_the_mask_keeps_the_outside(sg2):
    r = _recipe(sg2, 8)
    p = [DragPoint((26.5, 30.5), (31.5, 30.5))]
    mask = np.zeros((64, 64), bool)
    mask[10:54, 14:50] = True
    free = drag(sg2, r, p, None, DragSettings(steps=15, tolerance=0.0))
    kept = drag(sg2, r, p, mask, DragSettings(steps=15, tolerance=0.0, mask_weight=80.0))
    before = Renderer().render(sg2, r).image.astype(np.float32)

    def outside(res) -> float:
        return float(np.abs(to_uint8(res.image)[0].astype(np.float32) - before)[~mask].mean())

    assert outside(kept) < outside(free)


def test_a_z_model_drags_its_z_and_stop_keeps_a_result(dcgan):
    r = _recipe(dcgan, 3)
    control = DragControl()
    job = drag_job(dcgan, r, [DragPoint((26.5, 30.5), (31.5, 30.5))], None, DragSettings(steps=50), control)
    seen = [next(job), next(job), next(job)]
    control.stop()
    with pytest.raises(StopIteration) as stop:
        next(job)
    res = stop.value.value
    assert res.ended == "stopped" and res.steps == 3 and res.space == "z"
    assert isinstance(res.latent, VectorLatent) and len(res.latent.values) == dcgan.info.z_dim
    assert seen[-1].done == 3 and seen[-1].image.shape == (1, 3, 64, 64)
    assert dcgan.latent(res.latent).shape == (dcgan.info.z_dim,)


def test_dragged_recipe_folds_walks_and_truncation_in(sg2):
    r = _recipe(sg2, 2).with_truncation(0.7).with_walk("pca:0", tuple([0.1] * 128), 2.0, "w")
    start = sg2.recipe_context([r]).ws[0].numpy()
    out = dragged_recipe(r, WLatent.of(start))
    assert out.truncation == 1.0 and out.edits == ()
    np.testing.assert_allclose(sg2.recipe_context([out]).ws[0].numpy(), start, atol=1e-5)


def test_bad_input_is_one_clear_message(sg2):
    r = _recipe(sg2, 1)
    with pytest.raises(RecipeError, match="at least one handle"):
        drag(sg2, r, [])
    with pytest.raises(RecipeError, match="outside the 64 px image"):
        drag(sg2, r, [DragPoint((10, 10), (80, 10))])
    with pytest.raises(RecipeError, match="no layer 'nope'"):
        drag(sg2, r, [DragPoint((10, 10), (20, 10))], settings=DragSettings(layer="nope"))
    with pytest.raises(RecipeError, match="two finite numbers"):
        DragPoint((float("nan"), 1), (2, 3))
    with pytest.raises(RecipeError, match="positive whole number"):
        DragSettings(steps=0)


def test_default_layers(sg2, dcgan):
    assert default_layer(sg2) == "b32.torgb+b64.conv0"  # the first 64 px features
    names = [s.name for s in dcgan.stages]
    assert default_layer(dcgan) in names[:-1]  # a feature layer, not the image
    assert torch.get_num_threads() >= 1


def test_a_projected_photo_drags_like_a_seed(sg2):
    from studio.demo import toyfaces
    from studio.render.projection import project

    photo = toyfaces.sample(1, [990_023, 7]).images[0]
    proj = project(sg2, photo, "w+", steps=20)
    r = proj.recipe(sg2)
    res = drag(sg2, r, [DragPoint((26.5, 30.5), (30.5, 30.5))], None, DragSettings(steps=6, tolerance=0.0))
    assert res.steps == 6 and isinstance(res.latent, WLatent) and res.latent != r.latent
    np.testing.assert_allclose(res.trajectory[0], r.latent.rows(sg2.info.num_ws, sg2.info.w_dim), atol=1e-6)


def test_stylegan3_drags_in_w_plus():
    from tests.conftest import shared_path

    path = shared_path("fixtures", "stylegan3_nvlabs", "stylegan3-t", "network-snapshot-000000.pkl")
    g = studio.load(str(path), "cpu")
    size = g.info.resolution
    c = size / 2
    res = drag(g, _recipe(g, 1), [DragPoint((c - 3, c), (c + 2, c))], None, DragSettings(steps=4, tolerance=0.0))
    assert res.space == "w+" and res.steps == 4 and res.image.shape[-1] == size
    assert np.isfinite(res.trajectory).all() and not np.array_equal(res.trajectory[0], res.trajectory[-1])


def test_the_scripting_entry_point(sg2):
    r = _recipe(sg2, 4)
    res = studio.drag(sg2, r, [((26.5, 30.5), (30.5, 30.5))], steps=3, tolerance=0.0)
    assert res.steps == 3 and res.recipe(r).latent == res.latent
