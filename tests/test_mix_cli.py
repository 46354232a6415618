"""`latent-studio mix`: the grid file, its safe writes and its one-line errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.render.engine import ModelCache, Renderer
from studio.render.mixing import cell, cell_recipe
from conftest import run_cli as run



@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("mixcli") / "tiny.safetensors"
    save_stylegan(path, tiny_stylegan(seed=5), name="tiny")
    return path


def test_mix_writes_the_grid_of_recipes(capsys, ckpt, tmp_path):
    out = tmp_path / "grid.png"
    code, stdout, err = run(capsys, "mix", ckpt, "--rows", "1,2,3", "--cols", "4-5", "--layers", "0-3",
                            "--truncation", "0.7", "--scale", "2", "--out", out, "--device", "cpu")
    assert code == 0, err
    assert "wrote" in stdout and "3x2" in stdout
    grid = np.asarray(Image.open(out).convert("RGB"))
    g = ModelCache(torch.device("cpu")).get(ckpt)
    s = g.info.resolution
    assert grid.shape == (4 * 2 * s, 3 * 2 * s, 3)
    small = grid[::2, ::2]
    base = Recipe(ModelRef(str(ckpt)), SeedLatent(0), truncation=0.7)
    r = Renderer()
    for i, row in enumerate([1, 2, 3]):
        for j, col in enumerate([4, 5]):
            direct = r.render(g, cell_recipe(base, row, col, (0, 4))).image
            assert np.abs(cell(small, i, j, (s, s)).astype(int) - direct.astype(int)).max() <= 1
    assert not list(tmp_path.glob(".*partial"))

    # an existing file is kept without --force, replaced with it
    before = out.read_bytes()
    code, _, err = run(capsys, "mix", ckpt, "--rows", "7", "--cols", "8", "--layers", "4", "--out", out)
    assert code == 2 and "already exists" in err and "--force" in err and out.read_bytes() == before
    code, _, err = run(capsys, "mix", ckpt, "--rows", "7", "--cols", "8", "--layers", "4", "--out", out,
                       "--force")
    assert code == 0, err
    assert np.asarray(Image.open(out)).shape == (2 * s, 2 * s, 3)


@pytest.mark.parametrize("args, message", [
    (["--layers", "0-99"], "beyond this model's"),
    (["--layers", "3-1"], "end is below the start"),
    (["--layers", "a-b"], "bad layer range"),
    (["--rows", "x"], "bad seed list"),
])
def test_bad_arguments_give_one_line(capsys, ckpt, tmp_path, args, message):
    argv = {"--rows": "1", "--cols": "2", "--layers": "0-1"}
    argv.update(dict(zip(args[::2], args[1::2])))
    out = tmp_path / "g.png"
    code, _, err = run(capsys, "mix", ckpt, *[x for kv in argv.items() for x in kv], "--out", out)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_model_without_styles_is_refused(capsys, tiny_dcgan_path, tmp_path):
    out = tmp_path / "g.png"
    code, _, err = run(capsys, "mix", tiny_dcgan_path, "--rows", "1", "--cols", "2", "--layers", "0",
                       "--out", out)
    assert code == 2 and "this model has no style inputs to mix" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
