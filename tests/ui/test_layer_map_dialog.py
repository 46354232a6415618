"""Directions > Layer map on the StyleGAN2 demo: Run measures every style input as a task, the table shows
the numbers shaded, Export writes CSV and JSON; a DCGAN is told it has no style inputs."""
from __future__ import annotations

import json

import torch

from studio.bundled import resolve_demo
from studio.render.engine import ModelCache
from studio.render.layer_map import HAIR_COLOUR
from studio.render.worker import SyncWorker
from studio.ui.panels.layer_map_dialog import LayerMapDialog, cell_text, shade
from studio.ui.session import Session


def _dialog(qtbot, demo: str):
    s = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    errors: list[str] = []
    s.error.connect(errors.append)
    with qtbot.waitSignal(s.modelChanged, timeout=20000):
        s.open_model(resolve_demo(demo))
    d = LayerMapDialog(s)
    qtbot.addWidget(d)
    return d, errors


def test_run_fills_the_matrix_and_exports(qtbot, tmp_path):
    d, errors = _dialog(qtbot, "demo:stylegan2")
    d.pairs.setValue(8)
    assert d.run() and not errors
    m = d.result
    assert m is not None and d.table.rowCount() == 10 and d.table.columnCount() == len(m.columns)
    assert d.table.verticalHeaderItem(2).text() == "2 (8x8)"
    col = m.columns.index(HAIR_COLOUR)
    cell = d.table.item(2, col)
    assert cell.text() == cell_text(m.values[2, col]) and cell.background().color() == shade(m.values[2, col])
    assert d.export(tmp_path / "map.json") and d.export(tmp_path / "map.csv")
    assert json.loads((tmp_path / "map.json").read_text())["pairs"] == 8
    assert (tmp_path / "map.csv").read_text().splitlines()[0].startswith("first_input,last_input,resolution")


def test_a_model_without_style_inputs_gets_a_message(qtbot):
    d, errors = _dialog(qtbot, "demo:dcgan")
    assert not d.run() and "no style inputs" in errors[-1]
    assert shade(0) == shade(-1) and shade(1).red() < 255
    assert cell_text(-0.001) == "0.00" and cell_text(float("nan")) == "–" and cell_text(0.776) == "0.78"


def test_rows_by_resolution_swap_the_inputs_that_share_one(qtbot):
    d, errors = _dialog(qtbot, "demo:stylegan2")
    d.pairs.setValue(4)
    d.rows.setCurrentIndex(d.rows.findData("resolution"))
    assert d.run() and not errors
    assert d.result.ranges == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert [d.table.verticalHeaderItem(i).text() for i in range(2)] == ["0-1 (4x4)", "2-3 (8x8)"]
