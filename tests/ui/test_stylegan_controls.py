"""StyleGAN controls in the real main window: truncation cutoff, per-layer noise, SeFa / W+ walks, preview."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.recipe import Walk
from studio.core.style_edits import noise_strengths, truncation_cutoff
from studio.render.engine import Renderer

from .helpers import drop_files


@pytest.fixture
def loaded(qtbot, window, tmp_path: Path):
    torch.set_num_threads(1)
    path = tmp_path / "tiny_sg2.safetensors"
    save_stylegan(path, tiny_stylegan(resolution=64, seed=7), name="tiny")
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [path])
    return window


def _matches_renderer(w) -> bool:
    s = w.session
    return np.array_equal(w.canvas.image(), Renderer().render(s.generator, s.recipe).image)


def test_truncation_cutoff_spin_box_edits_the_recipe_and_undoes(loaded):
    w, s = loaded, loaded.session
    spin = w.latent_panel.cutoff
    assert spin.isVisibleTo(w.latent_panel) and spin.maximum() == s.generator.info.num_ws == 10
    assert spin.text() == "all"
    w.latent_panel.truncation.slider.setValue(0.4)
    spin.setValue(3)
    assert truncation_cutoff(s.recipe) == 3 and s.recipe.truncation == pytest.approx(0.4)
    assert _matches_renderer(w)
    ws = s.generator.context([s.recipe]).ws
    z = s.generator.latents([s.recipe.latent.seed])
    assert torch.equal(ws, s.generator.map(z, truncation=s.recipe.truncation, truncation_cutoff=3))
    s.undo()
    assert truncation_cutoff(s.recipe) is None and spin.value() == 0


def test_noise_panel_scales_one_layer(loaded):
    w, s = loaded, loaded.session
    panel = w.noise_panel
    assert w.docks["noise"].isVisibleTo(w)
    assert len(panel.rows) == len(s.generator.noise_layers()) == 9
    before = w.canvas.image().copy()
    panel.rows[0].slider.setValue(0.0)
    scales = noise_strengths(s.recipe)
    assert scales is not None and scales[0] == 0.0 and all(v == 1.0 for v in scales[1:])
    assert _matches_renderer(w) and not np.array_equal(w.canvas.image(), before)
    panel.reset_all()
    assert noise_strengths(s.recipe) is None and panel.rows[0].value() == 1.0
    assert np.array_equal(w.canvas.image(), before)


def test_sefa_walks_follow_the_chosen_style_inputs(qtbot, loaded):
    w, s = loaded, loaded.session
    panel = w.walk_panel
    assert panel.sefa.isVisibleTo(panel) and len(panel.sefa.rows) == panel.SEFA_K
    assert panel.layer_choice.isVisibleTo(panel)
    fine = next(i for i in range(panel.layer_choice.count()) if panel.layer_choice.itemText(i).startswith("fine"))
    all_dirs = panel.sefa.rows["sefa:0"][0].direction
    panel.layer_choice.setCurrentIndex(fine)
    start, stop = panel.layer_range()
    assert (start, stop) == (8, 10)
    spec, row = panel.sefa.rows["sefa:0"]
    assert spec.direction != all_dirs  # recomputed for the fine inputs alone
    before = s.generator.context([s.recipe]).ws
    row.slider.setValue(2.0)
    walk = next(e for e in s.recipe.edits if isinstance(e, Walk))
    assert walk.label == "sefa:0" and walk.layers == (8, 10) and walk.space == "w"
    after = s.generator.context([s.recipe]).ws
    assert torch.equal(after[:, :8], before[:, :8]) and not torch.equal(after[:, 8:], before[:, 8:])
    assert _matches_renderer(w)


def test_preview_frames_show_upscaled_and_say_preview(loaded):
    w, s = loaded, loaded.session
    shown = []
    s.frameReady.connect(lambda f: shown.append((f.preview, w.render_label.text(), w.canvas.image().shape)))
    # (other panels may fill the stage cache on a recipe change; with it empty every stage runs)
    s.renderer.cache.clear()
    s.render()
    assert [p for p, _, _ in shown] == [True, False]
    assert shown[0][1].startswith("preview") and shown[0][2] == (64, 64, 3)
    assert not shown[1][1].startswith("preview")
    assert s.last_frame is not None and not s.last_frame.preview and _matches_renderer(w)
