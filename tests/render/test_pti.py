"""Pivotal tuning after a W+ projection: the tuned model is a new safetensors file that the recipe names by
its sha256, it reproduces the photo better than the frozen model, and the model's own file and the open
generator are left exactly as they were."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

import studio
from studio.bundled import resolve_demo
from studio.demo import toyfaces
from studio.errors import RecipeError
from studio.render.projection import psnr
from studio.render.pti import pivotal_tuning


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return toyfaces.sample(1, [990_017, 5]).images[0]


def test_tuning_writes_a_new_checkpoint_the_recipe_names_and_leaves_the_model_alone(photo, tmp_path):
    demo = resolve_demo("demo:stylegan2")
    demo_sha = _sha(demo)
    g = studio.load(str(demo), "cpu")
    r = studio.project(g, photo, "w+", 40)
    target = r.target  # the photo as it was matched (aligned)
    assert target.shape == (1, 3, 64, 64)
    pivot = r.recipe(g, demo)
    before = g.run(g.recipe_context([pivot])).float()
    seen: list[int] = []
    tm = pivotal_tuning(g, r, tmp_path / "tuned.safetensors", 25, progress=lambda d, t, db: seen.append(d))
    assert seen == list(range(1, 26))
    assert tm.psnr_after > tm.psnr_before + 0.5 and tm.psnr_before == pytest.approx(r.psnr, abs=0.01)
    assert torch.equal(g.run(g.recipe_context([pivot])).float(), before)  # the open generator restored
    assert _sha(demo) == demo_sha  # the model's own file never written
    tuned = tm.recipe(pivot)
    assert tuned.model.path == str(tmp_path / "tuned.safetensors") and tuned.model.sha256 == _sha(tmp_path / "tuned.safetensors")
    assert tuned.latent == pivot.latent
    g2 = studio.load(tuned.model.path, "cpu")  # what opening the recipe opens
    assert g2.model_id == tuned.model.sha256
    assert psnr(g2.run(g2.recipe_context([tuned])).float(), target) == pytest.approx(tm.psnr_after, abs=0.01)


def test_tuning_needs_a_w_projection_of_a_stylegan(photo, tmp_path):
    dcgan = studio.load(str(resolve_demo("demo:dcgan")), "cpu")
    r = studio.project(dcgan, photo, "z", 5)
    with pytest.raises(RecipeError, match="W or W\\+ projection"):
        pivotal_tuning(dcgan, r, tmp_path / "t.safetensors", 5)
    assert not (tmp_path / "t.safetensors").exists()
