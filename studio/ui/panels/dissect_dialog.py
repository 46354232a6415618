"""The DCGAN paper's unit-finding procedure (Radford et al. 2016, sec. 6.1), as a dialog.

Generate samples, draw boxes around an object (windows, glasses, ...) on several of them, and "Find units"
fits a logistic regression from the layer's activations to "inside a box" (studio.render.dissection,
on the worker). The top k units are proposed, and the same samples are shown again with them dropped, so
the user sees whether the object goes away before "Apply" adds the drop to the current recipe.

Renders run as worker jobs yielding after every stage of every batch (an interactive frame waits for one
stage at most), and the newest job of a kind wins: new samples cancel everything computed from the old
ones, a new ranking cancels the previous ranking and its after row.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generator as PyGenerator, Iterator, Sequence

import numpy as np
import torch
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from studio.core.recipe import Recipe
from studio.core.units import drop, with_unit_edits
from studio.core.workspace import UnitSelection
from studio.model.api import Generator
from studio.render.dissection import Box, RankedUnits, boxes_to_masks, rank_units
from studio.render.engine import Renderer
from studio.model.layer_labels import layer_labels
from studio.render.features import layer_activations
from studio.ui import theme
from studio.ui.images import to_qimage
from studio.ui.panels.feature_panel import replace_units
from studio.ui.panels.style_mix_panel import parse_seed_list
from studio.ui.session import Session

if TYPE_CHECKING:
    from studio.ui.panels.feature_panel import FeaturePanel

COLUMNS = 6
CELL_PX = 128
BOX_COLOUR = QColor(0, 230, 255)
BATCH = 8  # samples rendered together: one step is one stage of this many
DISSECT_TASKS = {"samples": "Rendering samples to box", "find": "Finding units"}  # status-bar titles


def sample_recipes(recipe: Recipe, seeds: Sequence[int]) -> list[Recipe]:
    """The current recipe (truncation, class) at other seeds, without walks or unit edits."""
    base = with_unit_edits(recipe.without_walks(), ())
    return [base.with_seed(int(s)) for s in seeds]


def render_steps(renderer: Renderer, g: Generator, recipes: list[Recipe], lo: float = 0.0,
                 hi: float = 1.0) -> PyGenerator[float, None, np.ndarray]:
    """Frames (N, H, W, 3) of the recipes, yielding progress in [lo, hi] after every stage of every batch."""
    chunks: list[np.ndarray] = []
    steps = max(1, len(g.stages) * (-(-len(recipes) // BATCH)))
    done = 0
    for b in range(0, len(recipes), BATCH):
        for out in renderer.iter_batch(g, recipes[b:b + BATCH]):
            done += 1
            if out is None:
                yield lo + (hi - lo) * done / steps
            else:
                chunks.append(out)
    return np.concatenate(chunks) if chunks else np.zeros((0, 0, 0, 3), np.uint8)


def samples_job(renderer: Renderer, g: Generator, recipes: list[Recipe]) -> Iterator[float]:
    yield 0.0
    return (yield from render_steps(renderer, g, recipes))


def find_units_job(renderer: Renderer, g: Generator, recipes: list[Recipe], layer: str,
                   boxes: list[list[Box]], k: int) -> Iterator[float]:
    """Rank the layer's units by the boxed samples (activations a batch per step), then render all samples
    with the top k dropped (a stage per step)."""
    yield 0.0
    boxed = [i for i, b in enumerate(boxes) if b]
    picked = [recipes[i] for i in boxed]
    parts = []
    for b in range(0, len(picked), BATCH):
        parts.append(layer_activations(g, picked[b:b + BATCH], layer))
        yield 0.3 * min(1.0, (b + BATCH) / len(picked))
    acts = torch.cat(parts)
    masks = boxes_to_masks([boxes[i] for i in boxed], g.info.resolution)
    ranked = rank_units(acts, masks)
    yield 0.4
    after = yield from render_steps(renderer, g, dropped(recipes, layer, ranked.top(k)), 0.4, 1.0)
    return ranked, after


def dropped(recipes: list[Recipe], layer: str, units: Sequence[int]) -> list[Recipe]:
    return [with_unit_edits(r, (drop(layer, units),)) for r in recipes] if units else list(recipes)


class BoxCanvas(QWidget):
    """One sample; drag to draw a box, right-click a box to remove it. Boxes are image fractions."""

    boxesChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedSize(CELL_PX, CELL_PX)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Drag to draw a box around the object; right-click a box to remove it")
        self.pixmap: QPixmap | None = None
        self.boxes: list[Box] = []
        self._start: QPointF | None = None
        self._now: QPointF | None = None

    def set_image(self, image: np.ndarray | None) -> None:
        self.pixmap = None if image is None else QPixmap.fromImage(to_qimage(image))
        self.update()

    def set_boxes(self, boxes: list[Box]) -> None:
        self.boxes = list(boxes)
        self.update()
        self.boxesChanged.emit()

    def _frac(self, p: QPointF) -> QPointF:
        return QPointF(min(max(p.x() / self.width(), 0.0), 1.0), min(max(p.y() / self.height(), 0.0), 1.0))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        f = self._frac(event.position())
        if event.button() == Qt.MouseButton.RightButton:
            hits = [b for b in self.boxes if b[0] <= f.x() <= b[2] and b[1] <= f.y() <= b[3]]
            if hits:
                self.boxes.remove(hits[-1])
                self.update()
                self.boxesChanged.emit()
        elif event.button() == Qt.MouseButton.LeftButton and self.pixmap is not None:
            self._start = self._now = f

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._start is not None:
            self._now = self._frac(event.position())
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._start is None or event.button() != Qt.MouseButton.LeftButton:
            return
        a, b = self._start, self._frac(event.position())
        self._start = self._now = None
        box = (min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y()))
        if box[2] - box[0] > 0.02 and box[3] - box[1] > 0.02:  # a click is not a box
            self.boxes.append(box)
            self.boxesChanged.emit()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), theme.colour("canvas"))
        if self.pixmap is not None:
            p.drawPixmap(self.rect(), self.pixmap)
        pen = QPen(BOX_COLOUR, 2)
        p.setPen(pen)
        w, h = self.width(), self.height()
        shown = list(self.boxes)
        if self._start is not None and self._now is not None:
            shown.append((self._start.x(), self._start.y(), self._now.x(), self._now.y()))
        for x0, y0, x1, y1 in shown:
            p.drawRect(QRectF(min(x0, x1) * w, min(y0, y1) * h, abs(x1 - x0) * w, abs(y1 - y0) * h))
        p.end()


class SampleCell(QWidget):
    """A sample to draw on, and below it the same sample with the proposed units dropped."""

    def __init__(self, seed: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.seed = seed
        self.title = QLabel(f"seed {seed}")
        self.title.setObjectName("muted")
        self.canvas = BoxCanvas()
        self.after = QLabel()
        self.after.setFixedSize(CELL_PX, CELL_PX)
        self.after.setToolTip("This sample with the proposed units dropped")
        self.after.hide()
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addWidget(self.title)
        col.addWidget(self.canvas)
        col.addWidget(self.after)

    def set_after(self, image: np.ndarray | None, badge: str = "") -> None:
        if image is None:
            self.after.hide()
            return
        pix = QPixmap.fromImage(to_qimage(image)).scaled(
            QSize(CELL_PX, CELL_PX), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        if badge:  # says which row is which without a legend to look up
            p = QPainter(pix)
            font = p.font()
            font.setPixelSize(10)
            p.setFont(font)
            rect = p.fontMetrics().boundingRect(badge).adjusted(-4, -2, 4, 2)
            rect.moveTopLeft(QPoint(3, 3))
            p.fillRect(rect, QColor(20, 20, 20, 170))
            p.setPen(QColor(255, 255, 255))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, badge)
            p.end()
        self.after.setPixmap(pix)
        self.after.show()


class DissectDialog(QDialog):
    """Samples to box, k, Find units, the before/after grid and Apply."""

    samplesReady = Signal()
    unitsFound = Signal()

    def __init__(self, session: Session, panel: "FeaturePanel | None" = None, parent: QWidget | None = None):
        super().__init__(parent if parent is not None else panel)
        self.session = session
        self.panel = panel
        self.setWindowTitle("Find units from boxes (DCGAN paper)")
        self.recipes: list[Recipe] = []
        self.cells: list[SampleCell] = []
        self.ranked: RankedUnits | None = None
        self.ranked_layer = ""
        self._jobs: dict[str, Any] = {}    # kind -> the running job's handle (newest wins)
        self._tokens: dict[str, int] = {}  # kind -> submissions: late reports of older jobs are ignored

        intro = QLabel("Draw boxes around one kind of object (windows, glasses, ...) on several samples, then "
                       "find the units that draw it. The second row shows each sample with them dropped.")
        intro.setWordWrap(True)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("The layer whose units are ranked")
        self.layer_box.currentTextChanged.connect(lambda _: self._invalidate())
        self.seeds = QLineEdit("0-11")
        self.seeds.setToolTip("Seeds of the samples to draw on (e.g. 0-11 or 3,8,20)")
        self.seeds.returnPressed.connect(self.render_samples)
        self.samples_button = QPushButton("Show samples")
        self.samples_button.clicked.connect(self.render_samples)
        self.k = QSpinBox()
        self.k.setRange(1, 512)
        self.k.setValue(5)
        self.k.setPrefix("top ")
        self.k.setToolTip("How many of the best-ranked units to drop")
        self.k.valueChanged.connect(lambda _: self._render_after())
        self.find_button = QPushButton("Find units")
        self.find_button.setObjectName("primary")
        self.find_button.setToolTip("Rank the layer's units by how well they predict the boxes (logistic "
                                    "regression, in the background)")
        self.find_button.clicked.connect(self.find_units)
        self.clear_button = QPushButton("Clear boxes")
        self.clear_button.clicked.connect(self.clear_boxes)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Drop the proposed units in the current image (one undo step)")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFixedHeight(10)
        self.bar.setTextVisible(False)
        self.bar.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setSpacing(8)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Layer"))
        controls.addWidget(self.layer_box, 1)
        controls.addWidget(QLabel("Seeds"))
        controls.addWidget(self.seeds, 1)
        controls.addWidget(self.samples_button)
        actions = QHBoxLayout()
        actions.addWidget(self.clear_button)
        actions.addStretch(1)
        actions.addWidget(self.k)
        actions.addWidget(self.find_button)
        actions.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(controls)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addLayout(actions)
        self.resize(COLUMNS * (CELL_PX + 8) + 60, 2 * (2 * CELL_PX + 30) + 200)
        session.modelChanged.connect(self._on_model)

    # -- samples -----------------------------------------------------------------------------------------
    def _on_model(self, _g: Generator) -> None:
        """Nothing of the previous model stays: samples of the new one now if open, else when next opened."""
        if self.isVisible():
            self.prepare("")
        else:
            self._cancel("samples", "find", "after")
            self._idle("")
            self.recipes = []
            self._set_cells([])
    def prepare(self, layer: str) -> None:
        """Fill the layers of the open model (choosing `layer`) and show samples when there are none."""
        g = self.session.generator
        names = [s.name for s in g.stages][:-1] if g is not None else []
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        labels = layer_labels(g, names) if g is not None else {}
        for name in names:
            self.layer_box.addItem(labels.get(name, name), name)
        if layer in names:
            self.layer_box.setCurrentIndex(names.index(layer))
        elif names:
            self.layer_box.setCurrentIndex(len(names) - 1)
        self.layer_box.blockSignals(False)
        ok = g is not None and bool(names) and "walk" in g.info.capabilities
        for w in (self.find_button, self.samples_button, self.k):
            w.setEnabled(ok)
        if not ok:
            self._set_cells([])
            self.status.setText("This model has no seeds and layers to sample and dissect." if g is not None
                                else "Open a model first.")
            return
        if not self.cells or self.recipes and self.recipes[0].model != self.session.recipe.model:
            self.render_samples()

    def render_samples(self) -> bool:
        s = self.session
        if s.generator is None or s.recipe is None:
            return False
        try:
            seeds = parse_seed_list(self.seeds.text())
        except ValueError as exc:
            self.status.setText(str(exc))
            return False
        self.recipes = sample_recipes(s.recipe, seeds)
        self._set_cells(seeds)
        self._busy("rendering samples…")
        self._submit("samples", samples_job(s.renderer, s.generator, self.recipes), self._on_samples,
                     cancels=("samples", "find", "after"))
        return True

    def _submit(self, kind: str, job: Iterator[Any], on_done: Callable[[Any], None],
                cancels: Sequence[str] = (), progress: bool = True) -> None:
        """Run `job` on the worker after cancelling the running jobs of its kind and of `cancels` (the newest
        wins); reports of a job superseded meanwhile, its "cancelled" included, are ignored."""
        self._cancel(kind, *cancels)
        token, finished = self._tokens[kind], []

        def current() -> bool:
            return self._tokens.get(kind) == token

        def report(callback: Callable[[Any], None], value: Any) -> None:
            finished.append(True)
            if current():
                self._jobs.pop(kind, None)
                callback(value)

        handle = self.session.run_job(
            job, on_done=lambda v: report(on_done, v), on_error=lambda msg: report(self._on_failed, msg),
            on_progress=(lambda p: self._on_progress(p) if current() else None) if progress else None,
            task=DISSECT_TASKS.get(kind) if progress else None)
        if not finished and current():  # a SyncWorker has run it already
            self._jobs[kind] = handle

    def _cancel(self, *kinds: str) -> bool:
        """Cancel the running jobs of `kinds` and ignore whatever they report later; True if one ran."""
        ran = False
        for k in kinds:
            old = self._jobs.pop(k, None)
            if old is not None:
                old.cancel()
                ran = True
            self._tokens[k] = self._tokens.get(k, 0) + 1
        return ran

    def running(self) -> tuple[str, ...]:
        """The kinds of job running now (tests check that the newest won)."""
        return tuple(self._jobs)

    def _set_cells(self, seeds: Sequence[int]) -> None:
        for c in self.cells:
            c.setParent(None)
            c.deleteLater()
        self.cells = []
        for i, seed in enumerate(seeds):
            cell = SampleCell(seed)
            cell.canvas.boxesChanged.connect(self._on_boxes)
            self.grid.addWidget(cell, i // COLUMNS, i % COLUMNS)
            self.cells.append(cell)
        self._invalidate()

    def _on_samples(self, images: np.ndarray) -> None:
        self._idle("Draw boxes around an object on several samples, then Find units.")
        for cell, img in zip(self.cells, images):
            cell.canvas.set_image(img)
        self.samplesReady.emit()

    # -- boxes and units ----------------------------------------------------------------------------------
    def boxes(self) -> list[list[Box]]:
        return [list(c.canvas.boxes) for c in self.cells]

    def set_boxes(self, boxes: Sequence[Sequence[Box]]) -> None:
        """Boxes per sample, as image fractions (what drawing does; scripts and tests use it too)."""
        for cell, b in zip(self.cells, boxes):
            cell.canvas.set_boxes(list(b))

    def clear_boxes(self) -> None:
        self.set_boxes([[] for _ in self.cells])

    def _on_boxes(self) -> None:
        n = sum(1 for b in self.boxes() if b)
        self.status.setText(f"{sum(len(b) for b in self.boxes())} boxes on {n} samples." if n else
                            "Draw boxes around an object on several samples, then Find units.")

    def find_units(self) -> bool:
        s = self.session
        boxes = self.boxes()
        layer = self.layer_box.currentData()
        if s.generator is None or not self.recipes or not layer:
            return False
        if not any(boxes):
            self.status.setText("Draw at least one box first: drag on a sample around the object.")
            return False
        self._busy(f"ranking the units of {layer}…")
        job = find_units_job(s.renderer, s.generator, self.recipes, layer, boxes, self.k.value())
        self._submit("find", job, lambda res: self._on_found(layer, *res), cancels=("after",))
        return True

    def _on_found(self, layer: str, ranked: RankedUnits, after: np.ndarray) -> None:
        self.ranked, self.ranked_layer = ranked, layer
        self._idle(self._describe())
        self._show_after(after)
        self.apply_button.setEnabled(True)
        self.unitsFound.emit()

    def proposed(self) -> tuple[int, ...]:
        return self.ranked.top(self.k.value()) if self.ranked is not None else ()

    def _describe(self) -> str:
        if self.ranked is None:
            return ""
        units = self.proposed()
        listed = ", ".join(f"{u} ({self.ranked.weights[u]:+.2f})" for u in units)
        return (f"Top {len(units)} units of {self.ranked_layer} (weight): {listed}. The fit separates boxed "
                f"from other positions with balanced accuracy {self.ranked.accuracy:.0%}.")

    def _render_after(self) -> None:
        s = self.session
        if self.ranked is None or s.generator is None:
            return
        self.status.setText(self._describe())
        recipes = dropped(self.recipes, self.ranked_layer, self.proposed())
        self._submit("after", samples_job(s.renderer, s.generator, recipes), self._show_after, progress=False)

    def _show_after(self, images: np.ndarray) -> None:
        badge = f"{len(self.proposed())} units dropped"
        for cell, img in zip(self.cells, images):
            cell.set_after(img, badge)

    def apply(self) -> bool:
        """Drop the proposed units and select them in the Features panel's layer: one undo step."""
        r = self.session.recipe
        units = self.proposed()
        if r is None or not units:
            return False
        self.session.update(f"Drop {len(units)} units found from boxes",
                            recipe=replace_units(r, self.ranked_layer, units,
                                                 [drop(self.ranked_layer, units)]),
                            units=UnitSelection(self.ranked_layer, frozenset(units)))
        self.session.end_gesture()
        self.status.setText(f"Dropped units {', '.join(map(str, units))} of {self.ranked_layer} in the current "
                            f"image (undo with Ctrl+Z).")
        return True

    # -- state --------------------------------------------------------------------------------------------
    def _invalidate(self) -> None:
        """The samples or the layer changed: a ranking (running or done) no longer applies."""
        if self._cancel("find", "after"):
            self._idle("")
        self.ranked = None
        self.apply_button.setEnabled(False)
        for c in self.cells:
            c.set_after(None)

    def _busy(self, text: str) -> None:
        self.status.setText(text)
        self.bar.setValue(0)
        self.bar.show()
        self.find_button.setEnabled(False)

    def _idle(self, text: str) -> None:
        self.bar.hide()
        self.find_button.setEnabled(True)
        self.status.setText(text)

    def _on_progress(self, p: object) -> None:
        self.bar.setValue(int(100 * float(p)))  # type: ignore[arg-type]

    def _on_failed(self, msg: str) -> None:
        self._idle("" if msg == "cancelled" else f"Could not find units: {msg}")
