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

from studio.core.recipe import Recipe
from studio.core.units import UnitEdit, UnitMask, unit_edits
from studio.model.modules import module_generator
from studio.model.api import ModelInfo
from studio.render.engine import Renderer
from studio.render.features import layer_activations
from studio.ui.panels.feature_panel import FeaturePanel, marks_of, replace_units

from .helpers import drop_files

STATS = 40  # samples for unit statistics: enough for a histogram, fast on a shared CPU


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
    assert [panel.layer_box.itemText(i) for i in range(panel.layer_box.count())] == names[:-1]
    assert panel.layer == names[-2]
    expected = _maps(s, panel.layer)
    assert panel.tiles.count() == expected.shape[0] > 1
    np.testing.assert_allclose(panel.maps, expected, atol=1e-5)
    st = panel.stats[panel.layer]  # a SyncWorker finishes the background job at once
    assert st.n_samples == STATS and st.units == expected.shape[0]
    panel.layer_box.setCurrentText(names[0])
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
    assert edit.units == tuple(units) and edit.mask == UnitMask.from_array(painter.mask)
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
    assert painter.mask is None or not painter.mask.any()


def test_mouse_drag_on_the_canvas_paints(qtbot, loaded):
    w = loaded
    painter, canvas = w.mask_painter, w.canvas
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


def test_paint_inserts_mode_sets_the_selection_inside_each_stroke(loaded):
    s, panel, painter = loaded.session, loaded.feature_panel, loaded.mask_painter
    panel.set_selection({0, 2})
    panel.paint_inserts.setChecked(True)
    panel.brush.click()
    painter.stroke([(20, 20), (26, 26)])
    edits = unit_edits(s.recipe)
    assert {u for e in edits for u in e.units} == {0, 2}
    assert all(e.op == "set" and e.mask == UnitMask.from_array(painter.mask) for e in edits)
    assert marks_of(s.recipe, panel.layer)[0].masked
    s.undo()
    assert unit_edits(s.recipe) == ()


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
