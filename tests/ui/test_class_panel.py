"""The Class panel on real conditional checkpoints: the eriklindernoren cGAN and the BigGAN fixture open with
a class picker in front; each class renders another frame, a halfway blend differs from both ends (on the
timeline too), BigGAN's per-layer class and an InfoGAN's code sliders and code walk."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_path
from studio.core.recipe import class_condition
from studio.model.spaces import frame_recipes
from studio.render.engine import Renderer
from studio.ui.panels.class_panel import class_label, matching_classes
from tests.ui.helpers import drag_slider, drop_files


def _open(qtbot, window, path: Path):
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        drop_files(window, [path])
    return window


def _frame(w) -> np.ndarray:
    s = w.session
    shown = w.canvas.image().copy()
    assert np.array_equal(shown, Renderer().render(s.generator, s.recipe).image)  # what the recipe renders
    return shown


def _check_picker_and_blend(qtbot, w, n_classes: int) -> None:
    s, panel = w.session, w.class_panel
    assert w.docks["classes"].isVisible() and not w.docks["classes"].visibleRegion().isEmpty()  # front tab
    assert len(panel.rows) == 1 and panel.rows[0].picker.count() == n_classes
    frames = []
    for k in range(3):
        panel.rows[0].picker.setCurrentIndex(k)
        assert s.recipe.condition == class_condition(k, n_classes)
        frames.append(_frame(w))
    assert all(not np.array_equal(frames[i], frames[j]) for i in range(3) for j in range(i + 1, 3))
    panel.rows[0].picker.setCurrentIndex(0)
    row = panel.add_row()  # blends class 1 in at equal weight: halfway between classes 0 and 1
    assert row is not None and row.picker.currentIndex() == 1
    assert s.recipe.condition[:2] == (0.5, 0.5)
    half = _frame(w)
    assert not np.array_equal(half, frames[0]) and not np.array_equal(half, frames[1])
    s.undo()
    assert s.recipe.condition == class_condition(0, n_classes) and len(panel.rows) == 1
    panel.add_row()
    panel.class_walk()  # the timeline from class 0 to class 1, halfway is the blend
    tl = s.workspace.timeline
    recipes = frame_recipes(s.generator, tl)
    mid = recipes[len(recipes) // 2]
    assert mid.condition[0] == pytest.approx(0.5) and mid.condition[1] == pytest.approx(0.5)
    r = Renderer()
    ends = r.render(s.generator, recipes[0]).image, r.render(s.generator, recipes[-1]).image
    assert np.array_equal(ends[0], frames[0]) and np.array_equal(ends[1], frames[1])
    middle = r.render(s.generator, mid).image
    assert not np.array_equal(middle, ends[0]) and not np.array_equal(middle, ends[1])


@pytest.mark.shared
def test_cgan_class_picker_blend_and_timeline(qtbot, window):
    w = _open(qtbot, window, shared_path("fixtures", "eriklindernoren_pytorch_gan", "cgan", "generator.pth"))
    assert w.session.generator.info.family == "cgan"
    assert not w.class_panel.layer_box.isVisibleTo(w.class_panel)  # one class for the whole MLP
    _check_picker_and_blend(qtbot, w, 4)


@pytest.mark.shared
def test_biggan_class_picker_blend_and_per_layer_class(qtbot, window):
    w = _open(qtbot, window, shared_path("fixtures", "biggan_hf", "biggan-tiny-32", "pytorch_model.bin"))
    s, panel = w.session, w.class_panel
    assert s.generator.info.family == "biggan"
    _check_picker_and_blend(qtbot, w, 10)
    panel.remove_row(panel.rows[-1])
    panel.rows[0].picker.setCurrentIndex(2)
    whole = _frame(w)
    assert panel.layer_box.isVisibleTo(panel)
    panel.layer_class.setCurrentIndex(7)
    panel.layer_from.setValue(4)
    panel.layer_on.setChecked(True)
    edit = next(e for e in s.recipe.edits if e.kind == "layer_class")
    assert edit.layers == (3, 7) and edit.condition == class_condition(7, 10)
    mixed = _frame(w)
    assert not np.array_equal(mixed, whole)
    panel.layer_on.setChecked(False)
    assert np.array_equal(_frame(w), whole)


def test_class_names_are_searchable():
    from latent_studio_plugins.biggan.labels import class_names
    from studio.model.api import ConditionPart

    part = ConditionPart("class", "classes", 1000, class_names(1000))
    assert class_label(part, 207) == "207 · golden retriever"
    assert 207 in matching_classes(part, "Golden") and 1 not in matching_classes(part, "golden")
    assert matching_classes(part, "crane") == [134, 517]  # two synsets share the name
    assert class_label(ConditionPart("class", "classes", 4), 3) == "Class 3"


def _tiny_infogan(path: Path) -> None:
    """An infogan.py generator at the official input split (62 + 10 + 2), 16 px, random weights."""
    torch.manual_seed(3)
    sd = {"l1.0.weight": torch.randn(128 * 16, 74) * 0.2, "l1.0.bias": torch.randn(128 * 16) * 0.1}
    for i, c in ((0, 128), (3, 128), (7, 64)):
        p = f"conv_blocks.{i}"
        sd.update({f"{p}.weight": 1 + 0.1 * torch.randn(c), f"{p}.bias": 0.1 * torch.randn(c),
                   f"{p}.running_mean": 0.1 * torch.randn(c), f"{p}.running_var": torch.ones(c),
                   f"{p}.num_batches_tracked": torch.tensor(1)})
    for i, (o, ci) in ((2, (128, 128)), (6, (64, 128)), (9, (1, 64))):
        sd.update({f"conv_blocks.{i}.weight": torch.randn(o, ci, 3, 3) * 0.05,
                   f"conv_blocks.{i}.bias": torch.zeros(o)})
    torch.save(sd, path)


def test_infogan_codes_are_named_sliders_with_walks(qtbot, window, tmp_path):
    path = tmp_path / "generator.pth"
    _tiny_infogan(path)
    w = _open(qtbot, window, path)
    s, panel = w.session, w.class_panel
    assert s.generator.info.family == "infogan" and s.generator.info.c_dim == 12
    assert [c.name.text() for c in panel.codes] == ["c1", "c2"] and panel.code_box.isVisibleTo(panel)
    panel.rows[0].picker.setCurrentIndex(4)
    base = _frame(w)
    drag_slider(panel.codes[0], [0.4, 0.8])  # one undo step
    assert s.recipe.condition[:10] == class_condition(4, 10) and s.recipe.condition[10:] == (0.8, 0.0)
    moved = _frame(w)
    assert not np.array_equal(moved, base)
    panel.code_walk(1)  # along c2 from -1 to 1, class 4 and c1 = 0.8 fixed
    recipes = frame_recipes(s.generator, s.workspace.timeline)
    assert recipes[0].condition[10:] == (0.8, -1.0) and recipes[-1].condition[10:] == (0.8, 1.0)
    assert all(np.allclose(r.condition[:11], recipes[0].condition[:11], atol=1e-12) for r in recipes)
    assert len({r.condition[11] for r in recipes}) == len(recipes)  # c2 moves on every frame
    s.undo()
    s.undo()
    assert s.recipe.condition[10:] == (0.0, 0.0) and panel.codes[0].value() == 0.0


@pytest.mark.shared
@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_class_panel_fits_with_a_blend_and_a_layer_class(qtbot, tmp_path, size):
    """At the window sizes of test_layout_fits: nothing clipped, no sideways scrolling, every tab whole."""
    from tests.ui.test_layout_fits import clipped_controls, open_window, settle, sideways_scrollers, tab_problems

    w = open_window(qtbot, tmp_path, size, shared_path("fixtures", "biggan_hf", "biggan-tiny-32",
                                                       "pytorch_model.bin"))
    assert (w.width(), w.height()) == size
    panel = w.class_panel
    panel.rows[0].picker.setCurrentIndex(3)
    panel.add_row()
    panel.layer_on.setChecked(True)
    settle(w.session.worker)
    dock = w.docks["classes"]
    assert dock.isVisible()
    problems = clipped_controls(dock) + sideways_scrollers(dock) + tab_problems(w)
    assert not problems, "\n".join(problems)


@pytest.mark.shared
def test_a_dropped_from_pretrained_folder_opens(qtbot, window):
    folder = shared_path("fixtures", "biggan_hf", "biggan-tiny-32")
    w = _open(qtbot, window, folder)
    assert w.session.generator.info.family == "biggan" and w.docks["classes"].isVisible()
