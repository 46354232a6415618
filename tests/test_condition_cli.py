"""Class-conditional models on the CLI: --class and --condition, checked against the recipe path."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.recipe import ModelRef, Recipe, SeedLatent
from conftest import run_cli as run, shared_path

COND = ("fixtures", "stylegan2ada_nvlabs", "cond", "network-snapshot-000000.pkl")



def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.shared
def test_render_class_matches_the_recipe_path_exactly(capsys, tmp_path):
    ckpt = shared_path(*COND)
    code, out, err = run(capsys, "render", ckpt, "--seed", 5, "--class", 2, "--out", tmp_path / "cli.png",
                         "--save-recipe", tmp_path / "r.json", "--device", "cpu")
    assert code == 0, err
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["condition"] == [0.0, 0.0, 1.0]

    by_hand = Recipe(ModelRef(str(ckpt)), SeedLatent(5), condition=(0.0, 0.0, 1.0))
    (tmp_path / "hand.json").write_text(by_hand.to_json())
    code, _, err = run(capsys, "render", "--recipe", tmp_path / "hand.json", "--out", tmp_path / "recipe.png",
                       "--device", "cpu")
    assert code == 0, err
    assert np.array_equal(pixels(tmp_path / "cli.png"), pixels(tmp_path / "recipe.png"))

    code, _, err = run(capsys, "render", ckpt, "--seed", 5, "--class", 0, "--out", tmp_path / "c0.png",
                       "--device", "cpu")
    assert code == 0, err
    assert not np.array_equal(pixels(tmp_path / "cli.png"), pixels(tmp_path / "c0.png"))


@pytest.mark.shared
def test_condition_vector_equals_the_class(capsys, tmp_path):
    ckpt = shared_path(*COND)
    assert run(capsys, "render", ckpt, "--seed", 1, "--class", 1, "--out", tmp_path / "a.png")[0] == 0
    assert run(capsys, "render", ckpt, "--seed", 1, "--condition", "0,1,0", "--out", tmp_path / "b.png")[0] == 0
    assert np.array_equal(pixels(tmp_path / "a.png"), pixels(tmp_path / "b.png"))


@pytest.mark.shared
def test_no_class_says_what_it_renders(capsys, tmp_path):
    ckpt = shared_path(*COND)
    code, _, err = run(capsys, "render", ckpt, "--out", tmp_path / "a.png")
    assert code == 0
    assert "class-conditional (3 classes)" in err and "--class 0-2" in err


@pytest.mark.shared
@pytest.mark.parametrize("args, message", [
    (("--class", 3), "class 3 is out of range: this model has 3 classes (0-2)"),
    (("--class", -1), "class -1 is out of range"),
    (("--condition", "1,0"), "--condition has 2 values but"),
    (("--condition", "1,x,0"), "bad condition"),
    (("--class", 1, "--condition", "0,1,0"), "not allowed with argument"),
])
def test_bad_classes_are_one_line(capsys, tmp_path, args, message):
    code, out, err = run(capsys, "render", shared_path(*COND), *args, "--out", tmp_path / "a.png")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.png").exists()


def test_class_on_an_unconditional_model_is_refused(capsys, tmp_path, tiny_dcgan_path):
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--class", 1, "--out", tmp_path / "a.png")
    assert code == 2 and "--class needs a conditional model" in err


@pytest.mark.shared
def test_walk_and_mix_take_the_class(capsys, tmp_path):
    ckpt = shared_path(*COND)
    code, _, err = run(capsys, "walk", ckpt, "--from-seed", 1, "--to-seed", 2, "--frames", 2, "--class", 2,
                       "--out", tmp_path / "frames", "--device", "cpu")
    assert code == 0, err
    code, _, err = run(capsys, "render", ckpt, "--seed", 1, "--class", 2, "--out", tmp_path / "one.png")
    assert code == 0
    frame = sorted(p for p in (tmp_path / "frames").iterdir() if p.suffix == ".png")[0]
    assert np.array_equal(pixels(frame), pixels(tmp_path / "one.png"))

    code, _, err = run(capsys, "mix", ckpt, "--rows", "1", "--cols", "2", "--layers", "0-3", "--class", 0,
                       "--out", tmp_path / "m0.png")
    assert code == 0, err
    code, _, err = run(capsys, "mix", ckpt, "--rows", "1", "--cols", "2", "--layers", "0-3", "--class", 2,
                       "--out", tmp_path / "m2.png")
    assert code == 0, err
    assert not np.array_equal(pixels(tmp_path / "m0.png"), pixels(tmp_path / "m2.png"))


@pytest.mark.shared
def test_info_lists_the_classes(capsys):
    code, out, _ = run(capsys, "info", shared_path(*COND))
    assert code == 0
    assert "classes" in out and "3 (one-hot condition: render/walk/mix --class 0-2)" in out
