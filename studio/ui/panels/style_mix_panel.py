"""Style mixing for StyleGAN models: a matrix of style inputs by sources, presets, the paper's mixing grid,
and the generator's own controls (noise, StyleGAN3 translate / rotate, class).

The recipe is the only state that matters: each row's source is a Mix edit (studio.render.mixing keeps them
one per run of rows), so every click is an undo step rendered at once, and undo simply re-syncs the matrix.
The panel itself only remembers which seed each source letter stands for.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPixmap, QResizeEvent
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QRadioButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout,
                               QWidget)

from studio.core.recipe import Recipe, SeedLatent, class_condition
from studio.core.style_edits import Transform, with_transform
from studio.model.api import Generator
from studio.model.layer_labels import resolution_channels
from studio.render.mixing import GROUPS, mixing_grid_job, row_sources, style_groups, with_row_sources
from studio.ui.scrolling import scroll_area
from studio.ui.images import to_qimage
from studio.ui.panels.latent_panel import MAX_SEED, SliderRow
from studio.ui.session import Session

SOURCES = "ABCDE"  # A is the recipe's own latent; B-E are seeds chosen here
DEFAULT_SEEDS = (1, 2, 3, 4)
MIN_CELL = 96  # the mixing grid's cells are never drawn smaller (a 64 px face at 1.5x reads; 32 px at 3x)
NOISE_MODES = ("const", "random", "none")


def resolutions_of(g: Generator) -> list[int]:
    fn = getattr(g, "style_resolutions", None)
    return list(fn()) if fn is not None else [g.info.resolution] * g.info.num_ws


class StyleMixPanel(QWidget):
    """Rows = style inputs (grouped coarse / middle / fine), columns = sources A-E, a blend per row."""

    gridReady = Signal(object)  # the mixing grid image (H, W, 3) uint8, when a background render finishes

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.num_ws = 0
        self.groups: dict[str, list[int]] = {}
        self.resolutions: list[int] = []
        self._channels: dict[int, int] = {}
        self.radios: list[list[QRadioButton]] = []
        self.blends: list[QDoubleSpinBox] = []
        self.row_groups: list[QButtonGroup] = []
        self._syncing = False
        self._shown_seeds: dict[int, int] = {}  # source -> the seed its rows took when last synced
        self.grid_dialog: MixGridDialog | None = None

        # sources: A is the base; B-E each a seed
        self.source_seeds: list[QSpinBox] = []
        sources = QGridLayout()
        sources.setHorizontalSpacing(4)
        sources.setVerticalSpacing(4)
        self.base_label = QLabel("A: base")
        self.base_label.setToolTip("Source A is the current image's own latent")
        sources.addWidget(self.base_label, 0, 0)
        for k, (letter, seed) in enumerate(zip(SOURCES[1:], DEFAULT_SEEDS)):
            box = QSpinBox()
            box.setRange(0, MAX_SEED)
            box.setValue(seed)
            box.setPrefix(f"{letter}: ")
            box.setKeyboardTracking(False)
            box.setMinimumWidth(60)
            box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            box.setToolTip(f"The seed source {letter} draws its styles from")
            box.valueChanged.connect(lambda _v, i=len(self.source_seeds) + 1: self._on_source_seed(i))
            self.source_seeds.append(box)
            sources.addWidget(box, (k + 1) // 3, (k + 1) % 3)
        for col in range(3):
            sources.setColumnStretch(col, 1)

        # presets: one source for a whole group of rows
        self.preset_source = QComboBox()
        self.preset_source.addItems(list(SOURCES))
        self.preset_source.setCurrentIndex(1)
        self.preset_source.setToolTip("The source the preset buttons apply")
        self.preset_buttons: dict[str, QPushButton] = {}
        presets = QGridLayout()
        presets.setHorizontalSpacing(4)
        take = QHBoxLayout()
        take.addWidget(QLabel("Preset: take"))
        take.addWidget(self.preset_source)
        take.addWidget(QLabel("for the"))
        take.addStretch(1)
        presets.addLayout(take, 0, 0, 1, 4)
        for k, name in enumerate(GROUPS):
            b = QPushButton(name.capitalize())
            b.setToolTip(f"The {name} style inputs from the chosen source")
            b.clicked.connect(lambda _=False, n=name: self.apply_preset(n, self.preset_source.currentIndex()))
            self.preset_buttons[name] = b
            presets.addWidget(b, 1, k)
        self.reset = QPushButton("All A")
        self.reset.setToolTip("Every style input from the base again")
        self.reset.clicked.connect(lambda: self.set_rows([(-1, 1.0)] * self.num_ws, "Reset style mixing"))
        presets.addWidget(self.reset, 1, 3)

        # the matrix (rebuilt per model)
        self.matrix_host = QWidget()
        self.matrix = QGridLayout(self.matrix_host)
        self.matrix.setContentsMargins(0, 0, 0, 0)
        self.matrix.setHorizontalSpacing(6)
        self.matrix.setVerticalSpacing(1)
        scroll = scroll_area(self.matrix_host)

        self.grid_button = QPushButton("Mixing grid…")
        self.grid_button.setToolTip("Render the StyleGAN paper's grid: sources across, destinations down")
        self.grid_button.clicked.connect(self.open_grid_dialog)

        # the generator's own controls (only those this model has)
        self.extras = QGroupBox("StyleGAN")
        form = QFormLayout(self.extras)
        form.setContentsMargins(8, 6, 8, 6)
        self.noise = QComboBox()
        self.noise.addItems(list(NOISE_MODES))
        self.noise.setToolTip("Per-pixel noise: the stored constant, fresh random noise, or none")
        self.noise.currentTextChanged.connect(self._on_noise)
        self.noise_label = QLabel("Noise")
        form.addRow(self.noise_label, self.noise)
        self.translate_x = SliderRow("Shift x", -0.5, 0.5, 0.0, name_width=56,
                                     tooltip="Move the image sideways (StyleGAN3 input transform)")
        self.translate_y = SliderRow("Shift y", -0.5, 0.5, 0.0, name_width=56,
                                     tooltip="Move the image up or down (StyleGAN3 input transform)")
        self.rotate = SliderRow("Rotate", -180.0, 180.0, 0.0, name_width=56,
                                tooltip="Rotate the image, in degrees (StyleGAN3 input transform)")
        for row in (self.translate_x, self.translate_y, self.rotate):
            row.changed.connect(self._on_transform)
            row.released.connect(session.end_gesture)
            form.addRow(row)
        self.condition = QComboBox()
        self.condition.setToolTip("The class a conditional model draws")
        self.condition.currentIndexChanged.connect(self._on_class)
        self.condition_label = QLabel("Class")
        form.addRow(self.condition_label, self.condition)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addLayout(sources)
        layout.addLayout(presets)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.grid_button)
        layout.addWidget(self.extras)

        session.modelChanged.connect(self.on_model)
        session.recipeChanged.connect(self.sync)
        self.setEnabled(False)
        self.extras.setVisible(False)
        if session.generator is not None:
            self.on_model(session.generator)

    # -- model ---------------------------------------------------------------------------------------
    def on_model(self, g: Generator) -> None:
        supported = "style_mix" in g.info.capabilities and g.info.num_ws > 0
        self.setEnabled(supported)
        self.extras.setVisible(supported)
        if not supported:
            self.num_ws = 0
            self._build_matrix([])
            return
        res = resolutions_of(g)
        self.num_ws = len(res)
        self.groups = style_groups(res)
        self.resolutions = list(res)
        self._channels = resolution_channels(g)
        self._build_matrix(res)
        sg3 = bool(getattr(g, "is_stylegan3", False))
        self.noise.setVisible(not sg3)  # StyleGAN3 has no noise inputs
        self.noise_label.setVisible(not sg3)
        for row in (self.translate_x, self.translate_y, self.rotate):
            row.setVisible(sg3)
        self._syncing = True
        self.condition.clear()
        if g.info.c_dim:
            self.condition.addItems(["(none)"] + [f"Class {i}" for i in range(g.info.c_dim)])
        self._syncing = False
        self.condition.setVisible(g.info.c_dim > 0)
        self.condition_label.setVisible(g.info.c_dim > 0)
        if self.session.recipe is not None:
            self.sync(self.session.recipe)

    def _build_matrix(self, res: Sequence[int]) -> None:
        while self.matrix.count():
            item = self.matrix.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.radios, self.blends, self.row_groups = [], [], []
        if not res:
            return
        bold = QFont()
        bold.setBold(True)
        header = ["Input", "Size"] + list(SOURCES) + ["Blend"]
        for col, text in enumerate(header):
            lab = QLabel(text)
            lab.setFont(bold)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.matrix.addWidget(lab, 0, col)
        line = 1
        group_of = {i: name for name, rows in self.groups.items() for i in rows}
        current = None
        for i, r in enumerate(res):
            if group_of.get(i) != current:
                current = group_of.get(i)
                title = QLabel((current or "").capitalize())
                title.setObjectName("muted")
                title.setFont(bold)
                self.matrix.addWidget(title, line, 0, 1, len(header))
                line += 1
            self.matrix.addWidget(QLabel(str(i)), line, 0, Qt.AlignmentFlag.AlignCenter)
            ch = self._channels.get(int(r))
            size = QLabel(f"{r}x{r} · {ch} ch" if ch else f"{r}x{r}")
            size.setToolTip(f"Style input {i} modulates the {r}×{r} layers" + (f" ({ch} channels)" if ch else ""))
            self.matrix.addWidget(size, line, 1, Qt.AlignmentFlag.AlignCenter)
            group = QButtonGroup(self.matrix_host)
            radios = []
            for s, letter in enumerate(SOURCES):
                rb = QRadioButton()
                rb.setToolTip(f"Style input {i} from source {letter}")
                group.addButton(rb, s)
                self.matrix.addWidget(rb, line, 2 + s, Qt.AlignmentFlag.AlignCenter)
                radios.append(rb)
            radios[0].setChecked(True)
            group.idClicked.connect(lambda s, i=i: self._on_row_source(i, s))
            blend = QDoubleSpinBox()
            blend.setRange(0.05, 1.0)
            blend.setSingleStep(0.1)
            blend.setDecimals(2)
            blend.setValue(1.0)
            blend.setKeyboardTracking(False)
            blend.setEnabled(False)
            blend.setToolTip(f"How much of the chosen source style input {i} takes (1: all of it)")
            blend.valueChanged.connect(lambda v, i=i: self._on_blend(i, v))
            self.matrix.addWidget(blend, line, 2 + len(SOURCES))
            self.radios.append(radios)
            self.blends.append(blend)
            self.row_groups.append(group)
            line += 1
        self.matrix.setRowStretch(line, 1)

    # -- the state, read from and written to the recipe ---------------------------------------------------
    def seed_of(self, source: int) -> int:
        """The seed a source letter stands for; -1 for A (the base latent)."""
        return -1 if source == 0 else self.source_seeds[source - 1].value()

    def rows(self) -> list[tuple[int, float]]:
        """(seed, blend) per style input, as the recipe holds them."""
        if self.session.recipe is None:
            return []
        return row_sources(self.session.recipe, self.num_ws)

    def row_source(self, i: int) -> int:
        """Which source (0 = A ... 4 = E) row i shows as checked."""
        return self.row_groups[i].checkedId()

    def set_rows(self, rows: Sequence[tuple[int, float]], text: str) -> None:
        r = self.session.recipe
        if r is None or not self.num_ws:
            return
        self.session.edit(with_row_sources(r, rows), text)
        self.session.end_gesture()

    def set_row_source(self, i: int, source: int) -> None:
        """Row i takes its style from `source` (what clicking its radio does)."""
        self.radios[i][source].setChecked(True)
        self._on_row_source(i, source)

    def apply_preset(self, group: str, source: int) -> None:
        rows = self.rows()
        for i in self.groups.get(group, []):
            amount = rows[i][1] if rows[i][0] >= 0 else 1.0
            rows[i] = (self.seed_of(source), amount)
        self.set_rows(rows, f"{group.capitalize()} styles from {SOURCES[source]}")

    def _on_row_source(self, i: int, source: int) -> None:
        if self._syncing:
            return
        rows = self.rows()
        rows[i] = (self.seed_of(source), self.blends[i].value() if source else 1.0)
        self.set_rows(rows, f"Style input {i} from {SOURCES[source]}")

    def _on_blend(self, i: int, value: float) -> None:
        if self._syncing:
            return
        rows = self.rows()
        if rows[i][0] >= 0:
            rows[i] = (rows[i][0], float(value))
            self.set_rows(rows, f"Style input {i} blend {value:.2f}")

    def _on_source_seed(self, source: int) -> None:
        """A new seed for a source moves the rows that take from it (one undo step)."""
        if self._syncing or self.session.recipe is None:
            return
        old = self._shown_seeds.get(source)
        new = self.seed_of(source)
        self._remember_seeds()
        rows = self.rows()
        if old is None or not any(s == old for s, _ in rows):
            return
        self.set_rows([(new, a) if s == old else (s, a) for s, a in rows],
                      f"Source {SOURCES[source]} seed {new}")

    def _remember_seeds(self) -> None:
        self._shown_seeds = {i + 1: b.value() for i, b in enumerate(self.source_seeds)}

    def sync(self, recipe: Recipe) -> None:
        """Show the recipe's sources (after any edit, undo or redo); a seed no source holds takes a free
        source."""
        if not self.num_ws:
            return
        self._syncing = True
        try:
            rows = row_sources(recipe, self.num_ws)
            used = {s for s, _ in rows if s >= 0}
            held = {b.value() for b in self.source_seeds}
            free = [b for b in self.source_seeds if b.value() not in used]
            for seed in sorted(used - held):
                if free:
                    free.pop(0).setValue(seed)
            self._remember_seeds()
            slot = {b.value(): k + 1 for k, b in enumerate(self.source_seeds)}
            for i, (seed, amount) in enumerate(rows):
                source = 0 if seed < 0 else slot.get(seed, 0)
                self.radios[i][source].setChecked(True)
                self.blends[i].setEnabled(seed >= 0)
                self.blends[i].setValue(amount if seed >= 0 else 1.0)
            if isinstance(recipe.latent, SeedLatent):
                self.base_label.setText(f"A: seed {recipe.latent.seed}")
            else:
                self.base_label.setText("A: base")
            self.noise.setCurrentText(recipe.noise)
            t = next((e for e in recipe.edits if isinstance(e, Transform)), Transform())
            self.translate_x.set_value(t.translate[0])
            self.translate_y.set_value(t.translate[1])
            self.rotate.set_value(t.angle)
            if self.condition.count():
                cls = int(np.argmax(recipe.condition)) + 1 if any(recipe.condition) else 0
                self.condition.setCurrentIndex(cls)
        finally:
            self._syncing = False

    # -- generator controls ------------------------------------------------------------------------------
    def _on_noise(self, mode: str) -> None:
        r = self.session.recipe
        if self._syncing or r is None or mode not in NOISE_MODES:
            return
        self.session.edit(replace(r, noise=mode), f"Noise {mode}")
        self.session.end_gesture()

    def _on_transform(self, _value: float, dragging: bool) -> None:
        r = self.session.recipe
        if self._syncing or r is None:
            return
        self.session.edit(with_transform(r, (self.translate_x.value(), self.translate_y.value()),
                                         self.rotate.value()), "Move / rotate", merge_key="transform")
        if not dragging:
            self.session.end_gesture()

    def _on_class(self, index: int) -> None:
        r, g = self.session.recipe, self.session.generator
        if self._syncing or r is None or g is None or not g.info.c_dim or index < 0:
            return
        cond = class_condition(index - 1, g.info.c_dim) if index > 0 else ()
        self.session.edit(replace(r, condition=cond), f"Class {index - 1}" if index else "No class")
        self.session.end_gesture()

    # -- the mixing grid -------------------------------------------------------------------------------
    def open_grid_dialog(self) -> "MixGridDialog":
        if self.grid_dialog is None:
            self.grid_dialog = MixGridDialog(self)
        self.grid_dialog.prefill()
        self.grid_dialog.show()
        self.grid_dialog.raise_()
        return self.grid_dialog

    def render_grid(self, rows: Sequence[int], cols: Sequence[int], layers: tuple[int, int]) -> None:
        """The paper's grid in the background; `gridReady` carries the image."""
        s = self.session
        if s.generator is None or s.recipe is None:
            return
        s.run_job(mixing_grid_job(s.renderer, s.generator, s.recipe, list(rows), list(cols), layers),
                  on_done=self.gridReady.emit, on_error=self._grid_failed,
                  on_progress=lambda p: self.grid_dialog.progress(p) if self.grid_dialog else None)

    def _grid_failed(self, msg: str) -> None:
        if self.grid_dialog is not None:
            self.grid_dialog.failed(msg)
        if msg != "cancelled":
            self.session.error.emit(f"mixing grid: {msg}")


def parse_seed_list(text: str) -> list[int]:
    """'1, 2, 5-7' -> [1, 2, 5, 6, 7]; ValueError with a message the dialog shows."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"{part!r} is not a seed or a range like 5-7")
        a, b = int(lo), int(hi or lo)
        if b < a or b - a > 64:
            raise ValueError(f"{part!r}: give a short increasing range")
        seeds.extend(range(a, b + 1))
    if not seeds:
        raise ValueError("give at least one seed")
    return seeds


class MixGridDialog(QDialog):
    """Seeds down and across, a layer range; renders in the background and saves one PNG."""

    def __init__(self, panel: StyleMixPanel):
        super().__init__(panel)
        self.panel = panel
        self.image: np.ndarray | None = None
        self.setWindowTitle("Style-mixing grid")
        self.rows = QLineEdit()
        self.rows.setToolTip("Destination seeds, down the left (e.g. 1,2,3 or 10-13)")
        self.cols = QLineEdit()
        self.cols.setToolTip("Source seeds across the top, whose styles each cell takes")
        self.range = QComboBox()
        self.range.setToolTip("Which style inputs each cell takes from its column's seed")
        self.render_button = QPushButton("Render")
        self.render_button.setDefault(True)
        self.render_button.clicked.connect(self.render)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_dialog)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        # the grid as cells with their seeds (sources across, destinations down), never under MIN_CELL px
        self.view = QWidget()
        self.view.setObjectName("mixGrid")
        self.cells = QGridLayout(self.view)
        self.cells.setSpacing(4)
        self.cells.setContentsMargins(4, 4, 4, 4)
        self.cell_labels: dict[tuple[int, int], QLabel] = {}  # (row, col) incl. the source row 0 / column 0
        self.seed_labels: list[QLabel] = []
        self.placeholder = QLabel("Rows take their styles from the column seeds: press Render.")
        self.placeholder.setObjectName("muted")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cells.addWidget(self.placeholder, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.view)
        self.scroll.setMinimumSize(5 * MIN_CELL, 3 * MIN_CELL + 40)
        self._grid_seeds: tuple[list[int], list[int]] = ([], [])
        form = QFormLayout()
        form.addRow("Rows (destinations)", self.rows)
        form.addRow("Columns (sources)", self.cols)
        form.addRow("Style inputs", self.range)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.render_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(buttons)
        self.resize(720, 620)
        panel.gridReady.connect(self.show_grid)

    def prefill(self) -> None:
        p = self.panel
        r = p.session.recipe
        base = r.latent.seed if r is not None and isinstance(r.latent, SeedLatent) else 0
        if not self.rows.text():
            self.rows.setText(f"{base},{base + 10},{base + 20}")
        if not self.cols.text():
            self.cols.setText(",".join(str(b.value()) for b in p.source_seeds))
        self.range.clear()
        for name in GROUPS:
            rows = p.groups.get(name, [])
            if rows:
                lo, hi = (p.resolutions[rows[0]], p.resolutions[rows[-1]]) if p.resolutions else (0, 0)
                sizes = f"{lo}x{lo}" if lo == hi else f"{lo}x{lo} to {hi}x{hi}"
                self.range.addItem(f"{name.capitalize()}: {sizes} (inputs {rows[0]}-{rows[-1]})",
                                   (rows[0], rows[-1] + 1))

    def layers(self) -> tuple[int, int]:
        return self.range.currentData() or (0, 0)

    def render(self) -> bool:
        try:
            rows, cols = parse_seed_list(self.rows.text()), parse_seed_list(self.cols.text())
        except ValueError as exc:
            self.status.setText(str(exc))
            return False
        self.status.setText("rendering…")
        self.bar.setValue(0)
        self.bar.setVisible(True)
        self.render_button.setEnabled(False)
        self._grid_seeds = (rows, cols)
        self.panel.render_grid(rows, cols, self.layers())
        return True

    def progress(self, p: object) -> None:
        self.bar.setValue(int(float(p) * 100))  # type: ignore[arg-type]

    def failed(self, msg: str) -> None:
        self.bar.setVisible(False)
        self.render_button.setEnabled(True)
        self.status.setText("cancelled" if msg == "cancelled" else msg)

    def show_grid(self, image: np.ndarray) -> None:
        self.image = image
        self.bar.setVisible(False)
        self.render_button.setEnabled(True)
        self.save_button.setEnabled(True)
        h, w = image.shape[:2]
        self.status.setText(f"{w}×{h}")
        self._build_cells()
        self._fit_view()

    def cell_size(self) -> int:
        """Screen pixels per cell: as large as fits the dialog, never under MIN_CELL (the grid scrolls)."""
        rows, cols = self._grid_seeds
        if self.image is None or not rows or not cols:
            return MIN_CELL
        box = self.scroll.viewport().size()
        room = min((box.width() - 16) / (len(cols) + 1.4), (box.height() - 16) / (len(rows) + 1.4))
        return max(MIN_CELL, int(room) - 8)

    def _build_cells(self) -> None:
        """One label per cell and one per seed; the corner says what the axes are instead of a white square."""
        while self.cells.count():
            item = self.cells.takeAt(0)
            if item.widget() is not None and item.widget() is not self.placeholder:
                item.widget().deleteLater()
        self.placeholder.hide()
        self.cell_labels.clear()
        self.seed_labels = []
        rows, cols = self._grid_seeds
        corner = QLabel("styles from →\n↓ applied to")  # where the paper's figure has a white square
        corner.setObjectName("muted")
        corner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cells.addWidget(corner, 1, 1)
        for j, seed in enumerate(cols):  # grid column 0: row seeds; 1: the rows' own images; 2.. mixed
            self._seed_label(f"seed {seed}", 0, 2 + j, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom)
        for i, seed in enumerate(rows):
            self._seed_label(f"seed {seed}", 2 + i, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for i in range(len(rows) + 1):
            for j in range(len(cols) + 1):
                if i == 0 and j == 0:
                    continue
                lab = QLabel()
                lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self.cells.addWidget(lab, 1 + i, 1 + j, Qt.AlignmentFlag.AlignCenter)
                self.cell_labels[(i, j)] = lab
        self.cells.setRowStretch(len(rows) + 2, 1)
        self.cells.setColumnStretch(len(cols) + 2, 1)

    def _seed_label(self, text: str, row: int, col: int, align: Qt.AlignmentFlag) -> None:
        lab = QLabel(text)
        lab.setObjectName("seedLabel")
        lab.setAlignment(align)
        self.cells.addWidget(lab, row, col)
        self.seed_labels.append(lab)

    def _fit_view(self) -> None:
        """Each cell at cell_size(), scaled smoothly from the model's pixels (never cropped: the grid scrolls)."""
        rows, cols = self._grid_seeds
        if self.image is None or not self.cell_labels:
            return
        n_rows, n_cols = len(rows) + 1, len(cols) + 1
        h, w = self.image.shape[0] // n_rows, self.image.shape[1] // n_cols
        k = self.cell_size()
        for (i, j), lab in self.cell_labels.items():
            tile = np.ascontiguousarray(self.image[i * h:(i + 1) * h, j * w:(j + 1) * w])
            pix = QPixmap.fromImage(to_qimage(tile)).scaled(k, k, Qt.AspectRatioMode.KeepAspectRatio,
                                                            Qt.TransformationMode.SmoothTransformation)
            lab.setPixmap(pix)
            lab.setFixedSize(pix.size())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_view()

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save mixing grid", str(Path.home() / "mixing_grid.png"),
                                              "PNG image (*.png)")
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> bool:
        if self.image is None:
            return False
        if not path.suffix:
            path = path.with_suffix(".png")
        if not to_qimage(self.image).save(str(path), "PNG"):
            self.status.setText(f"could not write {path}")
            return False
        self.status.setText(f"saved {path.name}")
        return True
