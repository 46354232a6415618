"""Seed, truncation, seed grid and walk resets, checked against the renderer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.recipe import SeedLatent
from studio.render.engine import Renderer

from conftest import make_dcgan
from .helpers import drag_slider, drop_files


@pytest.fixture
def loaded(qtbot, window, tiny_dcgan_path):
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [tiny_dcgan_path])
    return window


def test_seed_grid_renders_the_seeds_and_a_click_picks_one(qtbot, loaded):
    w, s = loaded, loaded.session
    grid = w.seed_grid
    assert grid.images is not None and grid.images.shape == (16, 32, 32, 3)
    r = Renderer()
    for seed, img in zip(grid.seeds, grid.images):
        direct = r.render(s.generator, s.recipe.with_seed(seed)).image
        assert np.abs(direct.astype(int) - img.astype(int)).max() <= 1  # batched vs single pass
    assert len({img.tobytes() for img in grid.images}) == 16
    assert all(not b.icon().isNull() for b in grid.buttons)

    grid.buttons[5].click()
    assert s.recipe.latent == SeedLatent(grid.seeds[5])
    assert np.array_equal(w.canvas.image(), r.render(s.generator, s.recipe).image)
    assert grid.buttons[5].isChecked() and sum(b.isChecked() for b in grid.buttons) == 1
    assert w.latent_panel.seed.value() == grid.seeds[5]
    s.undo()
    assert s.recipe.latent == SeedLatent(0) and grid.buttons[0].isChecked()


def test_seed_grid_follows_truncation_and_new_seeds(qtbot, loaded):
    w = loaded
    grid = w.seed_grid
    at_psi1 = grid.images.copy()
    drag_slider(w.latent_panel.truncation, [0.8, 0.5])
    assert not np.array_equal(grid.images, at_psi1)
    old = list(grid.seeds)
    with qtbot.waitSignal(grid.gridReady, timeout=10000):
        grid.shuffle.click()
    assert grid.seeds != old and len(set(grid.seeds)) == 16


def test_seed_box_dice_and_reset_buttons(qtbot, loaded):
    w, s = loaded, loaded.session
    panel = w.latent_panel
    first = w.canvas.image().copy()
    panel.seed.setValue(1234)
    assert s.recipe.latent == SeedLatent(1234)
    assert not np.array_equal(w.canvas.image(), first)
    panel.dice.click()
    assert s.recipe.latent != SeedLatent(1234)
    assert s.history.count == 2

    rows = list(w.walk_panel.sliders().items())
    drag_slider(rows[0][1], [1.5])
    drag_slider(rows[1][1], [-2.0])
    assert len(s.recipe.edits) == 2
    rows[0][1].reset.click()
    assert s.recipe.walk_amount(rows[0][0]) == 0.0 and len(s.recipe.edits) == 1
    w.walk_panel.reset_all.click()
    assert s.recipe.edits == ()
    assert all(row.value() == 0.0 for _, row in rows)
    s.undo()  # reset all is one step
    assert s.recipe.walk_amount(rows[1][0]) == pytest.approx(-2.0)
    assert rows[1][1].value() == pytest.approx(-2.0)

    drag_slider(panel.truncation, [0.3])
    panel.truncation.reset.click()
    assert s.recipe.truncation == 1.0


def test_random_walk_sliders_use_orthonormal_directions(qtbot, loaded):
    panel = loaded.walk_panel
    specs = [spec for spec, _ in panel.random.rows.values()]
    assert len(specs) == min(panel.RANDOM_K, loaded.session.generator.info.z_dim)
    d = np.array([spec.direction for spec in specs])
    assert np.allclose(d @ d.T, np.eye(len(specs)), atol=1e-5)
    names = [row.name.text() for _, row in panel.random.rows.values()]
    assert names[0] == "Dir 1"


def _open(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        drop_files(window, [path])
    assert window.session.model_path == path


def test_pca_is_kept_in_the_workspace_and_computed_once_per_model(qtbot, window, tiny_dcgan_path,
                                                                  monkeypatch):
    from studio.core.project import Project
    from studio.ui.panels import latent_panel

    w, s, panel = window, window.session, window.walk_panel
    computed: list[str] = []
    real = latent_panel.pca_job
    monkeypatch.setattr(latent_panel, "pca_job", lambda g, **kw: computed.append(g.model_id) or real(g, **kw))
    with qtbot.waitSignal(panel.pcaReady, timeout=20000):
        drop_files(w, [tiny_dcgan_path])
    ds = s.workspace.pca
    assert ds is not None and panel.pca_directions is ds and len(panel.pca.rows) == panel.PCA_K
    assert s.history.count == 0  # storing it is no undo step
    heights = w.directions_panel.pca_bars.opts["height"]  # the Directions panel shows ws.pca too
    np.testing.assert_allclose(heights, 100 * ds.explained, rtol=1e-6)

    tiny_id = s.generator.model_id
    other = tiny_dcgan_path.with_name("other.pth")  # another checkpoint of the same layout: another model id
    torch.save({f"main.{k}": v for k, v in make_dcgan(seed=3).state_dict().items()}, other)
    with qtbot.waitSignal(panel.pcaReady, timeout=20000):
        drop_files(w, [other])
    assert panel.pca_directions is s.workspace.pca is not ds and computed == [tiny_id, s.generator.model_id]
    _open(qtbot, w, tiny_dcgan_path)  # back: A's PCA at once, nothing computed
    assert panel.pca_directions is ds and s.workspace.pca is ds and len(computed) == 2
    assert not panel.pca.placeholder.isVisibleTo(panel)
    np.testing.assert_allclose(Project.from_dict(s.project().to_dict()).workspace.pca.vectors, ds.vectors)


def test_the_style_input_range_is_a_workspace_setting_per_model(qtbot, window, tiny_dcgan_path, tmp_path):
    from latent_studio_plugins.stylegan.save import save_stylegan
    from latent_studio_plugins.stylegan.testing import tiny_stylegan
    from studio.core.project import Project
    from studio.ui.panels.latent_panel import LAYERS_KEY

    torch.set_num_threads(1)
    sg = tmp_path / "tiny_sg2.safetensors"
    save_stylegan(sg, tiny_stylegan(resolution=64, seed=7), name="tiny")
    w, s, panel = window, window.session, window.walk_panel
    _open(qtbot, w, sg)
    all_dirs = panel.sefa.rows["sefa:0"][0].direction
    choices = [panel.layer_choice.itemText(i) for i in range(panel.layer_choice.count())]
    fine = next(i for i, text in enumerate(choices) if text.startswith("fine"))
    panel.layer_choice.setCurrentIndex(fine)
    assert tuple(s.workspace.panel(LAYERS_KEY)) == panel.layer_range() == (8, 10) and s.history.count == 1
    fine_dirs = panel.sefa.rows["sefa:0"][0].direction
    assert fine_dirs != all_dirs
    s.undo()
    assert panel.layer_choice.currentIndex() == 0 and panel.layer_range() is None
    assert panel.sefa.rows["sefa:0"][0].direction == all_dirs
    s.redo()
    assert panel.layer_choice.currentIndex() == fine and panel.sefa.rows["sefa:0"][0].direction == fine_dirs

    _open(qtbot, w, tiny_dcgan_path)
    assert not panel.layer_choice.isVisibleTo(panel) and s.workspace.panel(LAYERS_KEY) is None
    assert panel.layer_range() is None and panel.sefa.rows == {}
    _open(qtbot, w, sg)
    assert panel.layer_choice.currentIndex() == fine and panel.layer_range() == (8, 10)
    assert Project.from_dict(s.project().to_dict()).workspace.panel(LAYERS_KEY) == (8, 10)


def test_a_state_from_before_the_pca_still_shows_it_and_nothing_is_computed_again(qtbot, tiny_dcgan_path):
    from studio.render.engine import ModelCache
    from studio.ui.panels.latent_panel import WalkPanel
    from studio.ui.session import Session

    from .test_directions_panel import SteppedWorker

    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    panel = WalkPanel(s, pca_samples=250)
    qtbot.addWidget(panel)
    s.set_generator(s.models.get(tiny_dcgan_path), tiny_dcgan_path)
    assert panel.pca.placeholder.text() == "computing…" and panel.pca.rows == {}
    s.edit(s.recipe.with_seed(7), "Seed 7")  # an edit while the PCA runs
    with qtbot.waitSignal(panel.pcaReady, timeout=5000):
        worker.run_all()
    assert worker.steps == 3  # 250 samples: a batch of 100 per step
    ds = s.workspace.pca
    assert ds is not None and panel.pca_directions is ds and s.history.count == 1
    s.undo()  # the state before the PCA was done: the same PCA is shown, and stored there too
    assert panel.pca_directions is ds and len(panel.pca.rows) == panel.PCA_K and worker.jobs == []
    qtbot.waitUntil(lambda: s.workspace.pca is ds, timeout=5000)
    assert s.history.count == 1 and s.history.index == 0
