"""GANSpace's per-edit layer range: each W slider has its own style-input range (one undo step, its walk moved
along), a slider without one follows the shared preset, and the setting is saved with the project."""
from __future__ import annotations

import pytest
import torch

from studio.core.recipe import Walk
from studio.core.walk_layers import SLIDER_LAYERS_KEY

from .helpers import drop_files


def _walk(recipe, label):
    return next(e for e in recipe.edits if isinstance(e, Walk) and e.label == label)


def test_each_slider_keeps_its_own_range(qtbot, window, tmp_path):
    from latent_studio_plugins.stylegan.save import save_stylegan
    from latent_studio_plugins.stylegan.testing import tiny_stylegan
    from studio.core.project import Project

    torch.set_num_threads(1)
    sg = tmp_path / "tiny_sg2.safetensors"
    save_stylegan(sg, tiny_stylegan(resolution=64, seed=7), name="tiny")
    s, panel = window.session, window.walk_panel
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(window, [sg])
    qtbot.waitUntil(lambda: len(panel.pca.rows) > 0, timeout=20000)
    a, b = "pca:0", "pca:1"
    assert panel.range_button(a).text() == "all" and panel.range_button("random:0") is not None
    panel.sliders()[a].slider.setValue(1.0)
    panel.sliders()[b].slider.setValue(-1.0)
    steps = s.history.count
    assert panel.set_slider_range(a, (2, 4))
    assert s.history.count == steps + 1 and panel.range_button(a).text() == "2–3"
    assert panel.range_button(a).font().bold() and not panel.range_button(b).font().bold()
    assert _walk(s.recipe, a).layers == (2, 4) and _walk(s.recipe, b).layers is None  # moved along, same amount
    assert _walk(s.recipe, a).amount == panel.pca.rows[a][0].scale * 1.0
    # the shared preset moves the sliders without their own range only
    fine = next(i for i in range(panel.layer_choice.count()) if panel.layer_choice.itemText(i).startswith("fine"))
    panel.layer_choice.setCurrentIndex(fine)
    assert panel.slider_range(b) == (8, 10) and panel.slider_range(a) == (2, 4)
    assert panel.range_button(b).text() == "8–9" and panel.range_button(a).text() == "2–3"
    panel.sliders()[b].slider.setValue(-2.0)
    assert _walk(s.recipe, b).layers == (8, 10) and _walk(s.recipe, a).layers == (2, 4)
    saved = Project.from_dict(s.project().to_dict()).workspace.panel(SLIDER_LAYERS_KEY)
    assert [tuple(t) for t in saved] == [(a, 2, 4)]
    errors: list[str] = []
    s.error.connect(errors.append)
    assert not panel.set_slider_range(a, (5, 12)) and "outside this model's 10 inputs" in errors[-1]
    # undo goes back past the preset, then the range: the walk is on all inputs again
    s.undo()
    s.undo()
    s.undo()
    assert panel.own_range(a) is None and _walk(s.recipe, a).layers is None and panel.range_button(a).text() == "all"


def test_the_same_edit_is_previewed_on_other_seeds(qtbot, window, tiny_dcgan_path):
    import numpy as np

    from studio.core.walk_layers import on_other_seeds
    from studio.render.engine import Renderer

    s, panel = window.session, window.walk_panel
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(window, [tiny_dcgan_path])
    strip = panel.strip
    assert not strip.row.isVisibleTo(panel)
    with qtbot.waitSignal(strip.stripReady, timeout=10000):
        strip.toggle.setChecked(True)
    before = strip.images.copy()
    with qtbot.waitSignal(strip.stripReady, timeout=10000):
        panel.sliders()["random:0"].slider.setValue(2.0)
    recipes = strip.recipes()
    assert len(recipes) == 5 and all(r.edits == s.recipe.edits for r in recipes)
    assert {r.latent.seed for r in recipes}.isdisjoint({s.recipe.latent.seed})
    want = Renderer().render_batch(s.generator, on_other_seeds(s.recipe, 5))
    np.testing.assert_array_equal(strip.images, want)
    assert not np.array_equal(before, strip.images)  # the walk moved every preview


def test_the_layer_to_decompose_is_a_choice_with_undo(qtbot, window, tmp_path):
    from latent_studio_plugins.stylegan.save import save_stylegan
    from latent_studio_plugins.stylegan.testing import tiny_stylegan
    from studio.ui.panels.latent_panel import PCA_LAYER_KEY

    torch.set_num_threads(1)
    sg = tmp_path / "tiny_sg2.safetensors"
    save_stylegan(sg, tiny_stylegan(resolution=64, seed=7), name="tiny")
    s, panel = window.session, window.walk_panel
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(window, [sg])
    qtbot.waitUntil(lambda: s.workspace.pca is not None, timeout=20000)
    default = s.workspace.pca
    box = panel.pca_layer_choice
    assert box.itemData(0) == "" and box.itemText(0).startswith("W") and box.count() > 3
    with qtbot.waitSignal(panel.pcaReady, timeout=20000):
        box.setCurrentIndex(3)
    layer = box.itemData(3)
    assert s.workspace.panel(PCA_LAYER_KEY) == layer
    qtbot.waitUntil(lambda: s.workspace.pca is not None and s.workspace.pca.layer == layer, timeout=20000)
    assert panel.pca_directions.layer == layer and len(panel.pca.rows) == panel.PCA_K
    s.undo()  # back to W's PCA, from the cache: nothing recomputed
    qtbot.waitUntil(lambda: panel.pca_directions is default, timeout=5000)
    assert box.currentIndex() == 0


def test_pca_sliders_start_at_the_image_coordinates(qtbot, window, tmp_path):
    import numpy as np

    from latent_studio_plugins.stylegan.save import save_stylegan
    from latent_studio_plugins.stylegan.testing import tiny_stylegan
    from studio.model.spaces import style_inputs

    torch.set_num_threads(1)
    sg = tmp_path / "tiny_sg2.safetensors"
    save_stylegan(sg, tiny_stylegan(resolution=64, seed=7), name="tiny")
    s, panel = window.session, window.walk_panel
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(window, [sg])
    qtbot.waitUntil(lambda: len(panel.pca.rows) > 0, timeout=20000)
    ds, row = panel.pca_directions, panel.sliders()["pca:1"]
    assert row.value() == 0
    panel.at_coords.setChecked(True)
    w = style_inputs(s.generator, [s.recipe])[0][0].astype(np.float64)
    want = float((w - ds.mean) @ ds.vectors[1] / ds.stddev[1])  # by hand: the seed's coordinate, in stds
    assert abs(want) > 0.05 and row.value() == pytest.approx(round(want, 2), abs=0.011)
    assert s.recipe.walk_amount("pca:1") == 0  # showing coordinates edits nothing
    row.slider.setValue(row.value() + 1.0)
    assert s.recipe.walk_amount("pca:1") == pytest.approx(ds.stddev[1], rel=0.02)  # one std from where it was
    row.reset.click()
    assert s.recipe.walk_amount("pca:1") == 0 and row.value() == pytest.approx(round(want, 2), abs=0.011)
    panel.at_coords.setChecked(False)
    assert row.value() == 0
