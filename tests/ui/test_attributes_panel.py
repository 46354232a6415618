"""The attribute panel on a small StarGAN v1 of our own: photos, crops, toggles, strengths, undo, wipe."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from latent_studio_plugins.stargan.network import StarGANConfig, StarGANv1
from studio.core.attributes import attribute_values
from studio.core.photo import DEFAULT_CROP, ImageLatent, open_photo, photo_tensor
from studio.render.engine import to_uint8

from .helpers import drag_slider, drop_files

NAMES = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
SIZE = 32


def save_tiny_stargan(folder: Path, seed: int = 0) -> Path:
    """A random StarGAN v1 (conv_dim 8, 5 labels) in the yunjey layout, 32 px by its sidecar."""
    torch.manual_seed(seed)
    net = StarGANv1(StarGANConfig(8, 5, 2))
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith(("weight", "bias")) and t.ndim == 1:
                t.add_(torch.randn_like(t) * 0.2)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "1000-G.ckpt"
    torch.save(net.state_dict(), path)
    (folder / "attributes.json").write_text(json.dumps({"attributes": NAMES, "image_size": SIZE}))
    return path


def save_photo(path: Path, w: int = 60, h: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, np.full_like(xx, 128.0)], -1)
    noise = rng.normal(0, 20, (h, w, 3))
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def stargan(qtbot, window, tmp_path):
    ckpt = save_tiny_stargan(tmp_path / "model")
    with qtbot.waitSignal(window.session.modelChanged, timeout=10000):
        drop_files(window, [ckpt])
    return window


@pytest.fixture
def with_photo(qtbot, stargan, tmp_path):
    photo = save_photo(tmp_path / "face.png")
    with qtbot.waitSignal(stargan.session.frameReady, timeout=10000):
        drop_files(stargan, [photo])
    return stargan, photo


def expected(g, photo: Path, labels, crop=DEFAULT_CROP) -> np.ndarray:
    x = photo_tensor(open_photo(photo), crop, SIZE)
    return to_uint8(g.translate(x, labels))[0]


def shown(w) -> np.ndarray:
    return w.photo_view.result.after


def test_opening_a_translator_shows_the_attribute_panel_and_waits_for_a_photo(stargan):
    w = stargan
    assert not w.docks["attributes"].isHidden()
    assert all(w.docks[k].isHidden() for k in ("seeds", "latent", "walk"))
    assert w.stack.currentWidget() is w.photo_view
    assert w.banner.text() == ""  # no error for a model that simply has no photo yet
    panel = w.attributes_panel
    assert [r.button.text() for r in panel.rows] == [n.replace("_", " ") for n in NAMES]
    assert not panel.view.photo.has_photo() and panel.style_box.isHidden()  # v1 has no style input


def test_toggle_renders_the_translation_with_official_semantics_and_undo(qtbot, with_photo):
    w, photo = with_photo
    s, panel = w.session, w.attributes_panel
    g = s.generator
    assert isinstance(s.recipe.latent, ImageLatent) and s.recipe.latent.crop == DEFAULT_CROP
    start = shown(w).copy()
    assert np.abs(start.astype(int) - expected(g, photo, [0, 0, 0, 0, 0]).astype(int)).max() <= 1

    rows = panel.rows
    rows[1].button.click()  # Blond_Hair
    blond = shown(w).copy()
    assert attribute_values(s.recipe, 5) == (0, 1, 0, 0, 0)
    assert not np.array_equal(blond, start)
    assert np.abs(blond.astype(int) - expected(g, photo, [0, 1, 0, 0, 0]).astype(int)).max() <= 1
    assert rows[1].button.isChecked()

    rows[0].button.click()  # Black_Hair: hair colours are exclusive
    assert attribute_values(s.recipe, 5) == (1, 0, 0, 0, 0)
    assert rows[0].button.isChecked() and not rows[1].button.isChecked()
    assert rows[1].strength.value() == 0.0
    rows[0].button.click()  # a selected hair colour stays selected, as in the official test
    assert attribute_values(s.recipe, 5) == (1, 0, 0, 0, 0)
    rows[3].button.click()  # Male flips on, then off
    assert attribute_values(s.recipe, 5) == (1, 0, 0, 1, 0)
    male = shown(w).copy()
    assert np.abs(male.astype(int) - expected(g, photo, [1, 0, 0, 1, 0]).astype(int)).max() <= 1
    rows[3].button.click()
    assert attribute_values(s.recipe, 5) == (1, 0, 0, 0, 0) and not rows[3].button.isChecked()

    s.undo()  # Male back on: the very same frame
    assert np.array_equal(shown(w), male) and rows[3].button.isChecked()
    s.undo()
    s.undo()  # back to blond
    assert np.array_equal(shown(w), blond)
    assert rows[1].button.isChecked() and not rows[0].button.isChecked()


def test_strength_slider_blends_and_marks_exaggeration(qtbot, with_photo):
    w, photo = with_photo
    s, rows = w.session, w.attributes_panel.rows
    before = s.history.count
    drag_slider(rows[3].strength, [0.4, 1.2, 1.6])  # one drag, one undo step
    assert s.history.count == before + 1
    assert attribute_values(s.recipe, 5)[3] == pytest.approx(1.6)
    assert not rows[3].mark.isHidden() and rows[3].button.isChecked()
    assert np.abs(shown(w).astype(int) - expected(s.generator, photo, [0, 0, 0, 1.6, 0]).astype(int)).max() <= 1
    drag_slider(rows[3].strength, [0.7])
    assert rows[3].mark.isHidden()
    rows[3].button.click()
    rows[3].button.click()  # back on at the strength the user chose, not 1
    assert attribute_values(s.recipe, 5)[3] == pytest.approx(0.7)
    drag_slider(rows[2].strength, [0.6])  # a hair colour's strength clears the others too
    rows[0].button.click()
    assert attribute_values(s.recipe, 5)[:3] == (1, 0, 0)


def test_crop_moves_by_sliders_and_by_dragging_the_photo(qtbot, with_photo):
    w, photo = with_photo
    s, panel = w.session, w.attributes_panel
    drag_slider(panel.crop_size, [0.8, 0.6])
    drag_slider(panel.crop_x, [0.3])
    crop = s.recipe.latent.crop
    assert crop[2] == pytest.approx(0.6) and crop[0] == pytest.approx(0.3)
    assert np.abs(shown(w).astype(int) - expected(s.generator, photo, [0] * 5, crop).astype(int)).max() <= 1
    # dragging the square on the photo moves the crop centre, as one undo step
    pane = panel.view.photo
    steps = s.history.count
    c = pane.crop_rect().center().toPoint()
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=c)
    qtbot.mouseMove(pane, c + QPoint(10, 0))
    qtbot.mouseMove(pane, c + QPoint(20, 5))
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=c + QPoint(20, 5))
    moved = s.recipe.latent.crop
    assert moved[0] > crop[0] and moved[1] > crop[1] and moved[2] == pytest.approx(0.6)
    assert s.history.count == steps + 1
    assert panel.crop_x.value() == pytest.approx(moved[0], abs=0.01)
    s.undo()
    assert s.recipe.latent.crop == crop


def test_wipe_reveals_the_model_input_over_the_result(with_photo):
    w, photo = with_photo
    pane = w.photo_view.result
    inp = to_uint8(photo_tensor(open_photo(photo), DEFAULT_CROP, SIZE))[0]
    w.photo_view.set_wipe(0.0)
    assert np.array_equal(pane.composite(), pane.after)
    w.photo_view.set_wipe(1.0)
    assert np.array_equal(pane.composite(), inp)
    w.photo_view.set_wipe(0.5)
    half = pane.composite()
    assert np.array_equal(half[:, :16], inp[:, :16]) and np.array_equal(half[:, 16:], pane.after[:, 16:])


@pytest.mark.parametrize("kind, message", [
    ("text", "not an image"), ("truncated", "truncated or corrupt"), ("tiny", "at least 32"),
    ("huge", "over 8000 pixels"),
])
def test_a_bad_photo_keeps_the_previous_one_and_says_why(qtbot, with_photo, tmp_path, kind, message):
    w, photo = with_photo
    s = w.session
    w.attributes_panel.rows[1].button.click()
    recipe, frame, steps = s.recipe, shown(w).copy(), s.history.count
    bad = tmp_path / f"bad_{kind}.png"
    if kind == "text":
        bad.write_text("not a photo at all")
    elif kind == "truncated":
        data = save_photo(tmp_path / "full.png", 200, 200).read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "tiny":
        save_photo(bad, 20, 20)
    else:
        Image.new("RGB", (8100, 40)).save(bad)
    drop_files(w, [bad])
    assert message in w.banner.text() and "unchanged" in w.banner.text()
    assert s.recipe == recipe and s.history.count == steps
    assert np.array_equal(shown(w), frame)
    assert w.attributes_panel.photo_label.text().startswith(photo.name)


def test_dropping_a_checkpoint_still_opens_a_model_and_keeps_the_photo(qtbot, with_photo, tmp_path):
    w, photo = with_photo
    other = save_tiny_stargan(tmp_path / "other", seed=1)
    with qtbot.waitSignal(w.session.frameReady, timeout=10000):
        drop_files(w, [other])
    assert w.session.model_path == other
    assert w.session.recipe.latent.path == str(photo.resolve())
    assert np.abs(shown(w).astype(int) - expected(w.session.generator, photo, [0] * 5).astype(int)).max() <= 1


def test_a_dcgan_hides_the_attribute_panel(qtbot, window, tiny_dcgan_path):
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [tiny_dcgan_path])
    assert window.docks["attributes"].isHidden() and not window.docks["seeds"].isHidden()
    assert window.stack.currentWidget() is window.canvas


def test_stargan_v2_domains_and_style_seed_or_reference(qtbot, window, tmp_path):
    from latent_studio_plugins.stargan.network_v2 import PARTS, StarGANv2Config, build
    from studio.core.latents import seed_to_z
    from studio.core.photo import latent_tensor, style_source

    cfg = StarGANv2Config(img_size=32, style_dim=16, latent_dim=8, num_domains=3, w_hpf=0.0, max_conv_dim=32,
                          dim_in=8)
    torch.manual_seed(2)
    nets = build(cfg)
    (tmp_path / "v2").mkdir()
    path = tmp_path / "v2" / "050000_nets_ema.ckpt"
    torch.save({n: net.state_dict() for n, net in zip(PARTS, nets)}, path)
    (path.parent / "attributes.json").write_text(json.dumps(["cat", "dog", "fox"]))
    photo, ref = save_photo(tmp_path / "p.png"), save_photo(tmp_path / "r.png", 40, 40, seed=5)
    with qtbot.waitSignal(window.session.modelChanged, timeout=10000):
        drop_files(window, [path])
    panel, s = window.attributes_panel, window.session
    assert not panel.style_box.isHidden()
    drop_files(window, [photo])
    assert attribute_values(s.recipe, 3) == (1, 0, 0) and panel.rows[0].button.isChecked()  # what renders
    g = s.generator
    x = photo_tensor(open_photo(photo), DEFAULT_CROP, 32)

    def want(labels, **kw):
        return to_uint8(g.translate(x, labels, **kw))[0]

    panel.rows[1].button.click()
    panel.rows[2].button.click()  # one domain at a time
    assert attribute_values(s.recipe, 3) == (0, 0, 1)
    panel.style_seed.setValue(5)
    z = torch.from_numpy(seed_to_z(5, 8, "normal"))[None]
    assert np.abs(shown(window).astype(int) - want([0, 0, 1], z=z).astype(int)).max() <= 1
    assert panel.set_reference(ref)
    assert style_source(s.recipe).seed == 5 and style_source(s.recipe).path == str(ref.resolve())
    r = latent_tensor(style_source(s.recipe).reference(), 32)
    assert np.abs(shown(window).astype(int) - want([0, 0, 1], reference=r).astype(int)).max() <= 1
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    recipe = s.recipe
    assert not panel.set_reference(bad) and s.recipe == recipe and "style is unchanged" in window.banner.text()
    panel.clear_reference.click()
    assert style_source(s.recipe).path == "" and not panel.clear_reference.isEnabled()
    assert np.abs(shown(window).astype(int) - want([0, 0, 1], z=z).astype(int)).max() <= 1
    s.undo()
    assert style_source(s.recipe).path == str(ref.resolve()) and panel.clear_reference.isEnabled()


def test_feature_view_waits_for_a_photo_then_shows_its_maps(qtbot, stargan, tmp_path):
    """A translator opened without a photo: the Features dock says what to do, no background job fails."""
    panel, errors = stargan.feature_panel, []
    stargan.session.error.connect(errors.append)
    stargan.docks["features"].raise_()
    qtbot.wait(50)
    assert panel.maps is None and "Open a photo" in panel.message.text()
    with qtbot.waitSignal(panel.tilesReady, timeout=10000):
        drop_files(stargan, [save_photo(tmp_path / "face.png")])
    assert panel.maps is not None and panel.maps.ndim == 3 and not panel.message.isVisible()
    assert errors == []
