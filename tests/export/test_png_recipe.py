"""Recipes in PNGs: written with the image, read back through the same validation as JSON, rendered by the CLI."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.bundled import resolve_demo
from studio.cli import main
from studio.core.output_size import default_scale, scale_setting
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.errors import RecipeError
from studio.export.png_recipe import RECIPE_TEXT_KEY, png_with_recipe, read_png_recipe
from studio.render.engine import ModelCache, Renderer

DCGAN = resolve_demo("demo:dcgan")


@pytest.fixture(scope="module")
def dcgan():
    return ModelCache(torch.device("cpu")).get(DCGAN)


def _frame(g, recipe: Recipe) -> np.ndarray:
    frame = Renderer().render(g, recipe)
    assert frame.ok, frame.error
    return frame.image


def test_a_studio_png_carries_its_recipe_and_the_cli_renders_it(dcgan, tmp_path, capsys):
    recipe = Recipe(ModelRef(str(DCGAN), dcgan.model_id), SeedLatent(11), 0.7)
    walked = recipe.with_walk("pca:0", tuple(np.eye(dcgan.info.z_dim, dtype=float)[3]), 1.5)
    image = _frame(dcgan, walked)
    png = png_with_recipe(tmp_path / "face.png", image, walked)
    assert read_png_recipe(png) == walked
    with Image.open(png) as im:
        assert np.array_equal(np.asarray(im), image)

    out = tmp_path / "again.png"
    assert main(["render", "--recipe", str(png), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), image)  # the same pixels, from the image alone


def test_a_png_recipe_goes_through_the_json_validation(tmp_path, capsys):
    def png(name: str, text: str | None) -> Path:
        info = PngInfo()
        if text is not None:
            info.add_text(RECIPE_TEXT_KEY, text)
        path = tmp_path / name
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, pnginfo=info)
        return path

    bad_seed = Recipe(ModelRef(str(DCGAN)), SeedLatent(1)).to_dict()
    bad_seed["latent"]["seed"] = -4
    cases = {
        png("plain.png", None): "carries no Latent Studio recipe",
        png("garbled.png", "{not json"): "not valid JSON",
        png("negative.png", json.dumps(bad_seed)): "seed must be a non-negative integer",
        png("future.png", json.dumps({**bad_seed, "schema": 99})): "newer than this Latent Studio",
    }
    for path, message in cases.items():
        with pytest.raises(RecipeError, match=message):
            read_png_recipe(path)
        code = main(["render", "--recipe", str(path), "--out", str(tmp_path / f"out_{path.name}")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0 and message in err and path.name in err
        assert not (tmp_path / f"out_{path.name}").exists()
    # the same recipe as JSON fails with the same reason
    (tmp_path / "negative.json").write_text(json.dumps(bad_seed))
    assert main(["render", "--recipe", str(tmp_path / "negative.json"), "--out", str(tmp_path / "j.png")]) == 2
    assert "seed must be a non-negative integer" in capsys.readouterr().err


def test_a_png_recipe_with_a_relative_model_path_finds_it_beside_the_image(dcgan, tmp_path, capsys):
    import shutil

    local = tmp_path / "models" / DCGAN.name
    local.parent.mkdir()
    shutil.copy(DCGAN, local)
    recipe = Recipe(ModelRef(f"models/{DCGAN.name}"), SeedLatent(5))
    png = png_with_recipe(tmp_path / "rel.png", _frame(dcgan, replace(recipe, model=ModelRef(str(DCGAN)))), recipe)
    assert main(["render", "--recipe", str(png), "--out", str(tmp_path / "o.png")]) == 0
    capsys.readouterr()


def test_default_output_size_is_useful_for_small_models():
    assert [default_scale(r) for r in (32, 64, 128, 256, 512, 1024)] == [4, 4, 4, 2, 1, 1]
    assert scale_setting(None, 64) == 4 and scale_setting(2, 64) == 2
    assert scale_setting("x", 32) == 4 and scale_setting(True, 32) == 4 and scale_setting(99, 32) == 16


def test_the_recipe_is_read_before_the_pixels_so_a_damaged_image_keeps_it(dcgan, tmp_path):
    from studio.export.png_recipe import has_recipe

    recipe = Recipe(ModelRef(str(DCGAN), dcgan.model_id), SeedLatent(2))
    whole = png_with_recipe(tmp_path / "whole.png", _frame(dcgan, recipe), recipe).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) * 2 // 3])  # the pixel data cut short
    assert has_recipe(cut) and read_png_recipe(cut) == recipe
    plain = tmp_path / "plain.png"
    Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(plain)
    (tmp_path / "plain_cut.png").write_bytes(plain.read_bytes()[:60])
    assert not has_recipe(plain) and not has_recipe(tmp_path / "plain_cut.png")
    assert not has_recipe(tmp_path / "missing.png")
