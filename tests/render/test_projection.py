"""Projection into the demo models: it reconstructs real images, the answer is a recipe that renders what was
optimised, cancelling leaves the model as it was, and bad requests are one clear error."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import studio
from studio.bundled import resolve_demo
from studio.core.recipe import VectorLatent
from studio.core.wspace import WLatent
from studio.demo import toyfaces
from studio.errors import RecipeError
from studio.render.projection import learning_rate, projection_job, psnr, target_tensor


@pytest.fixture(scope="module")
def sg2():
    return studio.load(str(resolve_demo("demo:stylegan2")), "cpu")


@pytest.fixture(scope="module")
def dcgan():
    return studio.load(str(resolve_demo("demo:dcgan")), "cpu")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return toyfaces.sample(1, [990_017, 3]).images[0]  # a face no demo model was trained on


def _render(g, recipe) -> torch.Tensor:
    return g.run(g.recipe_context([recipe])).float()


def test_w_plus_projection_reconstructs_a_held_out_face_and_renders_as_a_recipe(sg2, photo):
    target = target_tensor(photo, 64)
    start = psnr(sg2.synthesize(sg2.w_avg.reshape(1, 1, -1).expand(1, sg2.info.num_ws, -1)), target)
    r = studio.project(sg2, photo, "w+", steps=120)
    assert isinstance(r.latent, WLatent) and len(r.latent.values) == sg2.info.num_ws * sg2.info.w_dim
    assert r.psnr > start + 6 and r.psnr > 24
    recipe = r.recipe(sg2, "demo.safetensors")
    assert psnr(_render(sg2, recipe), r.image) > 45  # the recipe renders what was optimised
    # every tool applies: a W walk on the projected latent changes the image
    walked = recipe.with_walk("test", tuple(np.ones(sg2.info.w_dim) / np.sqrt(sg2.info.w_dim)), 3.0, "w")
    assert psnr(_render(sg2, walked), r.image) < 40


def test_w_projection_stores_one_w(sg2, photo):
    r = studio.project(sg2, photo, "w", steps=30)
    assert len(r.latent.values) == sg2.info.w_dim


def test_z_projection_keeps_the_prior_and_improves_on_the_best_seed(dcgan, photo):
    target = target_tensor(photo, 64)
    seeds = max(psnr(dcgan.generate(dcgan.latents([s])), target) for s in range(8))
    r = studio.project(dcgan, photo, "z", steps=150)
    assert isinstance(r.latent, VectorLatent)
    assert r.psnr > seeds + 1
    norm = np.linalg.norm(r.latent.values) / np.sqrt(dcgan.info.z_dim)
    assert 0.8 < norm < 1.2
    assert psnr(_render(dcgan, r.recipe(dcgan)), r.image) > 45


def test_progress_carries_the_estimate_and_closing_cancels_and_restores(sg2, photo):
    threads = torch.get_num_threads()
    before = [p.requires_grad for p in sg2.net.parameters()]
    job = projection_job(sg2, photo, "w+", steps=50)
    seen = [next(job) for _ in range(5)]
    assert [p.done for p in seen] == [1, 2, 3, 4, 5] and all(p.total == 50 for p in seen)
    assert seen[-1].image.shape == (1, 3, 64, 64) and not seen[-1].image.requires_grad
    assert not any(p.requires_grad for p in sg2.net.parameters())  # frozen while it runs
    job.close()  # what the worker does on Cancel
    assert [p.requires_grad for p in sg2.net.parameters()] == before
    assert torch.get_num_threads() == threads


def test_weights_keep_their_flags_after_a_cancel(dcgan, photo):
    params = [p for m in dcgan._modules for p in m.parameters()]
    before = [p.requires_grad for p in params]
    job = projection_job(dcgan, photo, "z", steps=20)
    next(job)
    job.close()
    assert [p.requires_grad for p in params] == before


def test_schedule_ramps_up_and_down():
    assert learning_rate(0.0, 0.1) == 0.0
    assert learning_rate(0.5, 0.1) == pytest.approx(0.1)
    assert 0 < learning_rate(0.9, 0.1) < 0.1


@pytest.mark.parametrize("space, steps, message", [("w", 10, "no W space"), ("q", 10, "unknown projection space"),
                                                   ("z", 0, "positive whole number")])
def test_bad_requests_are_one_clear_error(dcgan, photo, space, steps, message):
    with pytest.raises(RecipeError, match=message):
        next(projection_job(dcgan, photo, space, steps))


def test_a_non_photo_is_refused(dcgan):
    with pytest.raises(RecipeError, match="cannot project"):
        next(projection_job(dcgan, 42, "z", 5))


def test_noise_maps_are_optimised_normalised_and_kept_in_the_recipe(sg2, photo):
    from studio.core.recipe import Recipe
    from studio.core.style_edits import NoiseMaps, noise_maps

    r = studio.project(sg2, photo, "w+", steps=30, noise=True)
    maps = r.noise.arrays()
    const = [c.numpy() for c in sg2.constant_noise()]
    assert [m.shape for m in maps] == [c.shape for c in const]
    assert all(abs(m.mean()) < 1e-4 and abs(m.std() - 1) < 1e-3 for m in maps)  # renormalised each step
    assert any(not np.allclose(m, c / c.std()) for m, c in zip(maps, const))  # they moved
    back = Recipe.from_json(r.recipe(sg2, "demo.safetensors").to_json())  # as a saved file holds it
    assert noise_maps(back) == r.noise
    shown = _render(sg2, back)
    assert psnr(shown, r.image) > 60  # re-rendering gives the pixels the projection reported
    assert not torch.equal(_render(sg2, replace(back, edits=())), shown)  # the maps are what made them
    bad = replace(back, edits=(NoiseMaps(r.noise.maps[:-1]),))
    with pytest.raises(RecipeError, match="do not fit"):
        _render(sg2, bad)
    with pytest.raises(RecipeError, match="not base64"):
        NoiseMaps(("%%%",)).arrays()


def test_noise_maps_need_a_stylegan2_in_w(dcgan, sg2, photo):
    with pytest.raises(RecipeError, match="noise maps"):
        next(projection_job(dcgan, photo, "z", 5, noise=True))
    with pytest.raises(RecipeError, match="noise maps"):
        next(projection_job(sg2, photo, "z", 5, noise=True))
