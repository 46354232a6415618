"""Saved images at a useful size per model, smooth upscaling by default, and PNGs that restore their recipe."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from studio.bundled import resolve_demo
from studio.core.recipe import SeedLatent
from studio.export.png_recipe import read_png_recipe
from studio.export.writers import upscale
from studio.ui.main_window import MainWindow

from .helpers import drop_files

DCGAN, STYLEGAN = resolve_demo("demo:dcgan"), resolve_demo("demo:stylegan2")


def _open(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        assert drop_files(window, [path]) == (True, True)


def test_smooth_is_the_default_and_the_users_choice_is_remembered(qtbot, session, settings, tmp_path):
    w = MainWindow(session, settings, checkpoints=tmp_path)
    qtbot.addWidget(w)
    assert w.canvas.smooth() and w.actions_by_name["smooth"].isChecked()
    assert settings.value("view/upscaling") is None  # nothing written until the user picks
    w.actions_by_name["nearest"].trigger()
    assert not w.canvas.smooth() and settings.value("view/upscaling") == "nearest"
    again = MainWindow(session, settings, checkpoints=tmp_path)
    qtbot.addWidget(again)
    assert not again.canvas.smooth() and again.actions_by_name["nearest"].isChecked()


def test_save_image_defaults_to_x4_and_remembers_the_size_per_model(qtbot, window, tmp_path):
    _open(qtbot, window, DCGAN)
    frame = window.session.last_frame.image
    assert window.save_image(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as im:
        saved = np.asarray(im.convert("RGB"))
    assert saved.shape == (256, 256, 3)  # the 64 px demo at x4, smooth as the view
    assert np.array_equal(saved, upscale(frame[None], 4, True)[0])
    window.set_save_scale(2)  # File > Save image size > x2, for this model
    window.set_smooth(False)
    assert window.save_image(tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), frame.repeat(2, 0).repeat(2, 1))
    _open(qtbot, window, STYLEGAN)
    assert window.save_scale() == 4  # another model: its own default
    _open(qtbot, window, DCGAN)
    assert window.save_scale() == 2  # the DCGAN's choice came back with its workspace
    window._fill_save_size_menu()
    checked = [a.text() for a in window.save_size_menu.actions() if a.isChecked()]
    assert checked == ["×2 (128×128 px)"]


def test_dropping_a_studio_png_restores_its_recipe_and_opens_its_model(qtbot, window, tmp_path):
    s = window.session
    _open(qtbot, window, DCGAN)
    s.edit(s.recipe.with_seed(7).with_truncation(0.6), "seed 7")
    qtbot.waitUntil(lambda: s.last_frame is not None and s.last_frame.recipe == s.recipe, timeout=10000)
    wanted, pixels = s.recipe, s.last_frame.image
    png = tmp_path / "seed7.png"
    assert window.save_image(png)
    assert read_png_recipe(png) == wanted

    s.edit(s.recipe.with_seed(3), "seed 3")
    before = s.history.index
    assert drop_files(window, [png]) == (True, True)
    qtbot.waitUntil(lambda: s.recipe == wanted, timeout=10000)
    assert s.history.index == before + 1  # one undo step
    qtbot.waitUntil(lambda: s.last_frame.recipe == wanted, timeout=10000)
    assert np.array_equal(s.last_frame.image, pixels)

    s.edit(s.recipe.with_seed(4), "seed 4")
    window.open_path(png)  # what File > Open does with the file chosen
    qtbot.waitUntil(lambda: s.recipe == wanted, timeout=10000)

    _open(qtbot, window, STYLEGAN)  # another model open: the drop opens the DCGAN and restores the image
    assert drop_files(window, [png]) == (True, True)
    qtbot.waitUntil(lambda: s.model_path == DCGAN and s.recipe == wanted, timeout=20000)
    assert s.generator.info.family == "dcgan"


def test_a_png_whose_model_is_gone_says_so_and_changes_nothing(qtbot, window, tmp_path):
    import shutil

    s = window.session
    moved = tmp_path / "gone" / "copy.safetensors"
    moved.parent.mkdir()
    shutil.copy(DCGAN, moved)
    _open(qtbot, window, moved)
    png = tmp_path / "pictures" / "face.png"
    png.parent.mkdir()
    assert window.save_image(png)
    shutil.rmtree(moved.parent)
    _open(qtbot, window, STYLEGAN)
    recipe = s.recipe
    assert drop_files(window, [png]) == (True, True)
    qtbot.wait(50)
    assert s.model_path == STYLEGAN and s.recipe == recipe
    text = window.banner.text()
    assert "copy.safetensors" in text and "open that checkpoint" in text and "--" not in text


def test_a_png_with_a_broken_recipe_is_refused_with_the_reason(qtbot, window, tmp_path):
    import json

    from PIL.PngImagePlugin import PngInfo

    _open(qtbot, window, DCGAN)
    info = PngInfo()
    info.add_text("latent-studio-recipe", json.dumps({"schema": 1, "model": {"path": str(DCGAN)},
                                                      "latent": {"type": "seed", "seed": -1}}))
    bad = tmp_path / "bad.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(bad, pnginfo=info)
    recipe = window.session.recipe
    assert drop_files(window, [bad]) == (True, True)
    assert window.session.recipe == recipe
    assert "seed must be a non-negative integer" in window.banner.text()
