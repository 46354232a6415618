"""Seed, truncation, seed grid and walk resets, checked against the renderer."""
from __future__ import annotations

import numpy as np
import pytest

from studio.core.recipe import SeedLatent
from studio.render.engine import Renderer

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
