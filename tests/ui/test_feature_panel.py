"""The Features dock in the real main window on a tiny DCGAN: tiles, unit edits, undo, masks, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from torch import nn

from studio.core.project import Project
from studio.core.recipe import Recipe
from studio.core.units import UnitEdit, UnitMask, unit_edits
from studio.core.workspace import UnitSelection
from studio.model.modules import module_generator
from studio.model.api import ModelInfo
from studio.render.dissection import relevance
from studio.render.engine import ModelCache, Renderer
from studio.render.features import layer_activations, unit_statistics_job
from studio.render.worker import SyncWorker
from studio.ui.canvas import ImageCanvas
from studio.ui.mask_painter import MaskPainter
from studio.ui.panels.feature_panel import FeaturePanel, marks_of, replace_units
from studio.ui.session import Session

from .helpers import SteppedWorker, drop_files

STATS = 40  # samples for unit statistics: enough for a histogram, fast on a shared CPU
DEMOS = Path(__file__).resolve().parents[2] / "checkpoints"


@pytest.fixture
def loaded(qtbot, window, tiny_dcgan_path: Path):
    window.feature_panel.stat_samples = STATS
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [tiny_dcgan_path])
    window.docks["features"].raise_()  # tabbed behind Walk: bring it to the front, as a user would
    return window


def _maps(s, layer: str, recipe: Recipe | None = None) -> np.ndarray:
    return layer_activations(s.generator, [recipe or s.recipe], layer)[0].numpy()


def _click(qtbot, panel: FeaturePanel, unit: int, mods=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(panel.tiles, Qt.MouseButton.LeftButton, mods, panel.tiles.unit_rect(unit).center())


def test_tiles_show_the_layers_maps_and_statistics(loaded):
    w, s = loaded, loaded.session
    panel = w.feature_panel
    assert w.docks["features"].isVisibleTo(w)
    names = [st.name for st in s.generator.stages]
    assert [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())] == names[:-1]
    assert panel.layer == names[-2]
    expected = _maps(s, panel.layer)
    c, h, wd = expected.shape  # the layer reads as its resolution and channels, then its name
    assert panel.layer_box.currentText() == f"{h}x{wd} · {c} ch ({panel.layer})"
    assert panel.tiles.count() == expected.shape[0] > 1
    np.testing.assert_allclose(panel.maps, expected, atol=1e-5)
    st = panel.stats[panel.layer]  # a SyncWorker finishes the background job at once
    assert st.n_samples == STATS and st.units == expected.shape[0]
    panel.layer_box.setCurrentIndex(panel.layer_box.findData(names[0]))
    assert panel.layer == names[0] and panel.maps.shape == _maps(s, names[0]).shape
    assert panel.tiles.count() == panel.maps.shape[0]


def test_sort_by_mean_orders_tiles_by_this_images_mean(loaded):
    panel = loaded.feature_panel
    panel.sort_box.setCurrentText("Mean, this image")
    means = panel.maps.reshape(len(panel.maps), -1).mean(1)
    assert np.all(np.diff(means[panel.tiles.order]) <= 1e-7)
    panel.sort_box.setCurrentText("Mean over samples")
    st = panel.stats[panel.layer]
    assert np.all(np.diff(st.mean[panel.tiles.order]) <= 1e-7)


def test_hover_describes_the_unit_and_fills_the_histogram(qtbot, loaded):
    panel = loaded.feature_panel
    unit = 3
    qtbot.mouseMove(panel.tiles, panel.tiles.unit_rect(unit).center())
    qtbot.waitUntil(lambda: panel.tiles.hovered == unit, timeout=2000)
    st = panel.stats[panel.layer]
    assert f"Unit {unit}" in panel.info.text() and f"{st.max[unit]:.3g}" in panel.info.text()
    x, y = panel.hist_curve.getData()
    assert y.sum() == st.samples.shape[1]  # every sampled value falls in one bin


def test_click_drops_a_unit_renders_it_and_undo_restores(qtbot, loaded):
    w, s = loaded, loaded.session
    panel = w.feature_panel
    before = w.canvas.image().copy()
    unit = int(np.argmax(panel.maps.reshape(len(panel.maps), -1).mean(1)))  # a unit that matters
    _click(qtbot, panel, unit)
    assert unit_edits(s.recipe) == (UnitEdit(panel.layer, (unit,), "scale", 0.0, None),)
    assert not np.array_equal(w.canvas.image(), before)
    np.testing.assert_array_equal(w.canvas.image(), s.renderer.render(s.generator, s.recipe).image)
    assert np.all(panel.maps[unit] == 0)  # the tiles show the edited activations
    assert panel.tiles.marks[unit].dropped
    s.undo()
    assert unit_edits(s.recipe) == ()
    np.testing.assert_array_equal(w.canvas.image(), before)
    assert panel.tiles.marks == {} and panel.maps[unit].max() > 0
    s.redo()
    assert panel.tiles.marks[unit].dropped
    _click(qtbot, panel, unit)  # a second click restores the unit
    assert unit_edits(s.recipe) == ()


def test_ctrl_click_selects_and_the_scale_slider_is_one_undo_step(qtbot, loaded):
    s, panel = loaded.session, loaded.feature_panel
    _click(qtbot, panel, 1, Qt.KeyboardModifier.ControlModifier)
    _click(qtbot, panel, 4, Qt.KeyboardModifier.ControlModifier)
    assert panel.selection == {1, 4} and unit_edits(s.recipe) == ()
    steps = s.history.count
    slider = panel.scale_row.slider
    slider.setSliderDown(True)
    for v in (1.5, 2.0, 2.5):
        slider.setSliderPosition(v)
    slider.setSliderDown(False)
    assert s.history.count == steps + 1
    assert unit_edits(s.recipe) == (UnitEdit(panel.layer, (1, 4), "scale", 2.5, None),)
    assert panel.tiles.marks[1].op == "scale" and panel.tiles.marks[4].value == 2.5
    _click(qtbot, panel, 6, Qt.KeyboardModifier.ShiftModifier)  # a range from the anchor (4) in tile order
    assert panel.selection == {1, 4, 5, 6}
    panel.restore_button.click()
    assert unit_edits(s.recipe) == ()


def test_context_menu_inserts_at_the_units_sampled_maximum(loaded):
    s, panel = loaded.session, loaded.feature_panel
    menu = panel.show_tile_menu(2, None)
    action = next(a for a in menu.actions() if a.text().startswith("Insert"))
    action.trigger()
    (edit,) = unit_edits(s.recipe)
    assert edit.op == "set" and edit.units == (2,)
    assert edit.value == pytest.approx(float(panel.stats[panel.layer].max[2]))
    np.testing.assert_allclose(panel.maps[2], edit.value, rtol=1e-6)
    panel.clear_button.click()
    assert unit_edits(s.recipe) == ()


def test_painting_a_mask_limits_the_drop_to_it(qtbot, loaded):
    w, s = loaded, loaded.session
    panel, painter = w.feature_panel, w.mask_painter
    before = w.canvas.image().copy()
    panel.brush.click()
    assert painter.tool == "brush" and panel.in_mask.isChecked()
    painter.set_size(6)
    painter.stroke([(2, 2), (12, 2), (12, 12)])
    h, wd = before.shape[:2]
    assert painter.mask.shape == (h, wd) and painter.mask[2, 2] and painter.mask[12, 12]
    assert not painter.mask[h - 1, wd - 1]
    units = sorted(int(u) for u in np.argsort(-panel.maps.reshape(len(panel.maps), -1).mean(1))[:3])
    panel.set_selection(set(units))
    panel.drop_button.click()
    (edit,) = unit_edits(s.recipe)
    assert edit.units == tuple(units) and edit.mask == s.workspace.mask == UnitMask.from_array(painter.mask)
    masked = w.canvas.image().copy()
    unmasked = s.renderer.render(s.generator, replace_units(s.recipe, panel.layer, units,
                                                            [UnitEdit(panel.layer, tuple(units))])).image
    assert not np.array_equal(masked, before) and not np.array_equal(masked, unmasked)
    change = np.abs(masked.astype(int) - before.astype(int)).sum(2)
    assert change[: h // 2, : wd // 2].mean() > change[h // 2:, wd // 2:].mean()  # mostly where painted
    panel.eraser.click()
    assert painter.tool == "eraser" and not panel.brush.isChecked()
    painter.stroke([(2, 2)])
    assert not painter.mask[2, 2]
    panel.clear_mask.click()
    assert painter.mask is None and s.workspace.mask is None


def test_mouse_drag_on_the_canvas_paints(qtbot, loaded):
    w, s = loaded, loaded.session
    painter, canvas = w.mask_painter, w.canvas
    steps = s.history.count
    painter.set_tool("brush")
    painter.set_size(3)
    port = canvas.viewport()
    to_view = lambda x, y: canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(x, y)))  # noqa: E731
    a, b = to_view(4, 16), to_view(28, 16)
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, pos=a)
    for t in np.linspace(0, 1, 8):  # QTest moves carry no buttons: send what a held mouse sends
        p = QPointF(a + (b - a) * float(t))
        QApplication.sendEvent(port, QMouseEvent(QEvent.Type.MouseMove, p, port.mapToGlobal(p),
                                                 Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                                                 Qt.KeyboardModifier.NoModifier))
        qtbot.wait(25)  # pyqtgraph drops moves faster than its rate limit, as a screen never sends them
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, pos=b)
    assert painter.mask is not None and painter.mask[16, 4:28].all() and not painter.mask[:12].any()
    assert canvas.zoom() == pytest.approx(canvas.fit_scale())  # the drag painted instead of panning
    assert s.history.count == steps + 1 and s.workspace.mask == painter.unit  # press..release: one step


def test_paint_inserts_mode_sets_the_selection_inside_each_stroke(loaded):
    s, panel, painter = loaded.session, loaded.feature_panel, loaded.mask_painter
    panel.set_selection({0, 2})
    panel.paint_inserts.setChecked(True)
    panel.brush.click()
    steps = s.history.count
    painter.stroke([(20, 20), (26, 26)])
    edits = unit_edits(s.recipe)
    assert {u for e in edits for u in e.units} == {0, 2}
    assert all(e.op == "set" and e.mask == s.workspace.mask == painter.unit for e in edits)
    assert marks_of(s.recipe, panel.layer)[0].masked
    assert s.history.count == steps + 1  # the stroke and its insertion are one step
    s.undo()
    assert unit_edits(s.recipe) == () and s.workspace.mask is None and painter.unit is None


def _gen(blocks, z_dim: int = 8):
    info = ModelInfo(family="test", format="test", resolution=8, z_dim=z_dim)
    return module_generator(nn.Sequential(*(m for _, m in blocks)), info, model_id="test-" + str(len(blocks)),
                            input_fn=lambda ctx: ctx.z, blocks=blocks)


class _ToImage(nn.Module):
    def forward(self, x):
        return torch.tanh(x[:, :3 * 64].reshape(-1, 3, 8, 8))


def test_a_layer_without_spatial_maps_and_a_model_without_layers_say_so(qtbot, session):
    panel = FeaturePanel(session)
    qtbot.addWidget(panel)
    flat = _gen([("fc", nn.Linear(8, 192)), ("image", _ToImage())])
    session.set_generator(flat, "flat.pt")
    assert panel.layer == "fc"
    assert "no spatial feature maps" in panel.message.text() and panel.tiles.count() == 0
    one = _gen([("image", nn.Sequential(nn.Linear(8, 192), _ToImage()))])
    session.set_generator(one, "one.pt")
    assert "no intermediate layers" in panel.message.text() and not panel.layer_box.isEnabled()


def test_replace_units_keeps_other_units_and_layers():
    from studio.core.recipe import ModelRef, SeedLatent
    from studio.core.units import drop, scale, with_unit_edits

    r = with_unit_edits(Recipe(ModelRef(""), SeedLatent(0)), [drop("a", [1, 2, 3]), scale("b", [2], 2.0)])
    out = replace_units(r, "a", [2], [scale("a", [2], 0.5)])
    assert unit_edits(out) == (drop("a", [1, 3]), scale("b", [2], 2.0), scale("a", [2], 0.5))
    assert marks_of(out, "a")[2].value == 0.5 and marks_of(out, "a")[1].dropped
    assert unit_edits(replace_units(out, "a", [1, 2, 3])) == (scale("b", [2], 2.0),)


def test_renderer_is_shared_so_tiles_come_from_the_cache(loaded):
    s = loaded.session
    assert isinstance(s.renderer, Renderer)


# -- the panel as a view of the workspace ------------------------------------------------------------------
def _open(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        drop_files(window, [path])
    assert window.session.model_path == path


def _overlay_alpha(painter: MaskPainter) -> int:
    image = painter.item.image
    return 0 if image is None or not painter.item.isVisible() else int(image[..., 3].max())


def test_layer_and_selection_are_undoable_workspace_steps(qtbot, loaded):
    s, panel = loaded.session, loaded.feature_panel
    names = [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())]
    first, steps = panel.layer, s.history.count
    assert s.workspace.units == UnitSelection()  # the default layer is shown, not written as a step
    _click(qtbot, panel, 1, Qt.KeyboardModifier.ControlModifier)
    _click(qtbot, panel, 4, Qt.KeyboardModifier.ControlModifier)
    assert s.workspace.units == UnitSelection(first, frozenset({1, 4})) and s.history.count == steps + 2
    panel.layer_box.setCurrentIndex(panel.layer_box.findData(names[0]))  # choosing a layer: one step, its selection empty
    assert s.history.count == steps + 3 and s.workspace.units == UnitSelection(names[0], frozenset())
    assert panel.layer == names[0] and panel.selection == set() and panel.tiles.selected == set()
    assert panel.maps.shape == _maps(s, names[0]).shape
    s.undo()
    assert panel.layer == first and panel.layer_box.currentData() == first
    assert panel.selection == panel.tiles.selected == {1, 4}
    np.testing.assert_allclose(panel.maps, _maps(s, first), atol=1e-5)
    assert "2 selected" in panel.selection_label.text()
    s.undo()
    assert panel.tiles.selected == {1}
    s.redo()
    s.redo()
    assert panel.layer == names[0] and panel.layer_box.currentData() == names[0]
    s.undo()
    panel.clear_selection()
    assert panel.tiles.selected == set() and s.workspace.units.units == frozenset()
    s.undo()
    assert panel.tiles.selected == {1, 4}
    before = s.history.index
    _click(qtbot, panel, 6)  # a plain click selects and drops: one step for both
    assert s.history.index == before + 1 and panel.selection == {6} and panel.tiles.marks[6].dropped
    s.undo()
    assert panel.tiles.selected == {1, 4} and panel.tiles.marks == {}


def test_each_stroke_and_clearing_the_mask_is_one_step_and_undo_repaints_the_overlay(loaded):
    w, s = loaded, loaded.session
    panel, painter = w.feature_panel, w.mask_painter
    steps = s.history.count
    panel.brush.click()
    painter.set_size(6)
    painter.stroke([(4, 4), (12, 4)])
    first, first_drawn = s.workspace.mask, painter.mask.copy()
    assert first is painter.unit and first is not None and s.history.count == steps + 1
    painter.stroke([(20, 24), (28, 24)])
    second = s.workspace.mask
    assert second != first and s.history.count == steps + 2 and painter.mask[24, 24]
    s.undo()  # the overlay shows the first stroke only, as painted
    assert s.workspace.mask == first and painter.unit == first
    np.testing.assert_array_equal(painter.mask, first_drawn)
    assert painter.item.image[24, 24, 3] == 0 and painter.item.image[4, 8, 3] > 0
    s.redo()
    assert painter.unit == second and painter.mask[24, 24] and painter.item.image[24, 24, 3] > 0
    panel.sort_box.setCurrentText("Relevance to the mask")
    rel = relevance(torch.from_numpy(panel.maps[None]), second.to_array(*panel.maps.shape[1:])[None])
    assert panel.tiles.order == [int(u) for u in np.argsort(-rel, kind="stable")]
    panel.clear_mask.click()
    assert s.workspace.mask is None and painter.unit is None and _overlay_alpha(painter) == 0
    assert s.history.count == steps + 3 and "Paint a mask" in panel.message.text()
    s.undo()
    assert painter.unit == second and painter.item.image[24, 24, 3] > 0
    assert panel.tiles.order == [int(u) for u in np.argsort(-rel, kind="stable")] and not panel.message.text()
    panel.set_selection({0})
    panel.drop_button.click()
    assert unit_edits(s.recipe)[0].mask == second  # edits take the workspace's mask
    w.canvas.set_image(np.zeros((64, 64, 3), np.uint8))  # a new image size keeps the mask, drawn again
    assert s.workspace.mask == second and painter.unit == second and painter.mask.shape == (64, 64)
    assert painter.mask[48, 48] and painter.item.image[48, 48, 3] > 0


def test_layer_selection_and_mask_are_saved_with_the_project(qtbot, loaded, tiny_dcgan_path):
    s, panel, painter = loaded.session, loaded.feature_panel, loaded.mask_painter
    names = [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())]
    panel.layer_box.setCurrentIndex(panel.layer_box.findData(names[0]))
    _click(qtbot, panel, 1, Qt.KeyboardModifier.ControlModifier)
    _click(qtbot, panel, 3, Qt.KeyboardModifier.ControlModifier)
    panel.brush.click()
    painter.stroke([(8, 8), (20, 20)])
    saved = Project.from_dict(s.project().to_dict())
    assert saved.workspace.units == UnitSelection(names[0], frozenset({1, 3}))
    assert saved.workspace.mask == s.workspace.mask is not None
    other = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    view = FeaturePanel(other, MaskPainter(canvas), stat_samples=8)
    qtbot.addWidget(view)
    other.open_model(tiny_dcgan_path, project=saved)
    assert view.layer == names[0] and view.layer_box.currentData() == names[0]
    assert view.selection == view.tiles.selected == {1, 3} and view.painter.unit == saved.workspace.mask
    other.undo()  # the history came along: the stroke is undone
    assert view.painter.unit is None and view.selection == {1, 3}


def test_switching_models_shows_each_models_own_layer_selection_mask_and_statistics(qtbot, window):
    w, s = window, window.session
    panel, painter = w.feature_panel, w.mask_painter
    panel.stat_samples = STATS
    dcgan, stylegan = DEMOS / "dcgan_toyfaces.safetensors", DEMOS / "stylegan2_toyfaces.safetensors"
    _open(qtbot, w, dcgan)
    w.docks["features"].raise_()
    names_a = [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())]
    layer_a = names_a[1]
    panel.layer_box.setCurrentIndex(panel.layer_box.findData(layer_a))
    _click(qtbot, panel, 7)  # drops unit 7 and selects it
    _click(qtbot, panel, 2, Qt.KeyboardModifier.ControlModifier)
    panel.brush.click()
    painter.stroke([(10, 10), (40, 10)])
    mask_a, stats_a = s.workspace.mask, panel.stats[layer_a]
    assert panel.selection == {2, 7} and panel.tiles.marks[7].dropped and _overlay_alpha(painter) > 0

    _open(qtbot, w, stylegan)
    names_b = [st.name for st in s.generator.stages][:-1]
    assert [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())] == names_b
    assert panel.layer == names_b[-1] == panel.layer_box.currentData()
    assert panel.selection == set() and panel.tiles.selected == set() and panel.tiles.marks == {}
    assert s.workspace.mask is None and painter.unit is None and _overlay_alpha(painter) == 0
    assert layer_a not in panel.stats and panel.stats[names_b[-1]].units == panel.tiles.count()
    np.testing.assert_allclose(panel.maps, _maps(s, names_b[-1]), atol=1e-5)
    _click(qtbot, panel, 3, Qt.KeyboardModifier.ControlModifier)  # B's own selection
    assert s.workspace.units == UnitSelection(names_b[-1], frozenset({3}))

    _open(qtbot, w, dcgan)
    assert panel.layer == layer_a == panel.layer_box.currentData()
    assert panel.selection == panel.tiles.selected == {2, 7} and panel.tiles.marks[7].dropped
    assert painter.unit == mask_a and _overlay_alpha(painter) > 0
    assert panel.stats[layer_a] is stats_a  # statistics are kept per model, not computed again
    np.testing.assert_allclose(panel.maps, _maps(s, layer_a), atol=1e-5)
    s.undo()  # A's history came back too: the stroke goes
    assert painter.unit is None and _overlay_alpha(painter) == 0

    _open(qtbot, w, stylegan)
    assert panel.selection == panel.tiles.selected == {3} and painter.unit is None


def test_unit_statistics_run_a_stage_per_step_and_the_newest_layer_wins(qtbot, tiny_dcgan_path):
    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    panel = FeaturePanel(s, stat_samples=10)
    qtbot.addWidget(panel)
    g = s.models.get(tiny_dcgan_path)
    names = [st.name for st in g.stages]
    steps = list(unit_statistics_job(g, names[1], list(range(10)), batch=4))
    assert len(steps) == 3 * 2 and steps == sorted(steps) and steps[-1] == 1.0  # 3 batches x 2 stages
    errors: list[str] = []
    s.error.connect(errors.append)
    s.set_generator(g, tiny_dcgan_path)
    default = panel.layer
    worker.step()
    worker.step()  # the default layer's statistics have started ...
    panel.set_layer(names[0])  # ... and another layer is chosen: those are cancelled
    assert panel.stats_bar.isVisibleTo(panel)
    worker.run_all()
    assert names[0] in panel.stats and default not in panel.stats
    assert not panel.stats_bar.isVisibleTo(panel) and errors == [] and "failed" not in panel.message.text()
    assert panel.maps is not None and panel.maps.shape[0] == panel.stats[names[0]].units


def test_on_the_real_worker_switching_mid_job_leaves_each_model_its_own_view(qtbot, threaded_window):
    """Jobs superseded or cut off by a model switch report nothing: the view ends on the open model's state."""
    w = threaded_window
    s, worker = w.session, w.session.worker
    errors: list[str] = []
    s.error.connect(errors.append)
    try:
        panel = w.feature_panel
        panel.stat_samples = STATS
        dcgan, stylegan = DEMOS / "dcgan_toyfaces.safetensors", DEMOS / "stylegan2_toyfaces.safetensors"
        with qtbot.waitSignal(panel.tilesReady, timeout=20000):
            drop_files(w, [dcgan])
        names = [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())]
        panel.layer_box.setCurrentIndex(panel.layer_box.findData(names[0]))
        panel.layer_box.setCurrentIndex(panel.layer_box.findData(names[1]))  # newest wins: names[0]'s statistics are cancelled
        qtbot.waitUntil(lambda: panel.maps is not None and names[1] in panel.stats, timeout=20000)
        _click(qtbot, panel, 2, Qt.KeyboardModifier.ControlModifier)
        with qtbot.waitSignal(s.modelChanged, timeout=20000):
            drop_files(w, [stylegan])
        with qtbot.waitSignal(s.modelChanged, timeout=20000):  # back before its statistics are done
            drop_files(w, [dcgan])
        qtbot.waitUntil(lambda: panel.maps is not None and not panel.stats_bar.isVisible(), timeout=20000)
        assert panel.layer == names[1] and panel.selection == panel.tiles.selected == {2}
        assert worker.wait_idle(20)
        np.testing.assert_allclose(panel.maps, _maps(s, names[1]), atol=1e-5)
        assert errors == []
    finally:
        worker.stop()
