"""Directions: the user's library of saved directions, imports, labelled fitting, and their walk sliders.

A view of the workspace: the directions kept with the work are `ws.directions`, the sliders in use are
`ws.sliders` (direction names, the project's first, then the library's), and library-folder changes are
journaled in the workspace (studio/core/library_journal.py), so using, fitting, importing, renaming and
deleting are each one undo step and a model switch shows only that model's sliders. A direction becomes
a slider row (latent_panel's SliderRow) whose moves are Walk edits labelled "dir:<name>", so walking it is
undoable, saved in projects and re-rendered by the CLI like any walk. Fitting runs as a background job a
batch stage per step (render samples, score them with the ToyFaces attribute model, fit a linear
classifier), newest wins; its score-along-the-walk plot and the hand-label pages are jobs on the worker too.
"""
from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QHeaderView
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGridLayout, QGroupBox,
                               QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMenu, QMessageBox, QPushButton,
                               QSpinBox, QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from studio.core.direction_library import (EXT, DirectionLibrary, DirectionMismatch, SavedDirection,
                                           apply_direction, check_compatible, export_npy, import_file, matches_model,
                                           save_direction)
from studio.core.direction_spaces import AmbiguousDirectionSpace, ModelDims
from studio.core.directions import DirectionSet
from studio.core.labelled import CLASSIFIERS, FittedDirection
from studio.core.library_journal import LIBRARY_KEY, apply, free_path, reconcile, with_file
from studio.core.recipe import Recipe, Walk
from studio.core.workspace import Workspace
from studio.demo import attributes
from studio.demo.toyfaces import BINARY_ATTRIBUTES
from studio.errors import StudioError
from studio.model.api import Generator
from studio.model.labellers import Labeller, available_labellers
from studio.core.fit_evaluation import DirectionEvaluation, accuracy_only
from studio.render.analysis import attribute_scores_job, evaluate_fit_job, fit_attribute_job, fit_hand_labels
from studio.render.samples_export import export_samples_job
from studio.render.worker import JobHandle
from studio.ui.scrolling import scroll_area
from studio.ui import theme
from studio.ui.images import thumbnail
from studio.ui.panels.fit_evaluation_view import EvaluationPlot, KeepFixedButton
from studio.ui.panels.latent_panel import WALK_RANGE, SliderRow, WalkSection, seed_grid_job
from studio.bundled import attribute_model_path
from studio.ui.session import Session

SCORE_AMOUNTS = np.linspace(-WALK_RANGE, WALK_RANGE, 13)  # slider units of the score-along-walk plot
IMPORT_FILTERS = {
    "lsdir": f"Latent Studio direction (*{EXT})",
    "interfacegan": "InterFaceGAN boundary (*.npy *.npz *.pt *.pth)",
    "ganspace": "GANSpace components (*.npz)",
    "sefa": "SeFa eigenvectors (*.npy *.npz *.pt)",
}
MATCH_TEXT = {"match": "✓ this model", "any model": "any model", "other model": "other model",
              "mismatch": "✗ does not fit"}
CLASSIFIER_NAMES = {"logistic": "Logistic regression", "svm": "Linear SVM"}
ATTRIBUTE_MODEL = attribute_model_path()  # labels ToyFaces (demo) samples


@functools.lru_cache(maxsize=2)
def attribute_model(path: Path) -> attributes.AttributeNet:
    """Loaded once per path: fits and score plots reuse it."""
    return attributes.load(path)


def accuracy_text(fit: Any, name: str) -> str:
    """One line saying what the held-out accuracy means: what was held out, and what chance would score."""
    total = fit.n_train + fit.n_test
    if fit.n_test == 0 or np.isnan(fit.test_accuracy):
        return f"{name}: nothing was held out ({total} labels), so there is no accuracy to trust yet."
    p = fit.n_positive / max(total, 1)
    chance = max(p, 1 - p)
    return (f"{name}: {fit.test_accuracy:.1%} right on {fit.n_test} of {total} samples held out of the fit "
            f"(chance {chance:.0%}, always guessing the commoner label; balanced "
            f"{fit.test_balanced_accuracy:.0%}, chance 50%).")


def walk_text(amounts: np.ndarray, scores: np.ndarray, attribute: str, labeller: str) -> str:
    """How well the walk moves the score, on the image shown: its ends and how steadily it climbs."""
    if len(scores) < 2:
        return ""
    steps = np.diff(scores)
    falls = int(np.sum(steps < -0.02))
    return (f"Walk {amounts[0]:+.0f} to {amounts[-1]:+.0f} std: P({attribute}) {scores[0]:.2f} to "
            f"{scores[-1]:.2f} on this image, falling back in {falls} of {len(steps)} steps ({labeller}).")


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


def _labels(name: str, d: SavedDirection | None) -> set[str]:
    """The recipe labels of direction `name`'s walks (d: the direction, when it is still known)."""
    return {d.label(i) for i in range(len(d))} if d is not None else {f"dir:{name}"}


def _without_walks_of(r: Recipe, name: str, d: SavedDirection | None) -> Recipe:
    labels = _labels(name, d)
    return replace(r, edits=tuple(e for e in r.edits if not (isinstance(e, Walk) and e.label in labels)))


def _relabelled(r: Recipe, d: SavedDirection, new: SavedDirection) -> Recipe:
    """`r` with `d`'s walks owned by `new` (a rename), so its sliders keep their values."""
    names = {d.label(i): new.label(i) for i in range(len(d))}
    return replace(r, edits=tuple(replace(e, label=names[e.label]) if isinstance(e, Walk) and e.label in names
                                  else e for e in r.edits))


class HandLabelDialog(QDialog):
    """A grid of samples to mark positive (click once) or negative (twice); a third click clears.

    Each page renders on the worker, a stage per step (the dialog stays responsive), newest page wins."""

    GRID = 4
    THUMB = 72
    STATES = (None, True, False)

    pageReady = Signal()  # the page's thumbnails are shown (tests wait on this)

    def __init__(self, session: Session, first_seed: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Fit a direction from hand labels")
        assert session.generator is not None and session.recipe is not None, "a model must be open"
        self.session = session
        self.g, self.base = session.generator, session.recipe.without_walks()
        self.labels: dict[int, bool] = {}
        self._job: JobHandle | None = None
        self._closed = False
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
        """Show the page's seeds at once and their images when the worker has rendered them."""
        self.first_seed = first_seed
        seeds = self.seeds()
        for b, s in zip(self.buttons, seeds):
            b.setIcon(QIcon())
            b.setToolTip(f"Seed {s} (rendering…)")
            b.setEnabled(False)  # labels are given to images the user has seen
        self._restyle()
        self._job = self.session.run_job(
            seed_grid_job(self.session.renderer, self.g, [self.base.with_seed(s) for s in seeds]),
            on_done=lambda images: self._on_page(seeds, images), on_error=self._on_page_error,
            key="hand-label-page")

    def _on_page(self, seeds: list[int], images: np.ndarray) -> None:
        if self._closed or seeds != self.seeds():
            return  # closed, or a newer page was asked for
        for b, img, s in zip(self.buttons, images, seeds):
            b.setIcon(thumbnail(img, self.THUMB))
            b.setToolTip(f"Seed {s}")
            b.setEnabled(True)
        self.pageReady.emit()

    def _on_page_error(self, msg: str) -> None:
        if not self._closed and msg != "cancelled":
            self.count.setText(f"could not render the samples: {msg}")

    def done(self, r: int) -> None:
        self._closed = True
        if self._job is not None:
            self._job.cancel()
        super().done(r)

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
    evaluated = Signal(object)   # DirectionEvaluation of the last fit, when its walk has been scored
    scoresReady = Signal(object)  # (amounts, scores) of the score-along-walk plot

    def __init__(self, session: Session, library: DirectionLibrary | None = None,
                 attribute_path: Path = ATTRIBUTE_MODEL, fit_samples: int = 1000, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.library = library or DirectionLibrary()
        self.attribute_path = Path(attribute_path)
        # widget caches of the workspace: rows of ws.sliders by walk label, the library folder as last read
        self.active: dict[str, tuple[SavedDirection, int, SliderRow]] = {}
        self.entries: list[tuple[Path, SavedDirection]] = []
        self.last_fit: FittedDirection | None = None
        self.last_scores: tuple[np.ndarray, np.ndarray] | None = None
        self._busy = False
        self._fit_token = 0  # the newest attribute fit; older ones' reports are dropped
        self.evaluation_seeds: list[int] | None = None  # fresh seeds walked to evaluate a fit (None: the default)
        self._shown: Workspace | None = None  # the workspace the widgets show (None: show it all afresh)
        self._shown_pca: DirectionSet | None = None
        # how to ask "walk a direction made for another model anyway?" (tests replace it)
        self.confirm_other_model: Callable[[str], bool] = self._ask_other_model

        # library
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Space", "Source", "Model"])
        self.tree.setRootIsDecorated(False)
        self.tree.setMinimumHeight(90)
        self.tree.setMaximumHeight(130)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.tree.header()  # the name gives way (elided), so Space, Source and Model read whole
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
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

        # fitting: the labellers that know this model's images (studio/model/labellers.py), or hand labels
        self.labellers: list[Labeller] = []
        self.labeller_box = QComboBox()
        self.labeller_box.setToolTip("The classifier that labels generated samples; only those trained on "
                                     "images like this model's are offered")
        self.labeller_box.currentIndexChanged.connect(self._on_labeller)
        self.labeller_note = QLabel("")
        self.labeller_note.setObjectName("muted")
        self.labeller_note.setWordWrap(True)
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
        self.fit_btn = QPushButton("Fit from labeller")
        self.fit_btn.clicked.connect(self.fit_from_attribute)
        self.hand_btn = QPushButton("Fit from hand labels…")
        self.hand_btn.clicked.connect(self.fit_from_hand_labels)
        self.fit_status = QLabel("")
        self.fit_status.setObjectName("muted")
        self.fit_status.setWordWrap(True)
        # conditional manipulation and the scores-file workflow (studio/ui/panels/fit_evaluation_view.py)
        self.keep_fixed = KeepFixedButton()
        self.attribute.currentTextChanged.connect(self._offer_keep_fixed)
        self.export_samples_btn = QPushButton("Export samples…")
        self.export_samples_btn.setToolTip("Write sampled latents and their images to a folder, to score with "
                                           "your own classifier (InterFaceGAN's workflow)")
        self.export_samples_btn.clicked.connect(self.export_samples_dialog)
        self.scores_btn = QPushButton("Fit from scores file…")
        self.scores_btn.setToolTip("Fit from a .npy / .csv of scores made outside, one row per exported sample")
        self.scores_btn.clicked.connect(self.fit_scores_dialog)
        fit_box = QGroupBox("Fit a labelled direction")
        form = QGridLayout(fit_box)
        rows = (("Labeller", self.labeller_box), ("Attribute", self.attribute), ("Keep fixed", self.keep_fixed),
                ("Samples", self.samples), ("Classifier", self.classifier), ("Space", self.space))
        for r, (text, w) in enumerate(rows):
            form.addWidget(QLabel(text), r, 0)
            form.addWidget(w, r, 1)
        r = len(rows)
        form.addWidget(self.labeller_note, r, 0, 1, 2)
        form.addWidget(self.fit_btn, r + 1, 0, 1, 2)
        form.addWidget(self.hand_btn, r + 2, 0, 1, 2)
        form.addWidget(self.export_samples_btn, r + 3, 0)
        form.addWidget(self.scores_btn, r + 3, 1)
        form.addWidget(self.fit_status, r + 4, 0, 1, 2)

        # sliders and plots
        self.section = WalkSection("Active directions")
        self.section.set_waiting("Use or fit a direction to walk it.")
        # how far to trust a fitted direction: the held-out accuracy against chance, beside what the walk does
        self.accuracy_line = QLabel("")
        self.accuracy_line.setWordWrap(True)
        self.accuracy_line.setToolTip("The classifier was fitted on 75% of the labelled samples; the other 25% "
                                      "were held out and scored here. Chance is what always guessing the "
                                      "commoner label would score.")
        self.walk_line = QLabel("")
        self.walk_line.setObjectName("muted")
        self.walk_line.setWordWrap(True)
        self.score_plot = _plot("Classifier score along the walk", "P(attribute)", "slider (std)")
        self.score_plot.setYRange(0, 1)
        self.score_curve = self.score_plot.plot([], [], pen=pg.mkPen(theme.colour("accent"), width=2),
                                                symbol="o", symbolSize=5, symbolBrush=theme.colour("accent"))
        self.evaluation = EvaluationPlot()  # every attribute along the fitted walk over fresh seeds
        self.pca_plot = _plot("PCA explained variance (Walk panel)", "% of variance", "component")
        self.pca_bars: pg.BarGraphItem | None = None

        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(10, 8, 10, 10)
        col.setSpacing(8)
        for w in (lib_box, fit_box, self.section, self.accuracy_line, self.evaluation, self.walk_line,
                  self.score_plot, self.pca_plot):
            col.addWidget(w)
        col.addStretch(1)
        scroll = self.scroll = scroll_area(content, horizontal=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        session.modelChanged.connect(self.on_model)
        session.recipeChanged.connect(self.sync)
        session.workspaceChanged.connect(self._on_workspace)
        self.refresh()
        self._update_enabled()
        if session.generator is not None:
            self.on_model(session.generator)
        if session.workspace is not None:
            self._on_workspace(session.workspace)

    # -- state --------------------------------------------------------------------------------------------
    def _model_key(self) -> tuple[str, str]:
        g = self.session.generator
        name = self.session.model_path.name if self.session.model_path else ""
        return (g.model_id if g is not None else ""), name

    @property
    def project_directions(self) -> list[SavedDirection]:
        """The open model's directions kept with the work (ws.directions)."""
        ws = self.session.workspace
        return list(ws.directions) if ws is not None else []

    def on_model(self, g: Generator) -> None:
        self._shown = None  # the workspaceChanged that follows shows the new model's directions and sliders
        self._fit_token += 1  # the session cancelled the previous model's jobs: their reports are dropped
        self._set_busy(False, "")
        self._clear_rows()
        self.last_scores = None
        self.space.clear()
        self.space.addItem("z", "z")
        if g.has_w:
            self.space.addItem("w", "w")
            self.space.setCurrentIndex(1)
        self.score_curve.setData([], [])
        self.evaluation.clear()
        self.accuracy_line.setText("")
        self.walk_line.setText("")
        self._fill_labellers(g)
        self._update_enabled()

    def _fill_labellers(self, g: Generator) -> None:
        """Offer the labellers that know this model's images; the ToyFaces one only for ToyFaces models."""
        self.labellers = available_labellers(g.info)
        self.labeller_box.blockSignals(True)
        self.labeller_box.clear()
        for lab in self.labellers:
            self.labeller_box.addItem(lab.name)
        if not self.labellers:
            self.labeller_box.addItem("none for this model")
        self.labeller_box.blockSignals(False)
        self.labeller_box.setEnabled(bool(self.labellers))
        self.labeller_note.setText("" if self.labellers else
                                   "No labeller knows this model's images: the ToyFaces attribute model labels "
                                   "only models trained on ToyFaces. Fit from hand labels, or add a labeller "
                                   "plugin.")
        self.labeller_note.setVisible(not self.labellers)
        self._on_labeller()

    def labeller(self) -> Labeller | None:
        """The labeller chosen for fitting (None: hand labels only)."""
        i = self.labeller_box.currentIndex()
        return self.labellers[i] if self.labellers and 0 <= i < len(self.labellers) else None

    def _labeller_for(self, attribute: str) -> Labeller | None:
        """The chosen labeller if it scores `attribute`, else the first that does."""
        chosen = self.labeller()
        if chosen is not None and attribute in chosen.attributes:
            return chosen
        return next((lab for lab in self.labellers if attribute in lab.attributes), None)

    def _on_labeller(self, *_: object) -> None:
        lab = self.labeller()
        keep = self.attribute.currentText()
        self.attribute.clear()
        self.attribute.addItems(list(lab.attributes) if lab is not None else [])
        if lab is not None:
            self.attribute.setCurrentText(keep if keep in lab.attributes else
                                          ("Smiling" if "Smiling" in lab.attributes else lab.attributes[0]))
        self.attribute.setEnabled(lab is not None)
        self._offer_keep_fixed()
        self._update_enabled()

    def _offer_keep_fixed(self, *_: object) -> None:
        lab = self.labeller()
        self.keep_fixed.set_attributes(lab.attributes if lab is not None else (), self.attribute.currentText())

    def _update_enabled(self) -> None:
        g = self.session.generator
        walkable = g is not None and "walk" in g.info.capabilities
        lab = self.labeller()
        self.fit_btn.setEnabled(walkable and lab is not None)  # a new fit while one runs replaces it
        self.fit_btn.setToolTip(f"Label generated samples with the {lab.name} and fit a linear classifier on "
                                f"their latents" if lab is not None else
                                "No labeller knows this model's images: fit from hand labels instead")
        self.hand_btn.setEnabled(walkable)

    def _on_workspace(self, ws: Workspace) -> None:
        """Show `ws`, rebuilding only what changed since the workspace shown before."""
        old, self._shown = self._shown, ws
        library_changed = old is None or (ws.panels is not old.panels
                                          and ws.panel(LIBRARY_KEY) is not old.panel(LIBRARY_KEY))
        if old is not None and library_changed:  # an undo, a redo or an action here: the folder follows
            for msg in reconcile(self.library.folder, old, ws):
                self.session.error.emit(msg)
        if library_changed or ws.directions is not old.directions:  # type: ignore[union-attr]
            self.refresh()
        elif ws.sliders is not old.sliders:  # type: ignore[union-attr]
            self._build_rows()
        if ws.pca is not self._shown_pca:
            self.set_pca(ws.pca)

    def refresh(self) -> None:
        """Rebuild the list (the open model's directions first, then the library folder's files) and the
        sliders of the directions in use."""
        self.tree.clear()
        g = self.session.generator
        sha, _ = self._model_key()
        self.entries = self.library.entries()
        entries: list[tuple[str, Path | None, SavedDirection]] = [("project", None, d) for d in self.project_directions]
        entries += [("library", p, d) for p, d in self.entries]
        for origin, path, d in entries:
            match = matches_model(d, g.info, sha) if g is not None else "any model"
            item = QTreeWidgetItem([d.name + (" (project)" if origin == "project" else ""),
                                    d.describe_space(),
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
        self._build_rows()

    def resolve(self, name: str) -> SavedDirection | None:
        """The direction a slider name refers to: the open model's own first, then the library's."""
        ws = self.session.workspace
        found = [d for d in (ws.directions if ws is not None else ()) if d.name == name]
        found += [d for _, d in self.entries if d.name == name]
        return found[0] if found else None

    def _in_use(self, d: SavedDirection) -> bool:
        ws = self.session.workspace
        return ws is not None and d.name in ws.sliders and self.resolve(d.name) is d

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
        """Use `d` (one undo step adding its sliders); a direction that does not fit is refused with a
        message (never a traceback). A direction from neither project nor library is kept with the work."""
        g, ws = self.session.generator, self.session.workspace
        if g is None or ws is None:
            return False
        sha, name = self._model_key()
        try:
            check_compatible(d, g.info, sha, name, allow_other_model)
        except DirectionMismatch as exc:
            if allow_other_model or matches_model(d, g.info, sha) != "other model" \
                    or not self.confirm_other_model(str(exc)):
                self.session.error.emit(str(exc))
                return False
        changes: dict[str, Any] = {}
        if self.resolve(d.name) is not d and not any(x is d for _, x in self.entries):
            changes["directions"] = tuple(x for x in ws.directions if x.name != d.name) + (d,)
        if d.name not in ws.sliders:
            changes["sliders"] = ws.sliders + (d.name,)
        if changes:
            self.session.update(f"Use {d.name}", **changes)
        if d.source.startswith("fitted:") and self._labeller_for(d.source[7:]) is not None:
            self.plot_scores(d)  # the labeller scores its own attribute along the new slider
        return True

    def stop_using(self, name: str) -> None:
        """Remove a direction's sliders and their walks: one undo step."""
        ws = self.session.workspace
        if ws is None or name not in ws.sliders:
            return
        self.session.update(f"Stop using {name}", sliders=tuple(n for n in ws.sliders if n != name),
                            recipe=_without_walks_of(ws.recipe, name, self.resolve(name)))

    def _clear_rows(self) -> None:
        self.section.clear()
        self.active.clear()
        self.section.set_waiting("Use or fit a direction to walk it.")

    def _build_rows(self) -> None:
        """The rows of ws.sliders, rebuilt only when the directions they show changed."""
        ws, g = self.session.workspace, self.session.generator
        want: list[tuple[str, SavedDirection, int]] = []
        if ws is not None and g is not None:
            sha, _ = self._model_key()
            for name in ws.sliders:
                d = self.resolve(name)
                if d is not None and matches_model(d, g.info, sha) != "mismatch":
                    want += [(d.label(i), d, i) for i in range(len(d))]
        if [(label, d) for label, d, _ in want] == [(label, x[0]) for label, x in self.active.items()]:
            return
        self._clear_rows()
        self.section.set_waiting("" if want else "Use or fit a direction to walk it.")
        for label, d, i in want:
            unit = float(d.stddev[i]) if d.stddev is not None else 1.0
            row = SliderRow(d.name if len(d) == 1 else f"{d.name} {i + 1}", -WALK_RANGE, WALK_RANGE, 0.0,
                            f"{d.source} direction in {d.space}; slider unit = {unit:.3g} latent units", name_width=72)
            row.changed.connect(lambda v, dragging, label=label: self._on_walk(label, v, dragging))
            row.released.connect(self.session.end_gesture)
            stop = QToolButton()
            theme.set_icon(stop, "close")
            stop.setAutoRaise(True)
            stop.setToolTip(f"Stop using {d.name}: remove its slider{'s' if len(d) > 1 else ''} and walk")
            stop.clicked.connect(lambda _=False, name=d.name: self.stop_using(name))
            row.layout().addWidget(stop)
            row.stop = stop  # type: ignore[attr-defined]
            self.section.body.addWidget(row)
            self.section.rows[label] = (None, row)  # type: ignore[assignment]  # cleared with the section
            self.active[label] = (d, i, row)
        if ws is not None:
            self.sync(ws.recipe)

    def _unit(self, d: SavedDirection, i: int) -> float:
        u = float(d.stddev[i]) if d.stddev is not None else 1.0
        return u if u > 0 else 1.0

    def _on_walk(self, label: str, value: float, dragging: bool) -> None:
        r = self.session.recipe
        if r is None or label not in self.active:
            return
        d, i, _ = self.active[label]
        g = self.session.generator
        try:  # the model check was answered when the direction was put to use; space and size are not optional
            walked = apply_direction(r, d, i, value * self._unit(d, i), g.info, allow_other_model=True)
        except DirectionMismatch as exc:
            self.session.error.emit(str(exc))
            return
        self.session.edit(walked, f"Walk {d.name} {value:+.2f}", merge_key=f"walk:{label}")
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

    # -- library operations: each one undo step (studio/core/library_journal.py) -----------------------------
    def _library_change(self, ws: Workspace, path: Path, before: SavedDirection | None,
                        after: SavedDirection | None) -> Workspace:
        """Change one library file now (a failure raises, before any step) and journal it in `ws`."""
        b = before.to_dict() if before is not None else None
        a = after.to_dict() if after is not None else None
        apply(self.library.folder, path.name, b, a)
        return with_file(ws, path.name, b, a)

    def import_path(self, path: Path, kind: str, space: str | None = None,
                    ask: Callable[[list[str]], str | None] | None = None) -> SavedDirection | None:
        """Import a file into the library (one undo step); a bad file is reported as one message. The space
        comes from the name and shape for the open model; where z and w have the same size and the name
        does not say, `ask` (a dialog by default) chooses, and no answer imports nothing."""
        ws, g = self.session.workspace, self.session.generator
        dims = ModelDims.of(g.info) if g is not None else None
        try:
            try:
                d = import_file(path, kind, space, dims)
            except AmbiguousDirectionSpace as exc:
                from studio.ui.projection_action import _ask_space

                pick = (ask or (lambda o: _ask_space(self, Path(path).name, o, "Import direction")))(exc.options)
                if pick is None:
                    return None
                d = import_file(path, kind, pick, dims)
            if not d.model_sha256:  # imported for the model open now: remember which one
                sha, name = self._model_key()
                d = SavedDirection(d.name, d.vectors, d.space, d.source, sha, name, d.layers, d.created,
                                   d.stddev, d.explained, d.info)
            if ws is None:  # no model open, so no history to undo in
                self.library.add(d)
            else:
                changed = self._library_change(ws, free_path(self.library.folder, d.name), None, d)
        except (StudioError, OSError) as exc:
            self.session.error.emit(f"Cannot import {Path(path).name}: {exc}")
            return None
        if ws is None:
            self.refresh()
        else:
            self.session.commit(changed, f"Import {d.name}")
        self.select(d.name)
        self.session.message.emit(f"Imported {d.name} ({len(d)} direction(s) in {d.describe_space()})")
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
        """Rename the selected direction (one undo step); its sliders and walks follow the new name."""
        sel, ws = self.selected(), self.session.workspace
        name = name.strip()
        if sel is None or ws is None or not name or name == sel[2].name:
            return
        origin, path, d = sel
        new = d.renamed(name)
        try:
            if origin == "project":
                if any(x.name == name for x in ws.directions):
                    raise StudioError(f"a direction named {name!r} is already kept with this model's work")
                changed = ws.with_(directions=tuple(new if x is d else x for x in ws.directions))
            else:
                assert path is not None
                changed = self._library_change(ws, path, d, None)
                changed = self._library_change(changed, free_path(self.library.folder, name), None, new)
        except (StudioError, OSError) as exc:
            self.session.error.emit(f"Could not rename {d.name}: {exc}")
            return
        if self._in_use(d):
            changed = changed.with_(sliders=tuple(name if n == d.name else n for n in ws.sliders),
                                    recipe=_relabelled(ws.recipe, d, new))
        self.session.commit(changed, f"Rename {d.name} to {name}")
        self.select(name)

    def rename_dialog(self) -> None:
        sel = self.selected()
        if sel is not None:
            name, ok = QInputDialog.getText(self, "Rename direction", "Name", text=sel[2].name)
            if ok:
                self.rename_selected(name)

    def delete_selected(self) -> None:
        """Remove the selected direction from the project or delete its library file (one undo step: the
        step keeps the direction, so undo writes the file back); its sliders and walks go with it."""
        sel, ws = self.selected(), self.session.workspace
        if sel is None:
            return
        origin, path, d = sel
        if ws is None:  # no model open, so no history to undo in
            if origin == "library" and path is not None:
                self.library.delete(path)
            self.refresh()
            return
        try:
            if origin == "project":
                changed = ws.with_(directions=tuple(x for x in ws.directions if x is not d))
            else:
                assert path is not None
                changed = self._library_change(ws, path, d, None)
        except (StudioError, OSError) as exc:
            self.session.error.emit(f"Could not delete {d.name}: {exc}")
            return
        if self._in_use(d):
            changed = changed.with_(sliders=tuple(n for n in ws.sliders if n != d.name),
                                    recipe=_without_walks_of(ws.recipe, d.name, d))
        self.session.commit(changed, f"Remove {d.name} from the project" if origin == "project"
                            else f"Delete {d.name} from the library")

    def save_selected(self) -> Path | None:
        """Keep the selected direction in the library for other projects (one undo step); a project direction
        moves there (its sliders stay, now walking the library's copy)."""
        sel, ws = self.selected(), self.session.workspace
        if sel is None:
            return None
        origin, _, d = sel
        path = free_path(self.library.folder, d.name)
        try:
            if ws is None:
                return self.library.add(d)
            changed = self._library_change(ws, path, None, d)
        except (StudioError, OSError) as exc:
            self.session.error.emit(f"Could not save to the library ({self.library.folder}): {exc}")
            return None
        if origin == "project":
            changed = changed.with_(directions=tuple(x for x in ws.directions if x is not d))
        self.session.commit(changed, f"Save {d.name} to the library")
        self.select(d.name)
        return path

    # -- fitting ------------------------------------------------------------------------------------------
    def fit_from_attribute(self) -> None:
        """Fit the attribute on the worker, one stage of a batch per step; a new fit replaces one running."""
        s = self.session
        if s.generator is None:
            return
        net = self.labeller()
        if net is None:
            s.error.emit("No labeller knows this model's images (the ToyFaces attribute model labels only models "
                         "trained on ToyFaces): fit from hand labels instead.")
            return
        attribute = self.attribute.currentText()
        _, name = self._model_key()
        job = fit_attribute_job(s.generator, s.renderer, net, attribute, self.samples.value(),
                                self.classifier.currentData(), self.space.currentData() or "z", model_name=name,
                                keep_fixed=self.keep_fixed.selected())
        self._fit_token += 1
        token = self._fit_token

        def mine(callback: Callable[[Any], None]) -> Callable[[Any], None]:
            return lambda value: callback(value) if token == self._fit_token else None

        self._set_busy(True, f"Fitting {attribute}: rendering and labelling {self.samples.value()} samples…")
        s.run_job(job, on_done=mine(self._on_fitted), on_progress=mine(self._on_progress),
                  on_error=mine(self._on_fit_error), key="fit-attribute", task=f"Fitting {attribute}")

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
        """Keep the fit with the work and use it: one undo step (a refit of a name replaces its direction)."""
        self.last_fit = result
        d, fit = result.direction, result.fit
        self._set_busy(False, f"{d.name}: fitted ({CLASSIFIER_NAMES[fit.classifier]}, {fit.n_train} train / "
                              f"{fit.n_test} held out, {fit.n_positive} positive)")
        self.accuracy_line.setText(accuracy_text(fit, d.name))
        self.walk_line.setText("")
        self.evaluate(result)
        ws = self.session.workspace
        if ws is not None:
            self.session.update(f"Fit {d.name}",
                                directions=tuple(x for x in ws.directions if x.name != d.name) + (d,),
                                sliders=ws.sliders if d.name in ws.sliders else ws.sliders + (d.name,))
        self.select(d.name)
        if self._labeller_for(d.source[7:]) is not None:
            self.plot_scores(d)  # the labeller scores its own attribute along the new slider
        else:
            self.walk_line.setText("No labeller for this model scores the walk: judge it on the canvas.")
        self.fitted.emit(result)

    def fit_from_hand_labels(self) -> None:
        s = self.session
        if s.generator is None or s.recipe is None:
            return
        g = s.generator
        dialog = HandLabelDialog(s, parent=self)
        try:
            accepted = dialog.exec() == QDialog.DialogCode.Accepted
            labels = dialog.result()
        finally:
            dialog.deleteLater()
        if accepted and s.generator is g:
            self.fit_labels(*labels)
        elif accepted:
            s.error.emit("The model changed while labelling: those labels were for the model open before")

    def fit_labels(self, seeds: list[int], labels: list[bool], name: str) -> FittedDirection | None:
        s = self.session
        if s.generator is None:
            return None
        _, model_name = self._model_key()
        try:
            result = fit_hand_labels(s.generator, seeds, labels, name, self.classifier.currentData(),
                                     self.space.currentData() or "z", model_name)
        except (StudioError, ValueError) as exc:
            s.error.emit(f"Cannot fit {name}: {exc}")
            return None
        self._on_fitted(result)
        return result

    # -- evaluation, and scores made outside (InterFaceGAN's workflow) --------------------------------------
    def evaluate(self, result: FittedDirection) -> None:
        """Score every attribute along the fitted walk over fresh seeds (a background job), or show the
        accuracy alone when no labeller for this model scores the attribute."""
        s = self.session
        attribute = result.direction.source[7:]
        lab = self._labeller_for(attribute)
        if s.generator is None:
            return
        if lab is None:
            self._on_evaluated(accuracy_only(result))
            return
        s.run_job(evaluate_fit_job(s.generator, s.renderer, lab, result, seeds=self.evaluation_seeds),
                  on_done=self._on_evaluated, key="fit-evaluation", task=f"Evaluating {result.direction.name}")

    def _on_evaluated(self, ev: DirectionEvaluation) -> None:
        self.evaluation.show_evaluation(ev)
        self.evaluated.emit(ev)

    def export_samples(self, folder: Path, n: int, images: bool = True) -> None:
        """Write n sampled latents (+ images) in the fitting space to a new folder, on the worker."""
        s = self.session
        if s.generator is None:
            return
        _, name = self._model_key()
        space = self.space.currentData() or "z"
        s.run_job(export_samples_job(s.generator, s.renderer, folder, n, space, images=images, model_name=name),
                  on_done=lambda f: s.message.emit(f"Exported {n} samples ({space}) to {f}: score images/*.png "
                                                   f"in order, then Fit from scores file…"),
                  on_error=lambda msg: s.error.emit(f"Could not export samples: {msg.split(': ', 1)[-1]}"),
                  key="export-samples", task=f"Exporting {n} samples")

    def export_samples_dialog(self) -> None:
        if self.session.generator is None:
            return
        n, ok = QInputDialog.getInt(self, "Export samples", "Samples to export", self.samples.value(), 20, 200000, 250)
        if not ok:
            return
        path, _ = QFileDialog.getSaveFileName(self, "New folder for the samples", str(Path.home() / "samples"))
        if path:
            self.export_samples(Path(path), n)

    def fit_scores(self, folder: Path, scores: Path, attribute: str | None) -> FittedDirection | None:
        """Fit from a scores file aligned with exported samples; keep-fixed attributes that are columns of
        the file are kept. A bad file is one message."""
        from studio.core.scores_file import fit_scores, read_samples, read_scores

        s = self.session
        if s.generator is None:
            return None
        _, name = self._model_key()
        try:
            samples, latents = read_samples(folder)
            columns = read_scores(scores, len(latents), samples.seeds)
            keep = tuple(a for a in self.keep_fixed.selected() if a in columns and a != attribute)
            result = fit_scores(folder, scores, attribute, s.generator.model_id, name,
                                self.classifier.currentData(), keep)
        except (StudioError, ValueError) as exc:
            s.error.emit(f"Cannot fit from {scores.name}: {exc}")
            return None
        self._on_fitted(result)
        return result

    def fit_scores_dialog(self) -> None:
        from studio.core.scores_file import MANIFEST, read_samples, read_scores

        path, _ = QFileDialog.getOpenFileName(self, "Scores file", str(Path.home()),
                                              "Scores (*.csv *.npy);;All files (*)")
        if not path:
            return
        scores = Path(path)
        folder = scores.parent
        if not (folder / MANIFEST).is_file():
            chosen = QFileDialog.getExistingDirectory(self, "The exported samples these scores are for", str(folder))
            if not chosen:
                return
            folder = Path(chosen)
        try:
            samples, latents = read_samples(folder)
            columns = list(read_scores(scores, len(latents), samples.seeds))
        except StudioError as exc:
            self.session.error.emit(f"Cannot fit from {scores.name}: {exc}")
            return
        attribute = columns[0]
        if len(columns) > 1:
            attribute, ok = QInputDialog.getItem(self, "Fit from scores", "Column to fit", columns, 0, False)
            if not ok:
                return
        self.fit_scores(folder, scores, attribute)

    # -- plots --------------------------------------------------------------------------------------------
    def plot_scores(self, d: SavedDirection, attribute: str | None = None) -> None:
        """Score the current image walked along `d` with the attribute model (a background job)."""
        s = self.session
        if s.generator is None or s.recipe is None:
            return
        attribute = attribute or (d.source[7:] if d.source.startswith("fitted:") else self.attribute.currentText())
        net = self._labeller_for(attribute)
        if net is None:
            self.walk_line.setText("No labeller for this model scores the walk: judge it on the canvas.")
            return
        unit = self._unit(d, 0)
        recipes = [s.recipe.with_walk(d.label(0), tuple(float(v) for v in d.vectors[0]), float(a) * unit,
                                  d.walk_space(), d.layers) for a in SCORE_AMOUNTS]
        self.score_plot.setTitle(f"P({attribute}) along {d.name}, this image", size="9pt", color=theme.colour("text"))
        self.walk_line.setText(f"Scoring the walk with the {net.name}…")
        s.run_job(attribute_scores_job(s.generator, s.renderer, net, attribute, recipes),
                  on_done=lambda scores: self._on_scores(scores, attribute, net.name), key="direction-scores")

    def _on_scores(self, scores: np.ndarray, attribute: str = "", labeller: str = "") -> None:
        self.last_scores = (SCORE_AMOUNTS.copy(), np.asarray(scores))
        self.score_curve.setData(SCORE_AMOUNTS, np.asarray(scores, float))
        self.walk_line.setText(walk_text(SCORE_AMOUNTS, np.asarray(scores, float), attribute, labeller))
        self.scoresReady.emit(self.last_scores)

    def set_pca(self, ds: DirectionSet | None) -> None:
        """Show the explained variance of the open model's PCA (ws.pca, which the Walk panel computes)."""
        self._shown_pca = ds
        if self.pca_bars is not None:
            self.pca_plot.removeItem(self.pca_bars)
            self.pca_bars = None
        if ds is None or ds.explained is None:
            return
        x = np.arange(1, len(ds.explained) + 1)
        self.pca_bars = pg.BarGraphItem(x=x, height=100 * np.asarray(ds.explained, float), width=0.7,
                                        brush=theme.colour("accent"))
        self.pca_plot.addItem(self.pca_bars)
