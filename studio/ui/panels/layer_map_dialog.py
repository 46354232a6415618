"""Directions > Layer map: which style inputs control what, as a heat map of measured numbers.

A thin view of studio.render.layer_map: the map runs on the worker as a status-bar task (progress, Cancel),
the result is a table whose cells are shaded by value (0 = stays A, 1 = follows B) with the numbers in them,
and Export writes them as CSV or JSON.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.atomic import write_atomic
from studio.errors import StudioError
from studio.render.layer_map import (DEFAULT_PAIRS, IMAGE_CHANGE, LayerMap, default_ranges, layer_map_job,
                                     model_labeller, resolution_ranges)
from studio.ui.session import Session

TASK = "Layer map"
HOT = (214, 96, 32)  # the colour of a quantity that fully follows B


def shade(value: float, top: float = 1.0) -> QColor:
    """White for 0 through HOT for `top` and above (negative values read as 0)."""
    t = float(np.clip(value / top if top > 0 else 0.0, 0.0, 1.0)) if np.isfinite(value) else 0.0
    return QColor(*(int(round(255 + (h - 255) * t)) for h in HOT))


def cell_text(v: float) -> str:
    """Two decimals; a dash for no value (no pair differed), and no "-0.00" for a tiny negative slope."""
    if not np.isfinite(v):
        return "–"
    text = f"{v:.2f}"
    return "0.00" if text == "-0.00" else text


class LayerMapDialog(QDialog):
    """The layer map of the open model: Run, the matrix, Export."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.result: LayerMap | None = None
        self._handle = None
        self.setWindowTitle("Layer map: which style inputs control what")
        self.pairs = QSpinBox()
        self.pairs.setRange(4, 2000)
        self.pairs.setValue(DEFAULT_PAIRS)
        self.pairs.setToolTip("Seed pairs (A, B) per row: A is rendered with that style input from B")
        self.rows = QComboBox()
        self.rows.addItem("each style input", "input")
        self.rows.addItem("each resolution", "resolution")
        self.rows.setToolTip("Rows: one per style input (the mixing matrix's rows) or one per block resolution "
                             "(the inputs that share it swapped together)")
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the numbers as CSV or JSON")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_dialog)
        top = QHBoxLayout()
        top.addWidget(QLabel("Pairs per row"))
        top.addWidget(self.pairs)
        top.addWidget(QLabel("Rows"))
        top.addWidget(self.rows)
        top.addWidget(self.run_button)
        top.addStretch(1)
        top.addWidget(self.export_button)
        self.note = QLabel("Each row swaps its style inputs (a row of the mixing matrix, or a resolution's) from seed B into "
                           "seed A. "
                           "Cells: how far each quantity follows B (0 = stays A, 1 = follows B); "
                           "image change: the pixels' change relative to B - A.")
        self.note.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.status = QLabel("")
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)
        self.resize(900, 520)
        session.modelChanged.connect(lambda _g: self._clear())

    def _clear(self) -> None:
        self.result = None
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.export_button.setEnabled(False)
        self.status.setText("")

    def run(self) -> bool:
        """Start the map for the open model (a status-bar task); a model without style inputs is a message."""
        g, recipe = self.session.generator, self.session.recipe
        if g is None or recipe is None:
            self.session.error.emit("Open a StyleGAN-like model first: the layer map swaps its style inputs")
            return False
        if "style_mix" not in g.info.capabilities or not g.info.num_ws:
            self.session.error.emit(f"{g.info.family} models have no style inputs to map; the layer map is for "
                                    f"StyleGAN-like models")
            return False
        labeller = model_labeller(g)
        try:
            ranges = resolution_ranges(g) if self.rows.currentData() == "resolution" else default_ranges(g)
            job = layer_map_job(self.session.renderer, g, recipe, labeller, self.pairs.value(), ranges)
        except StudioError as exc:
            self.session.error.emit(str(exc))
            return False
        self.run_button.setEnabled(False)
        self.status.setText(f"Measuring {len(ranges)} rows x {self.pairs.value()} pairs"
                            + (f" with {labeller.name}" if labeller else " (no labeller for this model: "
                               "pixel columns only)") + "…")
        self._handle = self.session.run_job(job, on_done=self._done, on_error=self._failed, key="layer_map",
                                            task=TASK)
        return True

    def _failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.status.setText("")
        if "cancel" not in message.lower():
            self.session.error.emit(f"Layer map failed: {message}")

    def _done(self, result: LayerMap) -> None:
        self.run_button.setEnabled(True)
        self.show_map(result)

    def show_map(self, m: LayerMap) -> None:
        self.result = m
        self.table.setRowCount(len(m.ranges))
        self.table.setColumnCount(len(m.columns))
        heads = [c.replace("_", " ") for c in m.columns]
        self.table.setHorizontalHeaderLabels([h.capitalize() if h.islower() else h for h in heads])
        self.table.setVerticalHeaderLabels([m.row_label(i) for i in range(len(m.ranges))])
        top_change = float(np.nanmax(m.column(IMAGE_CHANGE))) if len(m.ranges) else 1.0
        for r in range(len(m.ranges)):
            for c, name in enumerate(m.columns):
                v = float(m.values[r, c])
                item = QTableWidgetItem(cell_text(v))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QBrush(shade(v, top_change if name == IMAGE_CHANGE else 1.0)))
                item.setForeground(QBrush(QColor(20, 20, 20)))
                item.setToolTip(f"inputs {m.row_label(r)} from B: {name} {v:.3f}")
                self.table.setItem(r, c, item)
        self.export_button.setEnabled(True)
        self.status.setText(f"{m.pairs} pairs per row" + (f", scored by {m.labeller}" if m.labeller else "")
                            + ". Darker = follows the swapped-in seed more.")

    def export(self, path: Path) -> bool:
        if self.result is None:
            return False
        text = self.result.to_json() if path.suffix.lower() == ".json" else self.result.to_csv()
        try:
            write_atomic(path, text)
        except OSError as exc:
            self.session.error.emit(f"Could not write {path}: {exc}")
            return False
        self.session.message.emit(f"Layer map written to {path}")
        return True

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export layer map", str(Path.home() / "layer_map.csv"),
                                              "CSV (*.csv);;JSON (*.json)")
        if path:
            self.export(Path(path))
