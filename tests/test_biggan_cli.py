"""Class-conditional models on the CLI: BigGAN's `render --class --truncation` and `walk` between two classes
(or two seeds) render exactly what the recipe path renders, with the truncation reaching the forward on every
frame; an InfoGAN walk along one code (`--condition` to `--to-condition`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from studio.core.recipe import ModelRef, Recipe, SeedLatent, class_condition
from conftest import run_cli as run

pytestmark = pytest.mark.shared
BIGGAN = ("fixtures", "biggan_hf", "biggan-tiny-32", "pytorch_model.bin")



def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_render_class_and_truncation_match_the_recipe_path(capsys, tmp_path):
    import studio
    from studio.render.engine import Renderer

    ckpt = shared_path(*BIGGAN)
    code, _, err = run(capsys, "render", ckpt, "--seed", 2, "--class", 3, "--truncation", 0.4, "--out",
                       tmp_path / "cli.png", "--save-recipe", tmp_path / "r.json", "--device", "cpu")
    assert code == 0, err
    saved = Recipe.from_json((tmp_path / "r.json").read_text())
    assert saved.truncation == 0.4 and saved.condition == class_condition(3, 10)
    hand = Recipe(ModelRef(str(ckpt)), SeedLatent(2), truncation=0.4, condition=class_condition(3, 10))
    (tmp_path / "hand.json").write_text(hand.to_json())
    code, _, err = run(capsys, "render", "--recipe", tmp_path / "hand.json", "--out", tmp_path / "recipe.png",
                       "--device", "cpu")
    assert code == 0, err
    assert np.array_equal(pixels(tmp_path / "cli.png"), pixels(tmp_path / "recipe.png"))
    g = studio.load(ckpt)
    assert np.array_equal(pixels(tmp_path / "cli.png"), Renderer().render(g, hand).image)
    code, _, err = run(capsys, "render", ckpt, "--seed", 2, "--class", 4, "--truncation", 0.4, "--out",
                       tmp_path / "c4.png", "--device", "cpu")
    assert code == 0 and not np.array_equal(pixels(tmp_path / "cli.png"), pixels(tmp_path / "c4.png"))
    code, _, err = run(capsys, "render", ckpt, "--class", 3, "--truncation", 1.5, "--out", tmp_path / "x.png")
    assert code != 0 and "truncation must be in (0, 1]" in err and len(err.strip().splitlines()) == 1


def test_walk_between_two_classes_is_the_timeline_of_their_recipes(capsys, tmp_path):
    import studio
    from studio.core.timeline import Segment, Timeline
    from studio.model.spaces import frame_recipes
    from studio.render.engine import Renderer

    ckpt = shared_path(*BIGGAN)
    out = tmp_path / "frames"
    code, _, err = run(capsys, "walk", ckpt, "--from-seed", 2, "--class", 3, "--to-class", 7,
                       "--truncation", 0.4, "--frames", 5, "--out", out, "--device", "cpu")
    assert code == 0, err
    files = sorted(p for p in out.iterdir() if p.suffix == ".png")
    assert len(files) == 5
    g = studio.load(ckpt)
    ref = ModelRef(str(ckpt.resolve()), g.model_id)
    keys = (Recipe(ref, SeedLatent(2), 0.4, condition=class_condition(3, 10)),
            Recipe(ref, SeedLatent(2), 0.4, condition=class_condition(7, 10)))
    recipes = frame_recipes(g, Timeline(keys, (Segment(4, "slerp", "linear", "z"), Segment())))
    assert recipes[2].condition[3] == pytest.approx(0.5) and recipes[2].condition[7] == pytest.approx(0.5)
    assert all(r.truncation == 0.4 and r.latent == SeedLatent(2) for r in recipes)
    renderer = Renderer()
    for f, r in zip(files, recipes):
        assert np.array_equal(pixels(f), renderer.render(g, r).image), f.name
    mid, ends = pixels(files[2]).astype(int), (pixels(files[0]).astype(int), pixels(files[-1]).astype(int))
    assert all(np.abs(mid - e).max() > 2 for e in ends)
    code, _, err = run(capsys, "walk", ckpt, "--from-seed", 2, "--to-class", 7, "--out", tmp_path / "y")
    assert code != 0 and "--to-class needs --class" in err


def test_walk_between_seeds_keeps_biggans_truncation_on_every_frame(capsys, tmp_path):
    ckpt = shared_path(*BIGGAN)
    out = tmp_path / "w"
    code, _, err = run(capsys, "walk", ckpt, "--from-seed", 1, "--to-seed", 2, "--class", 3, "--truncation",
                       0.4, "--frames", 4, "--out", out, "--device", "cpu")
    assert code == 0, err
    sidecar = next(p for p in tmp_path.rglob("*.json"))
    frames = json.loads(sidecar.read_text())["recipes"]
    assert [f["truncation"] for f in frames] == pytest.approx([0.4] * 4)


def test_info_names_the_classes_and_the_class_layers(capsys):
    code, out, err = run(capsys, "info", shared_path(*BIGGAN))
    assert code == 0, err
    assert "10 (one-hot condition: render/walk/mix --class 0-9)" in out
    assert "7 read the class on their own (gen_z, layers.0" in out
    assert "spectral_norm (--pick)  eval (of eval, readme-train" in out


def test_a_from_pretrained_folder_opens_as_its_pytorch_model_bin(capsys, tmp_path):
    ckpt = shared_path(*BIGGAN)
    for name, target in (("file.png", ckpt), ("folder.png", ckpt.parent)):
        code, _, err = run(capsys, "render", target, "--seed", 1, "--class", 2, "--truncation", 0.5, "--out",
                           tmp_path / name, "--device", "cpu")
        assert code == 0, err
    assert np.array_equal(pixels(tmp_path / "file.png"), pixels(tmp_path / "folder.png"))
    code, _, err = run(capsys, "render", ckpt.parent.parent, "--out", tmp_path / "x.png")
    assert code != 0 and "is a folder, not a checkpoint file" in err


def test_walk_along_one_infogan_code_with_the_others_fixed(capsys, tmp_path):
    import studio
    from studio.render.engine import Renderer
    from tests.ui.test_class_panel import _tiny_infogan

    ckpt = tmp_path / "generator.pth"
    _tiny_infogan(ckpt)  # 62 + 10 + 2 inputs: infogan.py's defaults
    start = "0,0,0,1,0,0,0,0,0,0,0.5,-1"
    out = tmp_path / "code"
    code, _, err = run(capsys, "walk", ckpt, "--from-seed", 4, "--condition", start, "--to-condition",
                       "0,0,0,1,0,0,0,0,0,0,0.5,1", "--frames", 3, "--lerp", "--out", out, "--device", "cpu")
    assert code == 0, err
    frames = json.loads(next(tmp_path.rglob("*.json")).read_text())["recipes"]
    assert [f["condition"][10:] for f in frames] == [[0.5, -1.0], [0.5, 0.0], [0.5, 1.0]]
    assert all(f["condition"][:10] == frames[0]["condition"][:10] for f in frames)
    g = studio.load(ckpt)
    files = sorted(out.glob("*.png"))
    mid = Renderer().render(g, Recipe.from_dict(frames[1])).image
    assert np.array_equal(pixels(files[1]), mid) and not np.array_equal(pixels(files[0]), mid)
    code, _, err = run(capsys, "walk", ckpt, "--from-seed", 4, "--condition", start, "--to-condition", "1,0",
                       "--out", tmp_path / "bad")
    assert code != 0 and "--to-condition has 2 values but generator.pth takes 12" in err
