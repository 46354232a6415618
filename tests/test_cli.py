"""The `latent-studio` command: info and render on real tiny checkpoints, and one-line errors."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main, parse_seeds
from studio.core.recipe import SCHEMA_VERSION, ModelRef, Recipe, SeedLatent
from studio.render.engine import ModelCache, Renderer
from conftest import run_cli as run

ROOT = Path(__file__).resolve().parents[1]



def reference(path: Path, seed: int, truncation: float = 1.0) -> np.ndarray:
    """What the engine renders for this seed, independently of the CLI."""
    import torch

    g = ModelCache(torch.device("cpu")).get(path)
    frame = Renderer().render(g, Recipe(ModelRef(str(path)), SeedLatent(seed), truncation))
    assert frame.ok, frame.error
    return frame.image


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latent-studio: error: ")
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]


def no_leftovers(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


# -- info --------------------------------------------------------------------------------------------
def test_info_text_names_family_shape_and_layers(tiny_dcgan_path: Path, capsys) -> None:
    code, out, err = run(capsys, "info", tiny_dcgan_path)
    assert code == 0, err
    assert "dcgan" in out and "32x32" in out and "normal" in out
    assert hashlib.sha256(tiny_dcgan_path.read_bytes()).hexdigest() in out
    assert "3 x 32 x 32" in out and "32 x 4 x 4" in out  # first and last stage outputs of the tiny net


def test_info_json_reports_stage_shapes_from_a_forward_pass(tiny_dcgan_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "info", tiny_dcgan_path, "--json")
    assert code == 0
    d = json.loads(out)
    assert (d["family"], d["resolution"], d["z_dim"], d["channels"]) == ("dcgan", 32, 16, 3)
    assert d["sha256"] == hashlib.sha256(tiny_dcgan_path.read_bytes()).hexdigest()
    assert {"walk", "features"} <= set(d["capabilities"])
    shapes = [tuple(layer["shape"]) for layer in d["layers"]]
    assert shapes == [(32, 4, 4), (16, 8, 8), (8, 16, 16), (3, 32, 32)]
    assert [layer["name"] for layer in d["layers"]] == d["layer_names"]


# -- render ------------------------------------------------------------------------------------------
def test_render_png_equals_engine_output(tiny_dcgan_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a.png"
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--seed", "3", "--truncation", "0.7", "--out", out)
    assert code == 0, err
    img = read_png(out)
    assert img.shape == (32, 32, 3)
    assert np.array_equal(img, reference(tiny_dcgan_path, 3, 0.7))
    assert not np.array_equal(img, reference(tiny_dcgan_path, 4, 0.7))
    no_leftovers(tmp_path)


def test_contact_sheet_tiles_seeds_in_order(tiny_dcgan_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sheet.png"
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--seeds", "0-15", "--grid", "4x4", "--out", out)
    assert code == 0, err
    sheet = read_png(out)
    assert sheet.shape == (4 * 32, 4 * 32, 3)
    for seed in (0, 6, 15):  # batch and single renders may differ by float rounding, never by a tile
        row, col = divmod(seed, 4)
        tile = sheet[row * 32:(row + 1) * 32, col * 32:(col + 1) * 32].astype(int)
        assert np.abs(tile - reference(tiny_dcgan_path, seed)).max() <= 1


def test_scale_is_nearest_upscale(tiny_dcgan_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "big.png"
    assert run(capsys, "render", tiny_dcgan_path, "--seed", "2", "--scale", "3", "--out", out)[0] == 0
    big = read_png(out)
    assert big.shape == (96, 96, 3)
    small = reference(tiny_dcgan_path, 2)
    assert np.array_equal(big[::3, ::3], small) and np.array_equal(big[2::3, 2::3], small)


def test_recipe_round_trip_re_renders_identical_pixels(tiny_dcgan_path: Path, tmp_path: Path, capsys) -> None:
    first, recipe, again = tmp_path / "a.png", tmp_path / "r.json", tmp_path / "b.png"
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--seed", "11", "--truncation", "0.5",
                       "--out", first, "--save-recipe", recipe)
    assert code == 0, err
    saved = Recipe.from_json(recipe.read_text())
    assert saved.latent == SeedLatent(11) and saved.truncation == 0.5
    assert Path(saved.model.path) == tiny_dcgan_path.resolve()
    assert saved.model.sha256 == hashlib.sha256(tiny_dcgan_path.read_bytes()).hexdigest()
    code, _, err = run(capsys, "render", "--recipe", recipe, "--out", again)
    assert code == 0, err
    assert np.array_equal(read_png(again), read_png(first))


def test_recipe_with_walk_and_model_override(tiny_dcgan_path: Path, tiny_dcgan_safetensors: Path,
                                             tmp_path: Path, capsys) -> None:
    walk = Recipe(ModelRef(str(tiny_dcgan_path)), SeedLatent(5)).with_walk("pca:0", (1.0,) + (0.0,) * 15, 2.0)
    recipe = tmp_path / "walk.json"
    recipe.write_text(walk.to_json())
    out, other = tmp_path / "walk.png", tmp_path / "other.png"
    assert run(capsys, "render", "--recipe", recipe, "--out", out)[0] == 0
    assert not np.array_equal(read_png(out), reference(tiny_dcgan_path, 5))  # the walk moved the image
    code, _, err = run(capsys, "render", "--recipe", recipe, "--model", tiny_dcgan_safetensors,
                       "--out", other)
    assert code == 0, err
    assert not np.array_equal(read_png(other), read_png(out))  # same recipe, another model's weights


def test_existing_output_needs_force(tiny_dcgan_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a.png"
    assert run(capsys, "render", tiny_dcgan_path, "--seed", "1", "--out", out)[0] == 0
    before = out.read_bytes()
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--seed", "2", "--out", out)
    assert_one_line_error(code, err, "already exists", "--force")
    assert out.read_bytes() == before
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--seed", "2", "--out", out, "--force")
    assert code == 0, err
    assert np.array_equal(read_png(out), reference(tiny_dcgan_path, 2))
    no_leftovers(tmp_path)


# -- bad input ---------------------------------------------------------------------------------------
def _text_file(tmp: Path, good: Path) -> tuple[list[str], str]:
    p = tmp / "notes.pth"
    p.write_text("these are not weights\n")
    return ["render", str(p)], "not a generator checkpoint"


def _truncated(tmp: Path, good: Path) -> tuple[list[str], str]:
    p = tmp / "cut.pth"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return ["render", str(p)], "truncated or corrupt"


def _directory(tmp: Path, good: Path) -> tuple[list[str], str]:
    (tmp / "folder.pth").mkdir()
    return ["render", str(tmp / "folder.pth")], "is a folder"


def _missing(tmp: Path, good: Path) -> tuple[list[str], str]:
    return ["render", str(tmp / "nope.pth")], "no such checkpoint file"


def _newer_recipe(tmp: Path, good: Path) -> tuple[list[str], str]:
    d = Recipe(ModelRef(str(good)), SeedLatent(1)).to_dict()
    d["schema"] = SCHEMA_VERSION + 1
    p = tmp / "future.json"
    p.write_text(json.dumps(d))
    return ["render", "--recipe", str(p)], "newer"


def _bad_seeds(tmp: Path, good: Path) -> tuple[list[str], str]:
    return ["render", str(good), "--seeds", "9-3"], "--seeds"


@pytest.mark.parametrize("case", [_text_file, _truncated, _directory, _missing, _newer_recipe, _bad_seeds],
                         ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_one_line_and_exit_2(case, tiny_dcgan_path: Path, tmp_path: Path, capsys) -> None:
    argv, fragment = case(tmp_path, tiny_dcgan_path)
    out = tmp_path / "never.png"
    assert_one_line_error(*run(capsys, *argv, "--out", out)[::2], fragment)
    assert not out.exists()
    no_leftovers(tmp_path)


def test_info_of_a_text_file_is_one_line(tmp_path: Path, capsys) -> None:
    p = tmp_path / "readme.txt"
    p.write_text("hello")
    assert_one_line_error(*run(capsys, "info", p)[::2], "readme.txt")


def test_grid_too_small_for_seeds_is_refused(tiny_dcgan_path: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--seeds", "0-9", "--grid", "3x3",
                       "--out", tmp_path / "s.png")
    assert_one_line_error(code, err, "3x3", "10")


def test_unexpected_failure_is_one_line_with_a_debug_hint(tiny_dcgan_path: Path, monkeypatch, capsys) -> None:
    import studio.cli.info

    def broken(ns):  # a bug, not a user error
        raise RuntimeError("internal mix-up")

    monkeypatch.setattr(studio.cli.info, "cmd_info", broken)
    code, _, err = run(capsys, "info", tiny_dcgan_path)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "RuntimeError: internal mix-up" in err and "--debug" in err
    code, _, err = run(capsys, "info", tiny_dcgan_path, "--debug")
    assert code == 1 and "Traceback" in err and "internal mix-up" in err


def test_parse_seeds_ranges_and_lists() -> None:
    assert parse_seeds("0-3,7,9") == [0, 1, 2, 3, 7, 9]
    assert parse_seeds("5") == [5]
    for bad in ("3-1", "a", "1,,2", "-4"):
        with pytest.raises(Exception):
            parse_seeds(bad)


# -- the GUI hand-off ----------------------------------------------------------------------------------
def test_no_arguments_or_a_path_opens_the_gui(tiny_dcgan_path: Path, monkeypatch, capsys) -> None:
    calls = []
    fake = types.ModuleType("studio.ui.app")
    fake.run_app = lambda argv, path=None: calls.append(path) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "studio.ui.app", fake)
    assert main([]) == 0
    assert main([str(tiny_dcgan_path)]) == 0
    assert calls == [None, str(tiny_dcgan_path)]
    assert_one_line_error(*run(capsys, "inffo")[::2], "neither a command")  # a typo is not opened as a file
    assert len(calls) == 2


# -- the installed entry point --------------------------------------------------------------------------
def test_python_dash_m_studio_runs_the_cli(tiny_dcgan_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "studio", "info", str(tiny_dcgan_path), "--json"],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["resolution"] == 32


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_latent_studio_device_cuda_without_cuda_is_one_line_and_exit_2(tiny_dcgan_path: Path, tmp_path: Path,
                                                                         monkeypatch, capsys) -> None:
    import os

    env = {**os.environ, "LATENT_STUDIO_DEVICE": "cuda"}
    out = tmp_path / "x.png"
    res = subprocess.run([sys.executable, "-m", "studio", "render", str(tiny_dcgan_path), "--seeds", "1",
                          "--out", str(out)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert_one_line_error(res.returncode, res.stderr, "CUDA was requested (LATENT_STUDIO_DEVICE=cuda) but no "
                          "CUDA device is available", "unset LATENT_STUDIO_DEVICE")
    assert not out.exists()
    monkeypatch.setenv("LATENT_STUDIO_DEVICE", "gpu0")  # a typo is named too, not a torch parse error
    assert_one_line_error(*run(capsys, "render", tiny_dcgan_path, "--seeds", "1", "--out", out)[::2],
                          "'gpu0' is not a device (LATENT_STUDIO_DEVICE=gpu0)")
    monkeypatch.setenv("LATENT_STUDIO_DEVICE", "cpu")
    assert run(capsys, "render", tiny_dcgan_path, "--seeds", "1", "--out", out)[0] == 0 and out.exists()


def test_plugins_lists_the_families_and_dropin_problems(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('needs a library that is not installed')\n")
    monkeypatch.setenv("LATENT_STUDIO_PLUGIN_PATH", str(tmp_path))
    code, out, err = run(capsys, "plugins", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert "DCGAN" in [p["name"] for p in report["plugins"]]
    assert report["search_paths"][0] == {"path": str(tmp_path), "exists": True}
    assert any("broken_plugin.py" in p and "needs a library" in p for p in report["problems"])


def test_train_refuses_an_unknown_family(capsys) -> None:
    code, _, err = run(capsys, "train", "biggan")
    assert_one_line_error(code, err, "no trainer for 'biggan'")
