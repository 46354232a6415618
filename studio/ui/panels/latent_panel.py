"""Latent tools: seed and truncation, a grid of seeds to pick from, and walk sliders (random and PCA).

Every control turns into `session.edit(new_recipe, ..., merge_key)`: the worker's latest-wins slot
coalesces a fast drag, so nothing here debounces, and the merge key makes one drag one undo step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QMenu, QProgressBar,
                               QPushButton, QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget,
                               QWidgetAction)
from superqt import QLabeledDoubleSlider

from studio.core.directions import DirectionSet, random_directions
from studio.core.recipe import Recipe, SeedLatent
from studio.core.slider_ranges import TRUNCATION_RANGE, WALK_RANGE as _WALK_RANGE
from studio.core.style_edits import truncation_cutoff, with_truncation_cutoff
from studio.core.walk_layers import SLIDER_LAYERS_KEY, check_range, relayered, slider_layers, with_slider_layers
from studio.core.workspace import Workspace
from studio.errors import StudioError
from studio.model.api import Generator
from studio.render.analysis import decomposable_layers, layer_pca_job, pca_job
from studio.render.engine import Renderer
from studio.ui.scrolling import scroll_area
from studio.ui import theme
from studio.ui.images import thumbnail
from studio.ui.session import Session

MAX_SEED = 2**31 - 1
WALK_RANGE = _WALK_RANGE  # in direction units (random) or standard deviations (PCA); bench/slider_ranges.py
LAYERS_KEY = "walk.layers"  # panel setting: the style inputs [start, stop) W walks move (None: all)
PCA_LAYER_KEY = "walk.pca_layer"  # panel setting: the stage GANSpace decomposes (None: W / the first stage)


class _WheelGuard(QObject):
    """Sliders inside a scrolling panel ignore the wheel unless focused, so scrolling never edits."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()
            return True
        return False


_wheel_guard: _WheelGuard | None = None


def labeled_slider(lo: float, hi: float, decimals: int = 2) -> QLabeledDoubleSlider:
    global _wheel_guard
    s = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(10 ** -decimals)
    s.setPageStep((hi - lo) / 20)
    s.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    if _wheel_guard is None:
        _wheel_guard = _WheelGuard()
    s._slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    s._slider.installEventFilter(_wheel_guard)
    return s


def reset_button(tooltip: str) -> QToolButton:
    b = QToolButton()
    theme.set_icon(b, "reset")
    b.setToolTip(tooltip)
    b.setAutoRaise(True)
    return b


class SliderRow(QWidget):
    """Name, labelled slider, reset button. `changed(value, dragging)`; `released` ends a drag."""

    changed = Signal(float, bool)
    released = Signal()

    def __init__(self, name: str, lo: float, hi: float, default: float = 0.0, tooltip: str = "",
                 name_width: int = 64, parent: QWidget | None = None):
        super().__init__(parent)
        self.default = default
        self._dragging = False
        self.name = QLabel(name)
        self.name.setObjectName("walkName")
        self.name.setFixedWidth(name_width)
        self.name.setToolTip(tooltip)
        self.slider = labeled_slider(lo, hi)
        self.slider.setValue(default)
        self.slider.setToolTip(tooltip)
        self.reset = reset_button(f"Reset {name}")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.name)
        row.addWidget(self.slider, 1)
        row.addWidget(self.reset)
        self.slider.sliderPressed.connect(self._on_pressed)
        self.slider.sliderReleased.connect(self._on_released)
        self.slider.valueChanged.connect(lambda v: self.changed.emit(float(v), self._dragging))
        self.reset.clicked.connect(lambda: self.slider.setValue(self.default))

    def _on_pressed(self) -> None:
        self._dragging = True

    def _on_released(self) -> None:
        self._dragging = False
        self.released.emit()

    def value(self) -> float:
        return float(self.slider.value())

    def set_value(self, v: float) -> None:
        """Show a value without emitting `changed` (syncing to a recipe, e.g. after undo)."""
        self.slider.blockSignals(True)
        try:
            self.slider.setValue(v)
        finally:
            self.slider.blockSignals(False)


class LatentPanel(QWidget):
    """Seed (with a dice button) and truncation psi."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._rng = np.random.default_rng()

        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setKeyboardTracking(False)  # one edit when Enter is pressed, not one per digit
        self.seed.setToolTip("The seed that draws this latent from the model's prior")
        self.seed.setMinimumWidth(110)
        self.dice = QToolButton()
        theme.set_icon(self.dice, "dice")
        self.dice.setToolTip("Random seed (R)")
        self.dice.setShortcut("R")
        self.truncation = SliderRow("Truncation ψ", *TRUNCATION_RANGE, 1.0, name_width=88,
                                    tooltip="Pull the latent toward the average: 1 leaves it, 0 gives the mean image")
        # StyleGAN: psi on the first k style inputs only (0 shows "all")
        self.cutoff = QSpinBox()
        self.cutoff.setSpecialValueText("all")
        self.cutoff.setPrefix("first ")
        self.cutoff.setKeyboardTracking(False)
        self.cutoff.setToolTip("Truncation cutoff: ψ pulls only the first k style inputs (the coarse ones), "
                               "so the layout stays typical while finer detail keeps its variety")
        self.cutoff_label = QLabel("ψ applies to")  # a row of its own: the ψ slider keeps its length
        self.cutoff_label.setFixedWidth(88)
        self.cutoff.hide()
        self.cutoff_label.hide()

        seed_row = QHBoxLayout()
        seed_label = QLabel("Seed")
        seed_label.setFixedWidth(88)
        seed_row.addWidget(seed_label)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        layout.addLayout(seed_row)
        layout.addWidget(self.truncation)
        cutoff_row = QHBoxLayout()
        cutoff_row.addWidget(self.cutoff_label)
        cutoff_row.addWidget(self.cutoff, 1)
        layout.addLayout(cutoff_row)
        layout.addStretch(1)  # a taller dock leaves room below, not gaps between the rows

        self.seed.valueChanged.connect(self._on_seed)
        self.dice.clicked.connect(self.random_seed)
        self.truncation.changed.connect(self._on_truncation)
        self.truncation.released.connect(session.end_gesture)
        self.cutoff.valueChanged.connect(self._on_cutoff)
        session.recipeChanged.connect(self.sync)
        session.modelChanged.connect(self._on_model)
        self.setEnabled(session.recipe is not None)
        if session.generator is not None:
            self._on_model(session.generator)

    def random_seed(self) -> None:
        if self.session.recipe is None:
            return
        seed = int(self._rng.integers(0, MAX_SEED))
        self.session.edit(self.session.recipe.with_seed(seed), f"Seed {seed}")
        self.session.end_gesture()

    def _on_seed(self, seed: int) -> None:
        if self.session.recipe is not None:
            self.session.edit(self.session.recipe.with_seed(seed), f"Seed {seed}")
            self.session.end_gesture()

    def _on_truncation(self, psi: float, dragging: bool) -> None:
        if self.session.recipe is None:
            return
        self.session.edit(self.session.recipe.with_truncation(psi), f"Truncation {psi:.2f}",
                          merge_key="truncation")
        if not dragging:
            self.session.end_gesture()

    def _on_model(self, g: Generator) -> None:
        self.setEnabled(True)
        self.cutoff.blockSignals(True)
        self.cutoff.setRange(0, g.info.num_ws)
        self.cutoff.blockSignals(False)
        self.cutoff.setVisible(g.info.num_ws > 0)
        self.cutoff_label.setVisible(g.info.num_ws > 0)

    def _on_cutoff(self, k: int) -> None:
        r = self.session.recipe
        if r is None:
            return
        self.session.edit(with_truncation_cutoff(r, k or None),
                          f"Truncation cutoff {k}" if k else "Truncation on all style inputs")
        self.session.end_gesture()

    def sync(self, recipe: Recipe) -> None:
        if isinstance(recipe.latent, SeedLatent):
            self.seed.blockSignals(True)
            self.seed.setValue(recipe.latent.seed)
            self.seed.blockSignals(False)
        self.truncation.set_value(recipe.truncation)
        self.cutoff.blockSignals(True)
        self.cutoff.setValue(truncation_cutoff(recipe) or 0)
        self.cutoff.blockSignals(False)


# -- seed grid -------------------------------------------------------------------------------------------
def seed_grid_job(renderer: Renderer, g: Generator, recipes: list[Recipe]) -> Iterator[float]:
    """All thumbnails as one batched forward pass, a stage per step (so an interactive frame waits for at most
    one stage of the batch), returning (N, H, W, 3) uint8."""
    yield 0.0
    images = None
    for images in renderer.iter_batch(g, recipes):
        if images is None:
            yield 0.0
    return images


class SeedGridPanel(QWidget):
    """A grid of seeds rendered in the background; clicking one makes it the current seed."""

    GRID = 4
    THUMB = 64

    gridReady = Signal()  # thumbnails updated (tests wait on this)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._rng = np.random.default_rng()
        self.seeds: list[int] = list(range(self.GRID * self.GRID))
        self.images: np.ndarray | None = None
        self._busy = False
        self._dirty = False
        self._grid_truncation: float | None = None
        self.menu_hooks: list[Callable[[QMenu, int], None]] = []  # other panels' entries for a seed's menu

        self.buttons: list[QToolButton] = []
        grid = QGridLayout()
        grid.setSpacing(4)
        for i in range(self.GRID * self.GRID):
            b = QToolButton()
            b.setObjectName("thumb")
            b.setCheckable(True)
            b.setIconSize(QSize(self.THUMB, self.THUMB))
            b.setFixedSize(self.THUMB + 8, self.THUMB + 8)
            b.clicked.connect(lambda _=False, i=i: self.pick(i))
            b.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            b.customContextMenuRequested.connect(lambda pos, i=i: self._seed_menu(i, pos))
            grid.addWidget(b, i // self.GRID, i % self.GRID)
            self.buttons.append(b)
        self.shuffle = QPushButton("New seeds")
        theme.set_icon(self.shuffle, "dice")
        self.shuffle.setToolTip("Show 16 other random seeds")
        self.shuffle.clicked.connect(self.new_seeds)
        self.status = QLabel("")
        self.status.setObjectName("muted")

        bottom = QHBoxLayout()
        bottom.addWidget(self.shuffle)
        bottom.addStretch(1)
        bottom.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 8, 6, 8)  # four columns fit a 312 px column without scrolling sideways
        layout.setSpacing(8)
        layout.addLayout(grid)
        layout.addLayout(bottom)
        layout.addStretch(1)
        self._label_buttons()

        session.modelChanged.connect(lambda _: self.refresh())
        session.recipeChanged.connect(self._on_recipe)
        self.setEnabled(session.generator is not None)
        session.modelChanged.connect(lambda _: self.setEnabled(True))

    def new_seeds(self) -> None:
        self.seeds = sorted(int(s) for s in self._rng.choice(100_000, self.GRID * self.GRID, replace=False))
        self.refresh()

    def pick(self, i: int) -> None:
        if self.session.recipe is None:
            return
        seed = self.seeds[i]
        self.session.edit(self.session.recipe.with_seed(seed), f"Seed {seed}")
        self.session.end_gesture()
        self._check_current(self.session.recipe)

    def _seed_menu(self, i: int, pos: QPoint) -> None:
        menu = QMenu(self)
        for hook in self.menu_hooks:
            hook(menu, self.seeds[i])
        if not menu.isEmpty():
            menu.exec(self.buttons[i].mapToGlobal(pos))

    def refresh(self) -> None:
        """Render the grid at the current truncation; while one render runs, at most one more is queued."""
        s = self.session
        if s.generator is None or s.recipe is None or "walk" not in s.generator.info.capabilities:
            return  # photo translators have no seeds to show
        if self._busy:
            self._dirty = True
            return
        self._busy, self._dirty = True, False
        base = s.recipe.without_walks()
        self._grid_truncation = base.truncation
        recipes = [base.with_seed(seed) for seed in self.seeds]
        seeds = list(self.seeds)
        self.status.setText("rendering…")
        s.run_job(seed_grid_job(s.renderer, s.generator, recipes),
                  on_done=lambda images: self._on_done(seeds, images), on_error=self._on_error, key="seed-grid")

    def _on_done(self, seeds: list[int], images: np.ndarray) -> None:
        self._busy = False
        if seeds == self.seeds:
            self.images = images
            for b, img in zip(self.buttons, images):
                b.setIcon(thumbnail(img, self.THUMB))
            self.status.setText("")
            self._label_buttons()
            self.gridReady.emit()
        if self._dirty or seeds != self.seeds:
            self.refresh()

    def _on_error(self, msg: str) -> None:
        self._busy = False
        self.status.setText("" if msg == "cancelled" else "could not render the grid")
        if msg != "cancelled":
            self.session.error.emit(f"seed grid: {msg}")

    def _on_recipe(self, recipe: Recipe) -> None:
        self._check_current(recipe)
        if self._grid_truncation is not None and recipe.truncation != self._grid_truncation:
            self.refresh()

    def _label_buttons(self) -> None:
        for b, seed in zip(self.buttons, self.seeds):
            b.setToolTip(f"Seed {seed}")
        if self.session.recipe is not None:
            self._check_current(self.session.recipe)

    def _check_current(self, recipe: Recipe) -> None:
        current = recipe.latent.seed if isinstance(recipe.latent, SeedLatent) else None
        for b, seed in zip(self.buttons, self.seeds):
            b.setChecked(seed == current)


# -- walks ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WalkSpec:
    """One slider's direction: slider value x scale = the walk's amount in latent units."""

    label: str
    name: str
    direction: tuple[float, ...]
    scale: float
    space: str
    tooltip: str = ""


def walk_specs(ds: DirectionSet, prefix: str) -> list[WalkSpec]:
    specs = []
    for i in range(len(ds)):
        scale = float(ds.stddev[i]) if ds.stddev is not None else 1.0
        tip = f"{ds.kind} direction {i + 1} in {ds.space}"
        if ds.explained is not None:
            tip += f"; explains {100 * float(ds.explained[i]):.1f}% of the variance; slider unit = 1 std"
        specs.append(WalkSpec(ds.label(i), f"{prefix}{i + 1}", tuple(float(v) for v in ds.vectors[i]),
                              scale if scale > 0 else 1.0, ds.space, tip))
    return specs


class WalkSection(QGroupBox):
    """A titled list of walk sliders for one direction set."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(title, parent)
        self.rows: dict[str, tuple[WalkSpec, SliderRow]] = {}
        self.body = QVBoxLayout(self)
        self.body.setSpacing(4)
        self.placeholder = QLabel("")
        self.placeholder.setObjectName("muted")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.hide()
        self.body.addWidget(self.placeholder)
        self.body.addWidget(self.progress)

    def clear(self) -> None:
        for _, row in self.rows.values():
            row.setParent(None)
            row.deleteLater()
        self.rows.clear()

    def set_waiting(self, text: str, progress: float | None = None) -> None:
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
        self.progress.setVisible(progress is not None)
        if progress is not None:
            self.progress.setValue(int(round(100 * progress)))


class WalkPanel(QWidget):
    """Walk sliders along random orthogonal, PCA (GANSpace) and, for StyleGAN, SeFa directions, with resets.

    For models with style inputs a layer range picks which inputs a W walk moves: all of them (a W edit) or
    the coarse / middle / fine ones (a W+ edit); SeFa's directions are recomputed for that range. The range
    is the panel setting walk.layers of the workspace (a choice is one undo step). The PCA is ws.pca, data
    derived from the model (no undo step): computed once per model on the worker, a batch per step, and
    kept with the workspace, so switching back to a model or reopening a project shows it at once."""

    RANDOM_K = 8
    PCA_K = 10
    PCA_BATCH = 100  # samples per step of the PCA job: an interactive frame waits for at most one batch
    SEFA_K = 8

    pcaReady = Signal()

    def __init__(self, session: Session, pca_samples: int = 1000, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.pca_samples = pca_samples
        self._shown_pca: DirectionSet | None = None  # the PCA the sliders show
        self._pca_cache: dict[str, DirectionSet] = {}  # model id -> its PCA (for states from before it)
        self._pca_running: str | None = None  # model id of the PCA job in flight
        self._pca_failed: set[str] = set()  # model ids whose PCA failed: not retried on every edit
        self._pca_job = 0  # bumps per PCA run: a report of a run a newer one replaced is ignored
        self._sefa_range: tuple[int, int] | None = None  # the range SeFa's sliders were computed for
        self.random = WalkSection("Random directions")
        self.pca = WalkSection("PCA directions (GANSpace)")
        self.sefa = WalkSection("SeFa directions (closed form)")
        self.pca_layer_choice = QComboBox()
        self.pca_layer_choice.setToolTip("The layer whose activations the PCA decomposes (GANSpace): W, or any "
                                         "stage's feature maps, each component mapped back to the latent")
        self.pca_layer_choice.setMinimumContentsLength(14)
        self.pca_layer_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.pca_layer_choice.currentIndexChanged.connect(self._on_pca_layer)
        decompose = QHBoxLayout()
        decompose.addWidget(QLabel("Decompose"))
        decompose.addWidget(self.pca_layer_choice, 1)
        self.pca.body.insertLayout(0, decompose)
        self.at_coords = QCheckBox("Sliders at this image's coordinates")
        self.at_coords.setToolTip("Show each PCA slider at the current latent's coordinate along its component "
                                  "(in standard deviations from the samples' mean), as GANSpace does; moving it "
                                  "walks from there, and its reset returns to that coordinate")
        self.at_coords.toggled.connect(lambda _on: self.session.recipe is not None and self.sync(self.session.recipe))
        self.pca.body.insertWidget(1, self.at_coords)
        self._coords_for: tuple[object, np.ndarray] | None = None  # (recipe without walks, its coordinates)
        self.sefa.hide()
        self.layer_choice = QComboBox()
        self.layer_choice.setToolTip("Which style inputs a W walk moves: all (W), or only the coarse, middle "
                                     "or fine ones (W+). SeFa finds the directions for that range.")
        self.layer_ranges: list[tuple[int, int] | None] = []
        self.layer_choice.currentIndexChanged.connect(self._on_layer_range)
        self.layer_label = QLabel("Style inputs")
        self.reset_all = QPushButton("Reset all walks")
        theme.set_icon(self.reset_all, "reset")
        self.reset_all.clicked.connect(self.reset_walks)
        self.random.set_waiting("Open a model to walk its latent space.")
        self.pca.set_waiting("Open a model to find its principal directions.")

        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(10, 4, 10, 10)
        col.setSpacing(6)
        col.addWidget(self.pca)
        col.addWidget(self.sefa)
        col.addWidget(self.random)
        col.addStretch(1)
        scroll = scroll_area(content, horizontal=False)
        top = QHBoxLayout()
        top.setContentsMargins(10, 10, 10, 0)
        hint = QLabel("Drag to move the latent; each drag is one undo step.")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(hint, 1)
        top.addWidget(self.reset_all)
        layers_row = QHBoxLayout()
        layers_row.setContentsMargins(10, 0, 10, 0)
        layers_row.addWidget(self.layer_label)
        layers_row.addWidget(self.layer_choice, 1)
        self.layer_label.hide()
        self.layer_choice.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(layers_row)
        from studio.ui.panels.edit_strip import EditStrip

        self.strip = EditStrip(session)  # the same walks on other seeds (GANSpace's several samples at once)
        layout.addWidget(self.strip)
        layout.addWidget(scroll, 1)

        session.modelChanged.connect(self.on_model)
        session.recipeChanged.connect(self.sync)
        session.workspaceChanged.connect(self._on_workspace)

    # -- building --------------------------------------------------------------------------------------
    @property
    def pca_directions(self) -> DirectionSet | None:
        """The open model's PCA as shown (ws.pca once stored)."""
        return self._shown_pca

    def on_model(self, g: Generator) -> None:
        self._shown_pca = None
        self._pca_running = None  # the session cancelled the previous model's jobs
        self.random.clear()
        self.pca.clear()
        self.sefa.clear()
        info = g.info
        self._fill_layer_ranges(g)
        if "walk" not in info.capabilities:  # nothing to walk (photo translators): no PCA to fit either
            return
        space, dim = ("w", info.w_dim) if g.has_w else ("z", info.z_dim)
        k = min(self.RANDOM_K, dim)
        if k > 0:
            self._fill(self.random, walk_specs(random_directions(k, dim, seed=0, space=space), "Dir "))
            self.random.set_waiting("")
        self.pca.set_waiting("computing…", 0.0)  # the workspaceChanged that follows shows or computes it

    def _on_workspace(self, ws: Workspace) -> None:
        g = self.session.generator
        if g is None:
            return
        self._show_layer_range(ws.panel(LAYERS_KEY))
        self._label_range_buttons()
        if "walk" not in g.info.capabilities:
            return
        self._show_pca_layer(g, ws)
        key = self._pca_key(g)
        if ws.pca is not None and ws.pca.layer == self.pca_layer():
            self._pca_cache[key] = ws.pca
            if ws.pca is not self._shown_pca:
                self._show_pca(ws.pca)
            return
        cached = self._pca_cache.get(key)
        if cached is not None:  # a state from before the PCA was done (an undo): it is the same PCA
            if cached is not self._shown_pca:
                self._show_pca(cached)
            self._store_pca_soon(g.model_id, cached)
        elif self._pca_running != key and key not in self._pca_failed:
            self._start_pca(g)

    # -- the layer GANSpace decomposes ------------------------------------------------------------------
    def pca_layer(self) -> str:
        """The stage whose activations the PCA decomposes ("": the default, W or the first stage)."""
        ws = self.session.workspace
        value = ws.panel(PCA_LAYER_KEY) if ws is not None else None
        return value if isinstance(value, str) else ""

    def _pca_key(self, g: Generator) -> str:
        return f"{g.model_id}|{self.pca_layer()}"

    def _show_pca_layer(self, g: Generator, ws: Workspace) -> None:
        """The Decompose choice: the default, then every stage but the output; the workspace's pick shown."""
        names = decomposable_layers(g) if "walk" in g.info.capabilities else []
        items = [("", "W (style vectors)" if g.has_w else "first layer (GANSpace default)")]
        items += [(n, f"layer {n}") for n in names]
        if [self.pca_layer_choice.itemData(i) for i in range(self.pca_layer_choice.count())] != [k for k, _ in items]:
            self.pca_layer_choice.blockSignals(True)
            self.pca_layer_choice.clear()
            for key, text in items:
                self.pca_layer_choice.addItem(text, key)
            self.pca_layer_choice.blockSignals(False)
        index = self.pca_layer_choice.findData(self.pca_layer())
        self.pca_layer_choice.blockSignals(True)
        self.pca_layer_choice.setCurrentIndex(max(0, index))
        self.pca_layer_choice.blockSignals(False)

    def _on_pca_layer(self, index: int) -> None:
        """The user picked a layer to decompose: one undo step of the setting; the PCA follows."""
        ws = self.session.workspace
        layer = self.pca_layer_choice.itemData(index)
        if ws is None or not isinstance(layer, str) or layer == self.pca_layer():
            return
        self.session.update(f"Decompose {self.pca_layer_choice.itemText(index)}",
                            panels=ws.with_panel(PCA_LAYER_KEY, layer or None).panels)
        self.session.end_gesture()

    def _start_pca(self, g: Generator) -> None:
        model_id = self._pca_running = self._pca_key(g)
        self._pca_job = job = self._pca_job + 1
        self.pca.set_waiting("computing…", 0.0)
        layer = self.pca_layer()
        job_fn = (layer_pca_job(g, layer, k=self.PCA_K, n_samples=self.pca_samples, batch=self.PCA_BATCH)
                  if layer else pca_job(g, k=self.PCA_K, n_samples=self.pca_samples, batch=self.PCA_BATCH))
        self.session.run_job(job_fn,
                             on_done=lambda ds: self._on_pca(model_id, ds), on_progress=self._on_pca_progress,
                             on_error=lambda msg: self._on_pca_error(model_id, msg, job), key="pca",
                             task="Finding PCA directions")

    def _store_pca_soon(self, model_id: str, ds: DirectionSet) -> None:
        """Store the PCA in the workspace from the event loop, not inside another workspaceChanged (with a
        synchronous worker a job ends inside one: views would then see the newer state before the older)."""
        def store() -> None:
            ws, g = self.session.workspace, self.session.generator
            if ws is not None and g is not None and g.model_id == model_id.split("|")[0] \
                    and ds.layer == self.pca_layer() and (ws.pca is None or ws.pca.layer != ds.layer):
                self.session.set_derived(pca=ds)

        QTimer.singleShot(0, self, store)

    def _fill_layer_ranges(self, g: Generator) -> None:
        """'all' plus the coarse / middle / fine rows of a model with style inputs; hidden for others."""
        from studio.render.mixing import style_groups

        self.layer_choice.blockSignals(True)
        self.layer_choice.clear()
        self.layer_ranges = [None]
        self.layer_choice.addItem("all (W)")
        res_fn = getattr(g, "style_resolutions", None)
        if g.info.num_ws and res_fn is not None:
            for name, rows in style_groups(res_fn()).items():
                if rows:
                    self.layer_ranges.append((rows[0], rows[-1] + 1))
                    self.layer_choice.addItem(f"{name} ({rows[0]}–{rows[-1]}, W+)")
        self.layer_choice.blockSignals(False)
        shown = len(self.layer_ranges) > 1
        self.layer_label.setVisible(shown)
        self.layer_choice.setVisible(shown)
        self.sefa.setVisible(getattr(g, "sefa_directions", None) is not None and "walk" in g.info.capabilities)
        self._fill_sefa(g)

    def layer_range(self) -> tuple[int, int] | None:
        """The style inputs [start, stop) W walks move; None for all."""
        i = self.layer_choice.currentIndex()
        return self.layer_ranges[i] if 0 <= i < len(self.layer_ranges) else None

    def _on_layer_range(self, index: int) -> None:
        """The user chose a range: one undo step of the setting (the view follows on workspaceChanged)."""
        ws = self.session.workspace
        if ws is None or not 0 <= index < len(self.layer_ranges):
            return
        rng = self.layer_ranges[index]
        self.session.update(f"Walk style inputs: {self.layer_choice.itemText(index)}",
                            panels=ws.with_panel(LAYERS_KEY, list(rng) if rng else None).panels)
        self.session.end_gesture()

    def _show_layer_range(self, value: object) -> None:
        """Show the workspace's range (an unknown one shows as all), with SeFa's directions for it."""
        ok = isinstance(value, (list, tuple)) and len(value) == 2
        rng = tuple(value) if ok else None  # type: ignore[arg-type]
        index = self.layer_ranges.index(rng) if rng in self.layer_ranges else 0
        if index == self.layer_choice.currentIndex() and self._sefa_range == self.layer_range():
            return
        self.layer_choice.blockSignals(True)
        self.layer_choice.setCurrentIndex(index)
        self.layer_choice.blockSignals(False)
        if self.session.generator is not None:
            self._fill_sefa(self.session.generator)

    def _fill_sefa(self, g: Generator) -> None:
        """SeFa for the chosen range: an eigen-decomposition of the affine weights (milliseconds)."""
        fn = getattr(g, "sefa_directions", None)
        self.sefa.clear()
        self._sefa_range = self.layer_range()
        if fn is None or "walk" not in g.info.capabilities:
            return
        try:
            ds = fn(self.SEFA_K, self.layer_range())
        except (ValueError, RuntimeError) as exc:
            self.sefa.set_waiting(f"SeFa failed: {exc}")
            return
        self.sefa.set_waiting("")
        self._fill(self.sefa, walk_specs(ds, "SF "))
        if self.session.recipe is not None:
            self.sync(self.session.recipe)

    def _on_pca_progress(self, p: object) -> None:
        self.pca.set_waiting("computing…", float(p))  # type: ignore[arg-type]

    def _on_pca(self, model_id: str, ds: DirectionSet) -> None:
        self._pca_running = None
        self._pca_cache[model_id] = ds
        self._store_pca_soon(model_id, ds)  # the workspaceChanged of storing it shows it

    def _show_pca(self, ds: DirectionSet) -> None:
        self._shown_pca = ds
        self.pca.clear()
        self.pca.set_waiting("")
        self._fill(self.pca, walk_specs(ds, "PC "))
        if self.session.recipe is not None:
            self.sync(self.session.recipe)
        self.pcaReady.emit()

    def _on_pca_error(self, model_id: str, msg: str, job: int = 0) -> None:
        if job and job != self._pca_job:
            return  # a run a newer one replaced: the newer one reports
        if self._pca_running == model_id:
            self._pca_running = None
        if msg == "cancelled":  # the user's Cancel: say so rather than leave "computing…" up
            self.pca.set_waiting("Stopped; the next edit starts it again.")
        else:
            self._pca_failed.add(model_id)
            self.pca.set_waiting(f"PCA failed: {msg}")

    def _fill(self, section: WalkSection, specs: list[WalkSpec]) -> None:
        g = self.session.generator
        per_slider = g is not None and bool(g.info.num_ws) and "style_mix" in g.info.capabilities
        for spec in specs:
            row = SliderRow(spec.name, -WALK_RANGE, WALK_RANGE, 0.0, spec.tooltip, name_width=48)
            row.changed.connect(lambda v, dragging, spec=spec: self._on_walk(spec, v, dragging))
            row.released.connect(self.session.end_gesture)
            if per_slider and spec.space == "w":
                row.range_button = self._range_button(spec.label)  # type: ignore[attr-defined]
                row.layout().insertWidget(2, row.range_button)  # type: ignore[attr-defined]
            section.body.addWidget(row)
            section.rows[spec.label] = (spec, row)
        self._label_range_buttons()

    # -- per-slider style-input ranges (GANSpace's start/end per edit) -----------------------------------
    def _range_button(self, label: str) -> QToolButton:
        b = QToolButton()
        b.setObjectName("rangeButton")
        b.setAutoRaise(True)
        b.setFixedWidth(44)
        b.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        b.setToolTip("Style inputs this slider moves (GANSpace's start / end layer); 'all' follows the "
                     "Style inputs choice above")
        menu = QMenu(b)
        menu.aboutToShow.connect(lambda label=label, menu=menu: self._fill_range_menu(label, menu))
        b.setMenu(menu)
        return b

    def range_button(self, label: str) -> QToolButton | None:
        """The slider's range button (None: not a W slider of a model with style inputs)."""
        for sec in (self.random, self.pca, self.sefa):
            if label in sec.rows:
                return getattr(sec.rows[label][1], "range_button", None)
        return None

    def _fill_range_menu(self, label: str, menu: QMenu) -> None:
        """From / to spin boxes and Apply, plus 'Follow the Style inputs choice'."""
        g = self.session.generator
        menu.clear()
        if g is None:
            return
        n = g.info.num_ws
        start, stop = self.slider_range(label) or (0, n)
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(8, 4, 8, 4)
        first, last = QSpinBox(), QSpinBox()
        for spin, value in ((first, start), (last, stop - 1)):
            spin.setRange(0, n - 1)
            spin.setValue(value)
        apply = QPushButton("Apply")
        apply.clicked.connect(lambda: (self.set_slider_range(label, (min(first.value(), last.value()),
                                                                     max(first.value(), last.value()) + 1)),
                                       menu.close()))
        for w in (QLabel("inputs"), first, QLabel("to"), last, apply):
            lay.addWidget(w)
        act = QWidgetAction(menu)
        act.setDefaultWidget(box)
        menu.addAction(act)
        follow = menu.addAction("Follow the Style inputs choice", lambda: self.set_slider_range(label, None))
        ws = self.session.workspace
        follow.setEnabled(ws is not None and slider_layers(ws.panel(SLIDER_LAYERS_KEY), label) is not None)

    def own_range(self, label: str) -> tuple[int, int] | None:
        ws = self.session.workspace
        return slider_layers(ws.panel(SLIDER_LAYERS_KEY), label) if ws is not None else None

    def slider_range(self, label: str) -> tuple[int, int] | None:
        """The style inputs [start, stop) the slider's W walk moves: its own range, else the shared preset."""
        return self.own_range(label) or self.layer_range()

    def set_slider_range(self, label: str, layers: tuple[int, int] | None) -> bool:
        """Give one slider its own range (None: follow the preset again) as one undo step; its walk, if any,
        moves to the new range at the same amount."""
        ws, g = self.session.workspace, self.session.generator
        if ws is None or g is None:
            return False
        if layers is not None:
            try:
                check_range(layers, g.info.num_ws)
            except StudioError as exc:
                self.session.error.emit(str(exc))
                return False
            if layers == (0, g.info.num_ws):
                layers = None if self.layer_range() is None else layers
        value = with_slider_layers(ws.panel(SLIDER_LAYERS_KEY), label, layers)
        effective = layers or self.layer_range()
        text = f"{label}: style inputs {effective[0]}-{effective[1] - 1}" if effective else f"{label}: all inputs"
        self.session.update(text, panels=ws.with_panel(SLIDER_LAYERS_KEY, value).panels,
                            recipe=relayered(ws.recipe, label, effective))
        self.session.end_gesture()
        return True

    def _label_range_buttons(self) -> None:
        g = self.session.generator
        for label in [lab for sec in (self.random, self.pca, self.sefa) for lab in sec.rows]:
            b = self.range_button(label)
            if b is None:
                continue
            own = self.own_range(label)
            rng = own or self.layer_range()
            b.setText("all" if rng is None or (g is not None and rng == (0, g.info.num_ws))
                      else str(rng[0]) if rng[1] - rng[0] == 1 else f"{rng[0]}–{rng[1] - 1}")
            font = b.font()
            font.setBold(own is not None)  # bold: the slider's own range, not the shared preset's
            b.setFont(font)

    # -- editing ---------------------------------------------------------------------------------------
    def sliders(self) -> dict[str, SliderRow]:
        """All walk sliders by recipe label ("random:0", "pca:2", ...)."""
        return {label: row for sec in (self.random, self.pca, self.sefa) for label, (_, row) in sec.rows.items()}

    def _on_walk(self, spec: WalkSpec, value: float, dragging: bool) -> None:
        r = self.session.recipe
        if r is None:
            return
        layers = self.slider_range(spec.label) if spec.space == "w" else None
        value -= self._origin(spec.label)  # at coordinates: the slider shows where the latent is, not the walk
        self.session.edit(r.with_walk(spec.label, spec.direction, value * spec.scale, spec.space, layers),
                          f"Walk {spec.name.strip()} {value:+.2f}", merge_key=f"walk:{spec.label}")
        if not dragging:
            self.session.end_gesture()

    def reset_walks(self) -> None:
        r = self.session.recipe
        if r is not None:
            self.session.edit(r.without_walks(), "Reset walks")
            self.session.end_gesture()

    def coordinates(self, recipe: Recipe) -> np.ndarray | None:
        """The recipe's latent (before walks) along each PCA component, in its spreads; None when off."""
        g, ds = self.session.generator, self._shown_pca
        if not self.at_coords.isChecked() or g is None or ds is None or ds.mean is None:
            return None
        key = (g.model_id, id(ds), recipe.without_walks())
        if self._coords_for is None or self._coords_for[0] != key:
            from studio.model.spaces import base_point

            try:
                self._coords_for = (key, ds.coordinates(base_point(g, recipe, ds.space)))
            except StudioError:
                return None
        return self._coords_for[1]

    def _origin(self, label: str) -> float:
        coords = self.coordinates(self.session.recipe) if self.session.recipe is not None else None
        if coords is None or not label.startswith("pca:") or label not in self.pca.rows:
            return 0.0
        i = int(label.split(":")[1])
        return float(coords[i]) if i < len(coords) else 0.0

    def sync(self, recipe: Recipe) -> None:
        coords = self.coordinates(recipe)
        for sec in (self.random, self.pca, self.sefa):
            for label, (spec, row) in sec.rows.items():
                origin = 0.0
                if sec is self.pca and coords is not None:
                    origin = float(coords[int(label.split(":")[1])])
                row.default = origin  # the reset button returns to the latent's own coordinate
                row.set_value(origin + recipe.walk_amount(label) / spec.scale)
