"""The CLI on the PGGAN and StyleGAN1 fixtures: `info` lists the choices, `--pick` picks them, and
`latent-studio mix --layers 0-1` is rosinality's style_mixing(mixing_range=(0, 1))."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_path
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.core.style_edits import Mix
from studio.render.engine import ModelCache, Renderer
from studio.render.mixing import cell, cell_recipe
from tests.plugins.test_progressive_conformance import with_fixture_noise
from conftest import run_cli as run

pytestmark = pytest.mark.shared



def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_info_lists_what_the_file_holds_and_where_it_came_from(capsys):
    path = shared_path("fixtures", "pggan_gan_zoo", "pgan_tiny_s3_i12000.pt")
    code, out, err = run(capsys, "info", path)
    assert code == 0, err
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    assert "0.25 (0 to 1; the file's fade-in alpha" in rows["alpha (--pick)"]
    assert "3 (of 0-3; the file's last scale, 32 px" in rows["scale (--pick)"]
    assert "avgG (of avgG, netG" in rows["network (--pick)"]
    code, out, _ = run(capsys, "info", path, "--json", "--pick", "scale=1", "--pick", "alpha=0.5")
    d = json.loads(out)
    assert d["resolution"] == 8 and d["layers"][-1]["shape"] == [3, 8, 8]
    picked = {c["name"]: c for c in d["choices"]}
    assert picked["scale"]["value"] == "1" and picked["scale"]["source"].startswith("picked")
    assert picked["alpha"]["value"] == "0.5" and picked["scale"]["values"] == ["0", "1", "2", "3"]


def test_render_pick_and_its_one_line_errors(capsys, tmp_path):
    path = shared_path("fixtures", "stylegan1_rosinality", "train_step-4.model")
    out = tmp_path / "step2.png"
    code, _, err = run(capsys, "render", path, "--seed", "4", "--pick", "step=2", "--out", out)
    assert code == 0, err
    g = ModelCache(torch.device("cpu")).get(path).choose(step="2")
    want = Renderer().render(g, Recipe(ModelRef(str(path)), SeedLatent(4))).image
    assert np.array_equal(read_png(out), want)
    for pick, message in (("scale=2", "has no setting 'scale' to pick (it has: alpha, step)"),
                          ("step=9", "step must be one of 0, 1, 2, 3, 4, 5, 6, 7, 8, not '9'"),
                          ("alpha=-1", "alpha must be a number from 0 to 1, not '-1'"),
                          ("step", "bad --pick 'step': use NAME=VALUE")):
        code, _, err = run(capsys, "render", path, "--pick", pick, "--out", tmp_path / "x.png")
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.png").exists()


def test_mix_layers_are_rosinality_mixing_range(capsys, tmp_path):
    folder = shared_path("fixtures", "stylegan1_rosinality")
    path = folder / "train_step-4.model"
    out = tmp_path / "grid.png"
    code, stdout, err = run(capsys, "mix", path, "--rows", "1,2", "--cols", "3", "--layers", "0-1",
                            "--truncation", "0.7", "--out", out)
    assert code == 0, err
    assert "mixes of style inputs 0-1" in stdout
    grid = read_png(out)
    assert grid.shape == (3 * 32, 2 * 32, 3)
    g = ModelCache(torch.device("cpu")).get(path)
    base = Recipe(ModelRef(str(path.resolve()), g.model_id), SeedLatent(0), truncation=0.7)
    for row, seed in enumerate((1, 2)):
        r = cell_recipe(base, seed, 3, (0, 2))
        assert np.array_equal(cell(grid, row, 0, (32, 32)), Renderer().render(g, r).image)
    # The cell's recipe, with the fixture's codes and saved noise in place of the seeds and the studio's
    # noise, is generate.py's style_mixing output: the 4x4 and 8x8 blocks from the column (source) code.
    mix = next(e for e in cell_recipe(base, 1, 3, (0, 2)).edits if isinstance(e, Mix))
    assert mix.layers == (0, 2)
    z, z_source = np.load(folder / "z.npy"), np.load(folder / "z_source.npy")
    recipes = [Recipe(base.model, VectorLatent(tuple(map(float, a))), truncation=0.7,
                      edits=(Mix(mix.label, mix.layers, values=tuple(map(float, b)), amount=mix.amount),))
               for a, b in zip(z, z_source)]
    noise = [torch.from_numpy(np.load(folder / f"noise_{i}.npy")) for i in range(4)]
    ours = with_fixture_noise(g, recipes, noise).numpy()
    ref = np.load(folder / "out_mix_range01_psi07.npy")
    assert np.allclose(ours, ref, rtol=1e-5, atol=1e-4), float(np.abs(ours - ref).max())
    # a range past the picked step's blocks is refused in one line
    code, _, err = run(capsys, "mix", path, "--rows", "1", "--cols", "2", "--layers", "0-3",
                       "--pick", "step=2", "--out", tmp_path / "bad.png")
    assert code == 2 and "beyond this model's 3 style inputs (0-2)" in err, err
