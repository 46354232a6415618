"""Truncation cutoff: psi pulls only the first k style inputs, as the official truncation_cutoff does."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.cli import main
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.style_edits import TruncationCutoff, truncation_cutoff, with_mix, with_truncation_cutoff
from studio.errors import RecipeError
from studio.model.registry import Registry
from studio.render.engine import Renderer


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("sg") / "tiny.safetensors"
    save_stylegan(path, tiny_stylegan(seed=3), name="tiny")
    return path


@pytest.fixture(scope="module")
def gen(ckpt):
    return Registry.discover(search_paths=[]).open(ckpt)


def _recipe(seed: int = 4, psi: float = 0.5, cutoff: int | None = None) -> Recipe:
    return with_truncation_cutoff(Recipe(ModelRef("tiny"), SeedLatent(seed), psi), cutoff)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_recipe_cutoff_matches_map_with_truncation_cutoff(gen, k):
    r = _recipe(cutoff=k)
    ws = gen.context([r]).ws
    z = gen.latents([4])
    assert torch.equal(ws, gen.map(z, truncation=0.5, truncation_cutoff=k))
    untruncated, truncated = gen.map(z), gen.map(z, truncation=0.5)
    assert torch.equal(ws[:, :k], truncated[:, :k])
    assert torch.equal(ws[:, k:], untruncated[:, k:])
    assert not torch.equal(ws[:, :k], untruncated[:, :k])  # psi did pull the first k


def test_cutoff_changes_the_image_only_through_late_inputs(gen):
    full = Renderer().render(gen, _recipe()).image
    cut = Renderer().render(gen, _recipe(cutoff=4)).image
    none = Renderer().render(gen, _recipe(psi=1.0)).image
    assert np.abs(cut.astype(int) - full.astype(int)).max() > 0
    assert np.abs(cut.astype(int) - none.astype(int)).max() > 0
    # a cutoff at every input is plain truncation
    assert np.array_equal(Renderer().render(gen, _recipe(cutoff=gen.info.num_ws)).image, full)


def test_batched_and_mixed_recipes_keep_their_own_cutoff(gen):
    recipes = [_recipe(1, cutoff=2), _recipe(2), _recipe(3, cutoff=6)]
    ws = gen.context(recipes).ws
    for i, r in enumerate(recipes):
        assert torch.allclose(ws[i], gen.context([r]).ws[0], atol=1e-6)
    # a mixed-in source is truncated with the same cutoff
    mixed = with_mix(_recipe(cutoff=3), "mix:B", (0, gen.info.num_ws), seed=9)
    src = gen.map(gen.latents([9]), truncation=0.5, truncation_cutoff=3)
    assert torch.equal(gen.context([mixed]).ws, src)


def test_cutoff_is_validated_and_saved(gen):
    for bad in (0, -2, 2.5, True, "3"):
        with pytest.raises(RecipeError, match="truncation cutoff"):
            TruncationCutoff(bad)
    with pytest.raises(RecipeError, match="more than this model's 8 style inputs"):
        gen.context([_recipe(cutoff=9)])
    r = _recipe(cutoff=5)
    back = Recipe.from_json(r.to_json())
    assert back == r and truncation_cutoff(back) == 5
    assert truncation_cutoff(with_truncation_cutoff(r, None)) is None
    assert len(with_truncation_cutoff(r, 2).edits) == 1  # one per recipe


def test_cli_truncation_cutoff(ckpt, tmp_path, capsys, tiny_dcgan_path):
    out = tmp_path / "cut.png"
    assert main(["render", str(ckpt), "--seed", "4", "--truncation", "0.5", "--truncation-cutoff", "3",
                 "--out", str(out)]) == 0
    gen = Registry.discover(search_paths=[]).open(ckpt)
    expected = Renderer().render(gen, _recipe(cutoff=3)).image
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), expected)
    capsys.readouterr()
    assert main(["render", str(ckpt), "--truncation-cutoff", "20", "--out", str(tmp_path / "x.png")]) != 0
    err = capsys.readouterr().err.strip()
    assert "truncation cutoff 20" in err and len(err.splitlines()) == 1
    assert main(["render", str(ckpt), "--truncation-cutoff", "0", "--out", str(tmp_path / "y.png")]) != 0
    assert main(["render", str(tiny_dcgan_path), "--truncation-cutoff", "2",
                 "--out", str(tmp_path / "z.png")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "needs a model with style inputs" in err[-1]
