"""Directions: the user's library of saved directions, imports, labelled fitting, and their walk sliders.

A direction becomes a slider row (latent_panel's SliderRow) whose moves are Walk edits labelled
"dir:<name>", so walking it is undoable, saved in projects and re-rendered by the CLI like any walk.
Fitting runs as a background job (render samples, score them with the ToyFaces attribute model, fit a
linear classifier); its score-along-the-walk plot is a second job on the same worker.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGridLayout, QGroupBox,
                               QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMenu, QMessageBox, QPushButton,
                               QSpinBox, QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from studio.core.direction_library import (EXT, DirectionLibrary, DirectionMismatch, SavedDirection,
                                           check_compatible, export_npy, import_file, matches_model,
                                           save_direction)
from studio.core.directions import DirectionSet
from studio.core.labelled import CLASSIFIERS, FittedDirection, attribute_scores_job, fit_attribute_job, fit_hand_labels
from studio.core.recipe import Recipe
from studio.demo import attributes
from studio.demo.toyfaces import BINARY_ATTRIBUTES
from studio.errors import StudioError
from studio.model.api import Generator
from studio.render.engine import Renderer
from studio.ui.scrolling import scroll_area
from studio.ui import theme
from studio.ui.images import thumbnail
from studio.ui.panels.latent_panel import WALK_RANGE, SliderRow, WalkSection
from studio.ui.paths import checkpoints_dir
from studio.ui.session import Session

SCORE_AMOUNTS = np.linspace(-WALK_RANGE, WALK_RANGE, 13)  # slider units of the score-along-walk plot
IMPORT_FILTERS = {
    "lsdir": f"Latent Studio direction (*{EXT})",
    "interfacegan": "InterFaceGAN boundary (*.npy)",
    "ganspace": "GANSpace components (*.npz)",
    "sefa": "SeFa eigenvectors (*.npy *.npz *.pt)",
}
MATCH_TEXT = {"match": "✓ this model", "any model": "any model", "other model": "other model",
              "mismatch": "✗ does not fit"}
CLASSIFIER_NAMES = {"logistic": "Logistic regression", "svm": "Linear SVM"}
ATTRIBUTE_MODEL = checkpoints_dir() / "toyfaces_attributes.safetensors"  # labels ToyFaces (demo) samples


@functools.lru_cache(maxsize=2)
def attribute_model(path: Path) -> attributes.AttributeNet:
    """Loaded once per path: fits and score plots reuse it."""
    return attributes.load(path)


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background=theme.colour("base"))
    w.setMenuEnabled(False)
    w.setMouseEnabled(False, False)
    w.hideButtons()
    w.setTitle(title, size="9pt", color=theme.colour("text"))
    for side, text in (("left", left), ("bottom", bottom)):
        w.setLabel(side, text, color=theme.colour("muted"))
    w.getAxis("left").enableAutoSIPrefix(False)
    w.setMinimumHeight(140)
    w.setMaximumHeight(220)
    return w


class HandLabelDialog(QDialog):
    """A grid of samples to mark positive (click once) or negative (twice); a third click clears."""

    GRID = 4
    THUMB = 72
    STATES = (None, True, False)

    def __init__(self, g: Generator, base: Recipe, first_seed: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Fit a direction from hand labels")
        self.g, self.base = g, base.without_walks()
        self.labels: dict[int, bool] = {}
        self.first_seed = first_seed
        self.name = QLineEdit("My direction")
        self.buttons: list[QToolButton] = []
        grid = QGridLayout()
        for i in range(self.GRID * self.GRID):
            b = QToolButton()
            b.setIconSize(QSize(self.THUMB, self.THUMB))
            b.setFixedSize(self.THUMB + 10, self.THUMB + 10)
            b.clicked.connect(lambda _=False, i=i: self.cycle(i))
            grid.addWidget(b, i // self.GRID, i % self.GRID)
            self.buttons.append(b)
        self.more = QPushButton("More samples")
        self.more.clicked.connect(lambda: self.show_page(self.first_seed + self.GRID * self.GRID))
        self.count = QLabel("")
        self.count.setObjectName("muted")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.button(QDialogButtonBox.StandardButton.Ok).setText("Fit")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Name"))
        name_row.addWidget(self.name, 1)
        hint = QLabel("Click a sample once if it shows the attribute (green), twice if it does not (red).")
        hint.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self.more)
        bottom.addWidget(self.count, 1)
        col = QVBoxLayout(self)
        col.addLayout(name_row)
        col.addWidget(hint)
        col.addLayout(grid)
        col.addLayout(bottom)
        col.addWidget(box)
        self.show_page(first_seed)

    def seeds(self) -> list[int]:
        return [self.first_seed + i for i in range(self.GRID * self.GRID)]

    def show_page(self, first_seed: int) -> None:
        self.first_seed = first_seed
        images = Renderer().render_batch(self.g, [self.base.with_seed(s) for s in self.seeds()])
        for b, img, s in zip(self.buttons, images, self.seeds()):
            b.setIcon(thumbnail(img, self.THUMB))
            b.setToolTip(f"Seed {s}")
        self._restyle()

    def cycle(self, i: int) -> None:
        seed = self.seeds()[i]
        state = self.STATES[(self.STATES.index(self.labels.get(seed)) + 1) % 3]
        if state is None:
            self.labels.pop(seed, None)
        else:
            self.labels[seed] = state
        self._restyle()

    def _restyle(self) -> None:
        for b, s in zip(self.buttons, self.seeds()):
            state = self.labels.get(s)
            colour = {True: "#2e9e4f", False: "#d0433b"}.get(state)  # type: ignore[arg-type]
            b.setStyleSheet(f"QToolButton {{ border: 3px solid {colour}; }}" if colour else "")
        pos = sum(self.labels.values())
        self.count.setText(f"{pos} positive, {len(self.labels) - pos} negative")

    def result(self) -> tuple[list[int], list[bool], str]:  # type: ignore[override]
        seeds = sorted(self.labels)
        return seeds, [self.labels[s] for s in seeds], self.name.text().strip() or "My direction"


class DirectionsPanel(QWidget):
    """Library list, import/export, fitting and the sliders of the directions in use."""

    fitted = Signal(object)      # FittedDirection, after a fit (tests wait on this)
    scoresReady = Signal(object)  # (amounts, scores) of the score-along-walk plot

    def __init__(self, session: Session, library: DirectionLibrary | None = None,
                 attribute_path: Path = ATTRIBUTE_MODEL, fit_samples: int = 1000, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.library = library or DirectionLibrary()
        self.attribute_path = Path(attribute_path)
        self.project_directions: list[SavedDirection] = []  # kept in the project file, not the library
        self.active: dict[str, tuple[SavedDirection, int, SliderRow]] = {}
        self.last_fit: FittedDirection | None = None
        self.last_scores: tuple[np.ndarray, np.ndarray] | None = None
        self._busy = False
        # how to ask "walk a direction made for another model anyway?" (tests replace it)
        self.confirm_other_model: Callable[[str], bool] = self._ask_other_model

        # library
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Space", "Source", "Model"])
        self.tree.setRootIsDecorated(False)
        self.tree.setMinimumHeight(90)
        self.tree.setMaximumHeight(130)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.itemDoubleClicked.connect(lambda *_: self.use_selected())
        self.use_btn = QPushButton("Use")
        self.use_btn.setToolTip("Add the selected direction's slider below")
        self.use_btn.clicked.connect(self.use_selected)
        self.import_btn = QPushButton("Import")
        menu = QMenu(self.import_btn)
        for kind, text in (("lsdir", "Latent Studio direction (.lsdir)…"), ("interfacegan", "InterFaceGAN boundary (.npy)…"),
                           ("ganspace", "GANSpace components (.npz)…"), ("sefa", "SeFa eigenvectors…")):
            menu.addAction(text, lambda kind=kind: self.import_dialog(kind))
        self.import_btn.setMenu(menu)
        self.export_btn = QPushButton("Export…")
        self.export_btn.clicked.connect(self.export_dialog)
        self.rename_btn = QPushButton("Rename…")
        self.rename_btn.clicked.connect(self.rename_dialog)
        self.delete_btn = QPushButton("Delete")
        self.delete_btn.clicked.connect(self.delete_selected)
        self.save_btn = QPushButton("Save to library")
        self.save_btn.setToolTip("Keep a project direction (fitted or imported) in your library for other projects")
        self.save_btn.clicked.connect(self.save_selected)
        lib_box = QGroupBox("Library")
        lib = QVBoxLayout(lib_box)
        lib.addWidget(self.tree)
        for buttons in ((self.use_btn, self.import_btn, self.export_btn),
                        (self.rename_btn, self.delete_btn, self.save_btn)):
            row = QHBoxLayout()
            for b in buttons:
                row.addWidget(b)
            lib.addLayout(row)

        # fitting
        self.attribute = QComboBox()
        self.attribute.addItems(list(BINARY_ATTRIBUTES))
        self.attribute.setCurrentText("Smiling")
        self.samples = QSpinBox()
        self.samples.setRange(50, 20000)
        self.samples.setSingleStep(250)
        self.samples.setValue(fit_samples)
        self.classifier = QComboBox()
        for c in CLASSIFIERS:
            self.classifier.addItem(CLASSIFIER_NAMES[c], c)
        self.space = QComboBox()
        self.fit_btn = QPushButton("Fit from attribute model")
        self.fit_btn.clicked.connect(self.fit_from_attribute)
        self.hand_btn = QPushButton("Fit from hand labels…")
        self.hand_btn.clicked.connect(self.fit_from_hand_labels)
        self.fit_status = QLabel("")
        self.fit_status.setObjectName("muted")
        self.fit_status.setWordWrap(True)
        fit_box = QGroupBox("Fit a labelled direction")
        form = QGridLayout(fit_box)
        for r, (text, w) in enumerate((("Attribute", self.attribute), ("Samples", self.samples),
                                       ("Classifier", self.classifier), ("Space", self.space))):
            form.addWidget(QLabel(text), r, 0)
            form.addWidget(w, r, 1)
        form.addWidget(self.fit_btn, 4, 0, 1, 2)
        form.addWidget(self.hand_btn, 5, 0, 1, 2)
        form.addWidget(self.fit_status, 6, 0, 1, 2)

        # sliders and plots
        self.section = WalkSection("Active directions")
        self.section.set_waiting("Use or fit a direction to walk it.")
        self.score_plot = _plot("Classifier score along the walk", "P(attribute)", "slider (std)")
        self.score_plot.setYRange(0, 1)
        self.score_curve = self.score_plot.plot([], [], pen=pg.mkPen(theme.colour("accent"), width=2),
                                                symbol="o", symbolSize=5, symbolBrush=theme.colour("accent"))
        self.pca_plot = _plot("PCA explained variance (Walk panel)", "% of variance", "component")
        self.pca_bars: pg.BarGraphItem | None = None

        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(10, 8, 10, 10)
        col.setSpacing(8)
        for w in (lib_box, fit_box, self.section, self.score_plot, self.pca_plot):
            col.addWidget(w)
        col.addStretch(1)
        scroll = self.scroll = scroll_area(content, horizontal=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        session.modelChanged.connect(self.on_model)
        session.recipeChanged.connect(self.sync)
        self.refresh()
        self._update_enabled()
        if session.generator is not None:
            self.on_model(session.generator)

    # -- state --------------------------------------------------------------------------------------------
    def _model_key(self) -> tuple[str, str]:
        g = self.session.generator
        name = self.session.model_path.name if self.session.model_path else ""
        return (g.model_id if g is not None else ""), name

    def on_model(self, g: Generator) -> None:
        self.section.clear()
        self.active.clear()
        self.section.set_waiting("Use or fit a direction to walk it.")
        self.space.clear()
        self.space.addItem("z", "z")
        if g.info.w_dim and hasattr(g, "map"):
            self.space.addItem("w", "w")
            self.space.setCurrentIndex(1)
        self.score_curve.setData([], [])
        self.refresh()
        self._update_enabled()

    def _update_enabled(self) -> None:
        g = self.session.generator
        walkable = g is not None and "walk" in g.info.capabilities
        has_oracle = self.attribute_path.is_file()
        self.fit_btn.setEnabled(walkable and has_oracle and not self._busy)
        self.fit_btn.setToolTip("Label generated samples with the ToyFaces attribute model (demo models) and fit "
                                "a linear classifier on their latents" if has_oracle else
                                f"needs the attribute model {self.attribute_path.name}")
        self.hand_btn.setEnabled(walkable and not self._busy)

    def set_project_directions(self, directions: tuple[SavedDirection, ...] | list[SavedDirection]) -> None:
        self.project_directions = list(directions)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list: project directions first, then the library folder's files."""
        self.tree.clear()
        g = self.session.generator
        sha, _ = self._model_key()
        entries: list[tuple[str, Path | None, SavedDirection]] = [("project", None, d) for d in self.project_directions]
        entries += [("library", p, d) for p, d in self.library.entries()]
        for origin, path, d in entries:
            match = matches_model(d, g.info, sha) if g is not None else "any model"
            item = QTreeWidgetItem([d.name + (" (project)" if origin == "project" else ""),
                                    d.space + (f" [{d.layers[0]}, {d.layers[1]})" if d.layers else ""),
                                    d.source, MATCH_TEXT[match]])
            item.setData(0, Qt.ItemDataRole.UserRole, (origin, path, d))
            tip = f"{len(d)} vector(s) of {d.dim}; made for {d.model_name or 'any model'}; created {d.created or '?'}"
            if "held_out_accuracy" in d.info:
                tip += f"; held-out accuracy {d.info['held_out_accuracy']:.1%}"
            for c in range(4):
                item.setToolTip(c, tip)
            if match == "mismatch":
                item.setForeground(3, QColor("#d0433b"))
            elif match == "match":
                item.setForeground(3, QColor("#2e9e4f"))
            self.tree.addTopLevelItem(item)
        for c in range(4):
            self.tree.resizeColumnToContents(c)
        if self.library.errors:
            self.session.message.emit("Skipped unreadable direction files: " + "; ".join(self.library.errors))

    def selected(self) -> tuple[str, Path | None, SavedDirection] | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def select(self, name: str) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole)[2].name == name:
                self.tree.setCurrentItem(item)
                return True
        return False

    # -- using directions ---------------------------------------------------------------------------------
    def use_selected(self) -> bool:
        sel = self.selected()
        return self.activate(sel[2]) if sel is not None else False

    def activate(self, d: SavedDirection, allow_other_model: bool = False) -> bool:
        """Add `d`'s sliders; a direction that does not fit is refused with a message (never a traceback)."""
        g = self.session.generator
        if g is None:
            return False
        sha, name = self._model_key()
        try:
            check_compatible(d, g.info, sha, name, allow_other_model)
        except DirectionMismatch as exc:
            if allow_other_model or matches_model(d, g.info, sha) != "other model" \
                    or not self.confirm_other_model(str(exc)):
                self.session.error.emit(str(exc))
                return False
        self.section.set_waiting("")
        for i in range(len(d)):
            label = d.label(i)
            if label in self.active:
                continue
            unit = float(d.stddev[i]) if d.stddev is not None else 1.0
            row = SliderRow(d.name if len(d) == 1 else f"{d.name} {i + 1}", -WALK_RANGE, WALK_RANGE, 0.0,
                            f"{d.source} direction in {d.space}; slider unit = {unit:.3g} latent units", name_width=72)
            row.changed.connect(lambda v, dragging, label=label: self._on_walk(label, v, dragging))
            row.released.connect(self.session.end_gesture)
            self.section.body.addWidget(row)
            self.active[label] = (d, i, row)
        if self.session.recipe is not None:
            self.sync(self.session.recipe)
        if d.source.startswith("fitted:") and d.source[7:] in BINARY_ATTRIBUTES and self.attribute_path.is_file():
            self.plot_scores(d)  # the attribute model scores its own attribute along the new slider
        return True

    def _unit(self, d: SavedDirection, i: int) -> float:
        u = float(d.stddev[i]) if d.stddev is not None else 1.0
        return u if u > 0 else 1.0

    def _on_walk(self, label: str, value: float, dragging: bool) -> None:
        r = self.session.recipe
        if r is None or label not in self.active:
            return
        d, i, _ = self.active[label]
        self.session.edit(r.with_walk(label, tuple(float(v) for v in d.vectors[i]), value * self._unit(d, i),
                                      d.walk_space(), d.layers),
                          f"Walk {d.name} {value:+.2f}", merge_key=f"walk:{label}")
        if not dragging:
            self.session.end_gesture()

    def sync(self, recipe: Recipe) -> None:
        for label, (d, i, row) in self.active.items():
            row.set_value(recipe.walk_amount(label) / self._unit(d, i))

    def _ask_other_model(self, message: str) -> bool:
        answer = QMessageBox.question(self, "Direction made for another model", message + "\n\nApply anyway?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # -- library operations -------------------------------------------------------------------------------
    def import_path(self, path: Path, kind: str) -> SavedDirection | None:
        """Import a file into the library; a bad file is reported as one message."""
        try:
            d = import_file(path, kind, None)
            if not d.model_sha256:  # imported for the model open now: remember which one
                sha, name = self._model_key()
                d = SavedDirection(d.name, d.vectors, d.space, d.source, sha, name, d.layers, d.created,
                                   d.stddev, d.explained, d.info)
            self.library.add(d)
        except (StudioError, OSError) as exc:
            self.session.error.emit(f"Cannot import {Path(path).name}: {exc}")
            return None
        self.refresh()
        self.select(d.name)
        self.session.message.emit(f"Imported {d.name} ({len(d)} direction(s) in {d.space})")
        return d

    def import_dialog(self, kind: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import directions", str(Path.home()),
                                              f"{IMPORT_FILTERS[kind]};;All files (*)")
        if path:
            self.import_path(Path(path), kind)

    def export_selected(self, path: Path) -> bool:
        sel = self.selected()
        if sel is None:
            return False
        try:
            if path.suffix == ".npy":
                export_npy(sel[2], path)
            else:
                save_direction(sel[2], path)
        except (StudioError, OSError) as exc:
            self.session.error.emit(f"Could not export to {path}: {exc}")
            return False
        self.session.message.emit(f"Exported {sel[2].name} to {path}")
        return True

    def export_dialog(self) -> None:
        sel = self.selected()
        if sel is None:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export direction", str(Path.home() / f"{sel[2].name}{EXT}"),
            f"{IMPORT_FILTERS['lsdir']};;InterFaceGAN boundary, first vector (*.npy)")
        if path:
            self.export_selected(Path(path))

    def rename_selected(self, name: str) -> None:
        sel = self.selected()
        if sel is None or not name.strip():
            return
        origin, path, d = sel
        if origin == "project":
            self.project_directions = [x.renamed(name) if x is d else x for x in self.project_directions]
        else:
            try:
                self.library.rename(path, name)
            except (StudioError, OSError) as exc:
                self.session.error.emit(f"Could not rename {d.name}: {exc}")
                return
        self.refresh()
        self.select(name)

    def rename_dialog(self) -> None:
        sel = self.selected()
        if sel is not None:
            name, ok = QInputDialog.getText(self, "Rename direction", "Name", text=sel[2].name)
            if ok:
                self.rename_selected(name)

    def delete_selected(self) -> None:
        sel = self.selected()
        if sel is None:
            return
        origin, path, d = sel
        if origin == "project":
            self.project_directions = [x for x in self.project_directions if x is not d]
        else:
            self.library.delete(path)
        self.refresh()

    def save_selected(self) -> Path | None:
        sel = self.selected()
        if sel is None:
            return None
        try:
            path = self.library.add(sel[2])
        except OSError as exc:
            self.session.error.emit(f"Could not save to the library ({self.library.folder}): {exc}")
            return None
        if sel[0] == "project":
            self.project_directions = [x for x in self.project_directions if x is not sel[2]]
        self.refresh()
        self.select(sel[2].name)
        return path

    # -- fitting ------------------------------------------------------------------------------------------
    def fit_from_attribute(self) -> None:
        s = self.session
        if s.generator is None or self._busy:
            return
        try:
            net = attribute_model(self.attribute_path)
        except (OSError, ValueError) as exc:
            s.error.emit(f"The attribute model {self.attribute_path.name} could not be loaded: {exc}")
            return
        attribute = self.attribute.currentText()
        _, name = self._model_key()
        job = fit_attribute_job(s.generator, s.renderer, net, attribute, self.samples.value(),
                                self.classifier.currentData(), self.space.currentData() or "z", model_name=name)
        self._set_busy(True, f"Fitting {attribute}: rendering and labelling {self.samples.value()} samples…")
        s.run_job(job, on_done=self._on_fitted, on_progress=self._on_progress, on_error=self._on_fit_error)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.fit_status.setText(text)
        self.section.set_waiting("" if self.active else self.section.placeholder.text(), 0.0 if busy else None)
        self._update_enabled()

    def _on_progress(self, p: object) -> None:
        self.section.progress.setValue(int(round(100 * float(p))))  # type: ignore[arg-type]

    def _on_fit_error(self, msg: str) -> None:
        if msg.startswith(("LabelError: ", "RecipeError: ")):  # the worker names the type; the user needs the why
            msg = msg.split(": ", 1)[1]
        self._set_busy(False, "" if msg == "cancelled" else f"Fit failed: {msg}")
        if msg != "cancelled":
            self.session.error.emit(f"Fitting the direction failed: {msg}")

    def _on_fitted(self, result: FittedDirection) -> None:
        self.last_fit = result
        d, fit = result.direction, result.fit
        acc = "n/a (no held-out samples)" if np.isnan(fit.test_accuracy) else f"{fit.test_accuracy:.1%}"
        self._set_busy(False, f"{d.name}: held-out accuracy {acc} ({CLASSIFIER_NAMES[fit.classifier]}, "
                              f"{fit.n_train} train / {fit.n_test} test, {fit.n_positive} positive)")
        self.project_directions = [x for x in self.project_directions if x.name != d.name] + [d]
        for label in [lb for lb, (x, _, _) in self.active.items() if x.name == d.name]:
            self.active.pop(label)[2].setParent(None)  # a refit replaces the old slider
        self.refresh()
        self.select(d.name)
        self.activate(d)
        self.fitted.emit(result)

    def fit_from_hand_labels(self) -> None:
        s = self.session
        if s.generator is None or s.recipe is None:
            return
        dialog = HandLabelDialog(s.generator, s.recipe, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.fit_labels(*dialog.result())

    def fit_labels(self, seeds: list[int], labels: list[bool], name: str) -> FittedDirection | None:
        s = self.session
        _, model_name = self._model_key()
        try:
            result = fit_hand_labels(s.generator, seeds, labels, name, self.classifier.currentData(),
                                     self.space.currentData() or "z", model_name)
        except (StudioError, ValueError) as exc:
            s.error.emit(f"Cannot fit {name}: {exc}")
            return None
        self._on_fitted(result)
        return result

    # -- plots --------------------------------------------------------------------------------------------
    def plot_scores(self, d: SavedDirection, attribute: str | None = None) -> None:
        """Score the current image walked along `d` with the attribute model (a background job)."""
        s = self.session
        if s.generator is None or s.recipe is None:
            return
        attribute = attribute or (d.source[7:] if d.source.startswith("fitted:") else self.attribute.currentText())
        unit = self._unit(d, 0)
        recipes = [s.recipe.with_walk(d.label(0), tuple(float(v) for v in d.vectors[0]), float(a) * unit,
                                  d.walk_space(), d.layers) for a in SCORE_AMOUNTS]
        net = attribute_model(self.attribute_path)
        self.score_plot.setTitle(f"P({attribute}) along {d.name}, this image", size="9pt", color=theme.colour("text"))
        s.run_job(attribute_scores_job(s.generator, s.renderer, net, attribute, recipes),
                  on_done=self._on_scores)

    def _on_scores(self, scores: np.ndarray) -> None:
        self.last_scores = (SCORE_AMOUNTS.copy(), np.asarray(scores))
        self.score_curve.setData(SCORE_AMOUNTS, np.asarray(scores, float))
        self.scoresReady.emit(self.last_scores)

    def set_pca(self, ds: DirectionSet | None) -> None:
        """Show the explained variance of the PCA job the Walk panel ran (nothing when it has none)."""
        if self.pca_bars is not None:
            self.pca_plot.removeItem(self.pca_bars)
            self.pca_bars = None
        if ds is None or ds.explained is None:
            return
        x = np.arange(1, len(ds.explained) + 1)
        self.pca_bars = pg.BarGraphItem(x=x, height=100 * np.asarray(ds.explained, float), width=0.7,
                                        brush=theme.colour("accent"))
        self.pca_plot.addItem(self.pca_bars)
