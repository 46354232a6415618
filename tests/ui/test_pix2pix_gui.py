"""pix2pix / CycleGAN fixtures in the window: the photo workspace without labels, the official run mode and
its alternative, a CycleGAN pair's cycle, and a unit drop on a ResNet block (pytest-qt)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_path
from studio.core.photo import DEFAULT_CROP, ImageLatent, open_photo, photo_tensor
from studio.core.units import unit_edits
from studio.model.registry import Registry
from studio.render.engine import to_uint8

from .helpers import drop_files
from .test_attributes_panel import save_photo


def _open(qtbot, window, ckpt: Path):
    with qtbot.waitSignal(window.session.modelChanged, timeout=20000):
        drop_files(window, [ckpt])
    return window


def _photo(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        drop_files(window, [path])


def _expected(g, photo: Path, **kw) -> np.ndarray:
    x = photo_tensor(open_photo(photo), DEFAULT_CROP, g.info.resolution)
    return to_uint8(g.translate(g.model_input(x), **kw))[0]


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_pix2pix_photo_to_translated_frame_in_both_modes(qtbot, window, tmp_path):
    ckpt = shared_path("fixtures", "pix2pix_junyanz", "unet_128", "latest_net_G.pth")
    w = _open(qtbot, window, ckpt)
    assert w.stack.currentWidget() is w.photo_view and w.banner.text() == ""
    panel = w.attributes_panel
    assert panel.attr_box.isHidden() and panel.mark_source.isHidden()  # no labels to set
    assert not w.docks["attributes"].isHidden() and w.docks["attributes"].windowTitle() == "Photo"
    choices = w.model_panel.choices
    assert choices.editors["mode"].currentText() == "as trained"
    assert "official default" in choices.notes["mode"].text()
    photo = save_photo(tmp_path / "facade.png", 90, 70)
    _photo(qtbot, w, photo)
    g = w.session.generator
    assert isinstance(w.session.recipe.latent, ImageLatent)
    after = w.photo_view.result.after.copy()
    assert after.shape == (128, 128, 3) and _close(after, _expected(g, photo))
    assert panel.crop_size.isEnabled() and panel.photo_label.text().startswith("facade.png")
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        panel._edit_crop((0.4, 0.5, 0.6), False)  # what a crop slider or a drag of the square does
    x = photo_tensor(open_photo(photo), w.session.recipe.latent.crop, 128)
    assert _close(w.photo_view.result.after, to_uint8(g.translate(x))[0])
    w.session.undo()
    assert _close(w.photo_view.result.after, after)
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        assert choices.pick("mode", "eval")
    eval_frame = w.photo_view.result.after.copy()
    assert w.session.generator.mode == "eval" and w.session.recipe.latent.path == str(photo.resolve())
    assert _close(eval_frame, _expected(g, photo, mode="eval")) and not _close(eval_frame, after)


@pytest.fixture
def pair(tmp_path) -> Path:
    from studio.model.safeload import load_torch

    src = shared_path("fixtures", "cyclegan_junyanz", "resnet_6blocks", "latest_net_G_A.pth")
    folder = tmp_path / "h2z"
    folder.mkdir()
    for side, seed in (("A", 1), ("B", 2)):
        gen = torch.Generator().manual_seed(seed)
        sd = {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in load_torch(src).items()}
        torch.save(sd, folder / f"latest_net_G_{side}.pth")
    return folder / "latest_net_G_A.pth"


def test_cyclegan_cycle_view_and_a_unit_drop_on_a_resnet_block(qtbot, window, pair, tmp_path):
    w = _open(qtbot, window, pair)
    photo = save_photo(tmp_path / "horse.png", 64, 64)
    _photo(qtbot, w, photo)
    forward = w.photo_view.result.after.copy()
    reg = Registry.discover(search_paths=[])
    g_a, g_b = reg.open(pair), reg.open(pair.with_name("latest_net_G_B.pth"))
    assert _close(forward, _expected(g_a, photo))
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        assert w.model_panel.choices.pick("direction", "A->B->A")
    cycle = w.photo_view.result.after.copy()
    x = photo_tensor(open_photo(photo), DEFAULT_CROP, 256)
    assert _close(cycle, to_uint8(g_b.translate(g_a.translate(x)))[0])
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        assert w.model_panel.choices.pick("direction", "A->B")
    fp = w.feature_panel
    fp.set_layer("res3")
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        fp.drop_selected(list(range(16)))
    dropped = w.photo_view.result.after.copy()
    assert [e.layer for e in unit_edits(w.session.recipe)] == ["res3"]
    assert not _close(dropped, forward)
    w.session.undo()
    assert _close(w.photo_view.result.after, forward)


def test_a_grayscale_pix2pix_shows_what_it_reads(qtbot, window, tmp_path):
    ckpt = shared_path("fixtures", "pix2pix_junyanz", "unet_256", "latest_net_G.pth")  # 1 channel in and out
    w = _open(qtbot, window, ckpt)
    photo = save_photo(tmp_path / "colour.png", 80, 60)
    _photo(qtbot, w, photo)
    before, after = w.photo_view.result.before, w.photo_view.result.after
    assert before.shape == after.shape == (256, 256, 3)
    assert (before[..., 0] == before[..., 2]).all() and (after[..., 0] == after[..., 1]).all()
    assert _close(after, _expected(w.session.generator, photo))
