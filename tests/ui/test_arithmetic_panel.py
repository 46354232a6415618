"""The arithmetic workspace in the real main window on a tiny DCGAN, checked against the core and renderer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.core.arithmetic import ConceptBin, Expression, neighbourhood, result_recipe
from studio.core.project import Project
from studio.core.recipe import SeedLatent, VectorLatent
from studio.render.engine import Renderer

from .helpers import drop_files


@pytest.fixture
def loaded(qtbot, window, tiny_dcgan_safetensors: Path):
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [tiny_dcgan_safetensors])
    return window


def fill(panel, seeds=("1,2,3", "4,5,6", "7,8,9")):
    for i, text in enumerate(seeds):
        assert panel.add_seeds(i, text)


def test_panel_starts_with_a_minus_b_plus_c_and_says_what_is_missing(loaded):
    p = loaded.arithmetic_panel
    assert loaded.docks["arithmetic"].isVisibleTo(loaded) and p.isEnabled()
    assert [b.name for b in p.bins] == ["A", "B", "C"] and p.weights() == [1.0, -1.0, 1.0]
    assert p.message.text() == "bin 'A' is empty: add images to it first"
    assert not p.use.isEnabled()
    assert p.current_space() == "z" and not p.space.model().item(1).isEnabled()  # DCGAN: no W space
    assert p.add_seeds(0, "3-x") is False and "bad seed list" in p.message.text()


def test_result_matches_the_core_and_renders_its_neighbourhood(loaded):
    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    fill(p)
    assert [b.members for b in p.bins][2] == (SeedLatent(7), SeedLatent(8), SeedLatent(9))
    expected = Expression((("A", 1.0), ("B", -1.0), ("C", 1.0))).evaluate(s.generator, p.bins, "z")
    assert np.allclose(p.result.vector, expected)
    assert p.result.latents == neighbourhood(s.generator, expected, "z", 0.25, 0)
    renders = Renderer().render_batch(s.generator, [result_recipe(s.recipe, v) for v in p.result.latents])
    assert np.array_equal(p.result.grid, renders)
    assert all(m is not None for m in p.result.means) and p.use.isEnabled()
    # a different noise seed moves the neighbours but not the centre
    centre = p.result.grid[4].copy()
    p.noise_seed.setValue(5)
    assert np.array_equal(p.result.grid[4], centre) and not np.array_equal(p.result.grid[0], renders[0])
    # weights are live: B at 0 drops it from the sum
    p.bin_widgets[1].weight.setValue(0.0)
    no_b = Expression((("A", 1.0), ("C", 1.0))).evaluate(s.generator, p.bins, "z")
    assert np.allclose(p.result.vector, no_b)


def test_use_as_current_is_one_undo_step(loaded):
    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    fill(p)
    before = s.recipe
    p.use.click()
    assert s.recipe.latent == p.result.latents[4] and isinstance(s.recipe.latent, VectorLatent)
    assert np.array_equal(w.canvas.image(), p.result.grid[4])
    s.undo()
    assert s.recipe == before


def test_seed_grid_menu_and_current_image_fill_bins(loaded):
    from PySide6.QtWidgets import QMenu

    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    menu = QMenu()
    for hook in w.seed_grid.menu_hooks:
        hook(menu, w.seed_grid.seeds[5])
    sub = menu.actions()[0].menu()
    assert [a.text() for a in sub.actions()] == ["A", "B", "C"]
    sub.actions()[1].trigger()
    assert p.bins[1].members == (SeedLatent(w.seed_grid.seeds[5]),)
    s.edit(s.recipe.with_truncation(0.5), "psi")
    p.add_current(0)
    assert np.allclose(p.bins[0].members[0].values, s.generator.edited_z(s.recipe))


def test_rename_remove_and_clear_messages(loaded):
    p = loaded.arithmetic_panel
    p.rename_bin(0, "B")
    assert p.bins[0].name == "A" and "already a bin named 'B'" in p.message.text()
    p.rename_bin(0, "glasses")
    assert p.bins[0].name == "glasses" and p.dir_to.itemText(0) == "glasses"
    p.add_bin("extra", 2.0)
    assert [b.name for b in p.bins][-1] == "extra" and p.weights()[-1] == 2.0
    p.remove_bin(1)
    assert [b.name for b in p.bins] == ["glasses", "C", "extra"] and p.weights() == [1.0, 1.0, 2.0]
    p.add_members(0, [VectorLatent(tuple(range(100)))])  # a latent of another model
    assert "bin 'glasses': latent vector has 100 values but this model's z has 16" in p.message.text()


def test_saved_latents_directions_and_project_round_trip(loaded, tmp_path: Path):
    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    fill(p)
    assert p.save_result("woman with glasses")
    assert p.saved_list.count() == 1 and p.saved[0].latent == p.result.latents[4]
    for widget, weight in zip(p.bin_widgets, (1.0, -0.5, 2.0)):
        widget.weight.setValue(weight)
    project = Project.from_dict(json.loads(json.dumps(w.project().to_dict())))
    assert [(b.name, b.members) for b in project.bins] == [(b.name, b.members) for b in p.bins]
    assert [b.weight for b in project.bins] == [1.0, -0.5, 2.0] and project.latents == tuple(p.saved)
    p.restore((ConceptBin("only", (SeedLatent(1),)),), ())
    assert [b.name for b in p.bins] == ["only"] and p.saved_list.count() == 0
    p.restore(project.bins, project.latents)
    assert p.bins == list(project.bins) and p.saved_list.count() == 1
    assert p.weights() == [1.0, -0.5, 2.0]  # the user's sum comes back as it was
    p.dir_from.setCurrentIndex(1)
    p.dir_to.setCurrentIndex(0)
    library = pytest.importorskip("studio.core.direction_library")  # the direction library lands separately
    lib = library.DirectionLibrary(tmp_path / "dirs")
    path = p.save_as_direction(lib, ask=lambda default: default)
    (_, d), = lib.entries()
    assert path.exists() and d.name == "B -> A" and d.source == "arithmetic" and d.space == "z"
    diff = p.bins[0].mean(s.generator, "z") - p.bins[1].mean(s.generator, "z")
    assert np.allclose(d.vectors[0], diff / np.linalg.norm(diff), atol=1e-6)
    p.dir_to.setCurrentIndex(1)
    assert p.save_as_direction(lib, ask=lambda default: default) is None
    assert "two different bins" in p.message.text()
