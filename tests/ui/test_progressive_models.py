"""PGGAN and StyleGAN1 in the real main window: the Settings picker (scale, step, fade-in alpha) and StyleGAN1
style mixing through the Style mixing panel, checked against the fixtures' official references."""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QLabel

from studio.core.recipe import VectorLatent
from studio.core.style_edits import Mix
from studio.render.engine import Renderer
from tests.conftest import shared_path
from tests.plugins.test_progressive_conformance import with_fixture_noise

from .helpers import drag_slider, drop_files

pytestmark = pytest.mark.shared


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        drop_files(window, [path])
    return window


def test_stylegan1_mixing_range_through_the_style_mixing_panel(qtbot, window):
    folder = shared_path("fixtures", "stylegan1_rosinality")
    w = _open(qtbot, window, folder / "train_step-4.model")
    s, panel = w.session, w.style_mix_panel
    g = s.generator
    assert g.info.family == "stylegan1" and w.docks["style_mix"].isVisible() and panel.isEnabled()
    # one style input per block, labelled by the resolution it modulates
    assert panel.num_ws == 4 and len(panel.radios) == 4
    sizes = [m.group(1) for lab in panel.matrix_host.findChildren(QLabel)
             if (m := re.match(r"(\d+x\d+)\b", lab.text()))]
    assert sizes == ["4x4", "8x8", "16x16", "32x32"]
    assert not panel.rotate.isVisibleTo(panel) and panel.noise.isVisibleTo(panel)
    # the base (A) is the fixture's z (as an opened recipe would set it), psi 0.7 on the latent panel's slider
    z, z_source, ref = (np.load(folder / f"{n}.npy") for n in ("z", "z_source", "out_mix_range01_psi07"))
    k = 2
    s.edit(replace(s.recipe, latent=VectorLatent(tuple(float(v) for v in z[k]))), "Open the fixture's latent")
    drag_slider(w.latent_panel.truncation, [0.9, 0.7])
    assert s.recipe.truncation == pytest.approx(0.7)
    before = w.canvas.image().copy()
    # generate.py's style_mixing(mixing_range=(0, 1)): the 4x4 and 8x8 blocks from the source (B)
    panel.radios[0][1].click()
    panel.radios[1][1].click()
    b_seed = panel.source_seeds[0].value()
    mixes = [e for e in s.recipe.edits if isinstance(e, Mix)]
    assert mixes == [Mix("mix:rows:0-1", (0, 2), seed=b_seed)]
    shown = w.canvas.image()
    assert not np.array_equal(shown, before)
    assert np.array_equal(shown, Renderer().render(g, s.recipe).image)
    # The recipe the panel built, with the fixture's source code and saved noise images in place of seed B and
    # the studio's noise, is the official mixing output.
    source = tuple(float(v) for v in z_source[k])
    official = replace(s.recipe, edits=(replace(mixes[0], seed=-1, values=source),))
    out = with_fixture_noise(g, [official], [torch.from_numpy(np.load(folder / f"noise_{i}.npy"))[k:k + 1]
                                             for i in range(4)])
    err = float(np.abs(out[0].numpy() - ref[k]).max())
    assert np.allclose(out[0].numpy(), ref[k], rtol=1e-5, atol=1e-4), err
    s.undo()
    s.undo()
    assert np.array_equal(w.canvas.image(), before)


def test_settings_pick_a_pggan_scale_and_alpha(qtbot, window):
    folder = shared_path("fixtures", "pggan_gan_zoo")
    w = _open(qtbot, window, folder / "pgan_tiny_s3_i12000.pt")
    s, box = w.session, w.model_panel.choices
    assert box.isVisibleTo(w.model_panel) and set(box.editors) == {"network", "scale", "alpha"}
    assert box.editors["scale"].currentText() == "3" and box.editors["alpha"].value() == 0.25
    assert "fade-in alpha" in box.notes["alpha"].text()
    full = w.canvas.image().copy()
    assert full.shape[:2] == (32, 32)
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        box.editors["scale"].textActivated.emit("1")
    assert s.generator.info.resolution == 8 and w.canvas.image().shape[:2] == (8, 8)
    assert w.model_panel.fields["resolution"].text().startswith("8 × 8")
    assert w.model_panel.choices.editors["scale"].currentText() == "1"
    assert w.model_panel.choices.notes["scale"].text().startswith("picked")
    assert np.array_equal(w.canvas.image(), Renderer().render(s.generator, s.recipe).image)
    with qtbot.waitSignal(s.frameReady, timeout=20000):  # back to the file's scale: the same model and image
        w.model_panel.choices.editors["scale"].textActivated.emit("3")
    assert np.array_equal(w.canvas.image(), full)
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        w.model_panel.choices.editors["alpha"].setValue(1.0)  # only the previous scale, upscaled
    img = w.canvas.image()
    assert s.generator.model_id.endswith("#alpha=1") and not np.array_equal(img, full)
    assert (img[0::2, 0::2] == img[1::2, 1::2]).all()  # the 16 px toRGB, each pixel repeated 2x2


def test_settings_pick_a_stylegan1_step(qtbot, window):
    folder = shared_path("fixtures", "stylegan1_rosinality")
    w = _open(qtbot, window, folder / "train_step-4.model")
    s, box = w.session, w.model_panel.choices
    assert box.editors["step"].currentText() == "3"
    assert "from the name train_step-4" in box.notes["step"].text()
    assert box.editors["alpha"].value() == 1.0 and "does not record it" in box.notes["alpha"].text()
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        box.editors["step"].textActivated.emit("2")
    assert s.generator.info.resolution == 16 and w.style_mix_panel.num_ws == 3
    assert w.canvas.image().shape[:2] == (16, 16)
    assert np.array_equal(w.canvas.image(), Renderer().render(s.generator, s.recipe).image)
