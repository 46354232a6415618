"""The style-mixing panel in the real main window on a tiny StyleGAN, checked against the renderer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.style_edits import Mix
from studio.render.engine import Renderer
from studio.render.mixing import cell, cell_recipe, row_sources

from .helpers import drop_files


def _open(qtbot, window, path: Path):
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [path])
    return window


@pytest.fixture
def stylegan_path(tmp_path: Path) -> Path:
    torch.set_num_threads(1)
    path = tmp_path / "tiny_sg2.safetensors"
    save_stylegan(path, tiny_stylegan(resolution=64, seed=7), name="tiny")
    return path


@pytest.fixture
def loaded(qtbot, window, stylegan_path):
    return _open(qtbot, window, stylegan_path)


def test_panel_shows_for_stylegan_with_rows_grouped_by_resolution(loaded):
    w = loaded
    panel = w.style_mix_panel
    assert w.docks["style_mix"].isVisible() and panel.isEnabled()
    assert not w.docks["style_mix"].visibleRegion().isEmpty()  # the front tab, not one behind Walk
    n = w.session.generator.info.num_ws
    assert panel.num_ws == n == len(panel.radios) == len(panel.blends)
    assert panel.groups == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": [8, 9]}
    assert all(panel.row_source(i) == 0 for i in range(n))
    assert panel.noise.isVisibleTo(panel) and not panel.rotate.isVisibleTo(panel)
    assert not panel.condition.isVisibleTo(panel)  # unconditional model


def test_fine_rows_from_b_change_the_frame_and_undo_restores_it(qtbot, loaded):
    w, s = loaded, loaded.session
    panel = w.style_mix_panel
    before = w.canvas.image().copy()
    b_seed = panel.source_seeds[0].value()
    for i in panel.groups["fine"]:
        panel.radios[i][1].click()
    fine = panel.groups["fine"]
    assert s.recipe.edits == (Mix(f"mix:rows:{fine[0]}-{fine[-1]}", (fine[0], fine[-1] + 1), seed=b_seed),)
    after = w.canvas.image()
    assert not np.array_equal(after, before)
    assert np.array_equal(after, Renderer().render(s.generator, s.recipe).image)
    # the same as the mixing grid's cell for (base, B) over the fine rows
    base_seed = s.recipe.latent.seed
    assert np.array_equal(after, Renderer().render(
        s.generator, cell_recipe(s.recipe, base_seed, b_seed, (fine[0], fine[-1] + 1))).image)
    s.undo()  # undo the second row's click
    assert row_sources(s.recipe, panel.num_ws)[fine[-1]] == (-1, 1.0) and panel.row_source(fine[-1]) == 0
    s.undo()
    assert s.recipe.edits == () and all(panel.row_source(i) == 0 for i in range(panel.num_ws))
    assert np.array_equal(w.canvas.image(), before)


def test_coarse_preset_blend_and_source_seed(qtbot, loaded):
    w, s = loaded, loaded.session
    panel = w.style_mix_panel
    panel.preset_source.setCurrentIndex(2)  # C
    panel.preset_buttons["coarse"].click()
    c_seed = panel.source_seeds[1].value()
    rows = row_sources(s.recipe, panel.num_ws)
    assert rows == [(c_seed, 1.0)] * 4 + [(-1, 1.0)] * (panel.num_ws - 4)
    assert [panel.row_source(i) for i in range(panel.num_ws)] == [2] * 4 + [0] * (panel.num_ws - 4)
    assert s.history.count == 1
    mixed = w.canvas.image().copy()
    panel.blends[0].setValue(0.5)
    assert row_sources(s.recipe, panel.num_ws)[0] == (c_seed, 0.5)
    assert np.array_equal(w.canvas.image(), Renderer().render(s.generator, s.recipe).image)
    assert not np.array_equal(w.canvas.image(), mixed)
    panel.source_seeds[1].setValue(77)  # C is now seed 77: its rows follow
    assert {seed for seed, _ in row_sources(s.recipe, panel.num_ws)[:4]} == {77}
    s.undo()
    s.undo()
    assert np.array_equal(w.canvas.image(), mixed)
    panel.reset.click()
    assert s.recipe.edits == ()


def test_noise_mode_is_an_undoable_edit(qtbot, loaded):
    w, s = loaded, loaded.session
    panel = w.style_mix_panel
    before = w.canvas.image().copy()
    panel.noise.setCurrentText("none")
    assert s.recipe.noise == "none"
    assert np.array_equal(w.canvas.image(), Renderer().render(s.generator, s.recipe).image)
    assert not np.array_equal(w.canvas.image(), before)
    s.undo()
    assert s.recipe.noise == "const" and panel.noise.currentText() == "const"


def test_mixing_grid_renders_in_background_and_saves(qtbot, loaded, tmp_path):
    w, s = loaded, loaded.session
    panel = w.style_mix_panel
    dlg = panel.open_grid_dialog()
    dlg.rows.setText("1,2")
    dlg.cols.setText("3-5")
    dlg.range.setCurrentIndex(0)  # coarse
    assert dlg.layers() == (0, 4)
    with qtbot.waitSignal(panel.gridReady, timeout=20000) as got:
        assert dlg.render()
    grid = got.args[0]
    res = s.generator.info.resolution
    assert grid.shape == (3 * res, 4 * res, 3)
    direct = Renderer().render(s.generator, cell_recipe(s.recipe, 2, 4, (0, 4))).image
    assert np.abs(cell(grid, 1, 1, (res, res)).astype(int) - direct.astype(int)).max() <= 1
    # the dialog shows cells with their seeds, at least 96 px, and no white square in the corner
    assert [lab.text() for lab in dlg.seed_labels] == ["seed 3", "seed 4", "seed 5", "seed 1", "seed 2"]
    assert len(dlg.cell_labels) == 3 * 4 - 1 and (0, 0) not in dlg.cell_labels
    assert all(min(lab.width(), lab.height()) >= 96 for lab in dlg.cell_labels.values())
    shown = dlg.cell_labels[(2, 3)].pixmap().toImage()
    assert shown.width() >= 96 and shown.pixelColor(shown.width() // 2, shown.height() // 2).name() != "#ffffff"
    assert dlg.range.itemText(0).startswith("Coarse: ") and "(inputs 0-3)" in dlg.range.itemText(0)
    out = tmp_path / "grid.png"
    assert dlg.save(out)
    from PIL import Image
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), grid)
    dlg.rows.setText("1,x")
    assert not dlg.render() and "not a seed" in dlg.status.text()
    dlg.close()


def test_conditional_model_has_a_class_selector(qtbot, window, tmp_path):
    path = tmp_path / "cond.safetensors"
    save_stylegan(path, tiny_stylegan(c_dim=3, seed=2), name="cond")
    w = _open(qtbot, window, path)
    s, panel = w.session, w.style_mix_panel
    assert panel.condition.isVisibleTo(panel) and panel.condition.count() == 4
    before = w.canvas.image().copy()
    panel.condition.setCurrentIndex(2)
    assert s.recipe.condition == (0.0, 1.0, 0.0)
    assert np.array_equal(w.canvas.image(), Renderer().render(s.generator, s.recipe).image)
    assert not np.array_equal(w.canvas.image(), before)
    s.undo()
    assert s.recipe.condition == () and panel.condition.currentIndex() == 0


def test_dcgan_hides_the_panel(qtbot, window, tiny_dcgan_path):
    w = _open(qtbot, window, tiny_dcgan_path)
    assert not w.docks["style_mix"].isVisible()


def test_stylegan3_translate_and_rotate_are_transform_edits(qtbot, window):
    from tests.conftest import shared_path

    path = shared_path("fixtures", "stylegan3_nvlabs", "stylegan3-t", "network-snapshot-000000.pkl")
    w = _open(qtbot, window, path)
    s, panel = w.session, w.style_mix_panel
    assert panel.rotate.isVisibleTo(panel) and not panel.noise.isVisibleTo(panel)
    before = w.canvas.image().copy()
    panel.translate_x.slider.setValue(0.25)
    panel.rotate.slider.setValue(30.0)
    t = next(e for e in s.recipe.edits if e.kind == "transform")
    assert t.translate == (0.25, 0.0) and t.angle == 30.0
    assert np.array_equal(w.canvas.image(), Renderer().render(s.generator, s.recipe).image)
    assert not np.array_equal(w.canvas.image(), before)
    s.undo()
    s.undo()
    assert s.recipe.edits == () and panel.rotate.value() == 0.0
    assert np.array_equal(w.canvas.image(), before)
