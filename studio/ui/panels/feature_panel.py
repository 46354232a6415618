"""The feature view: one layer's feature maps of the current image as heat-map tiles, and unit editing.

Clicking a tile drops (zeroes) its unit; ctrl / shift extend the selection that the scale slider and the
Drop / Insert / Restore buttons act on; a tile's context menu offers the same. Every change is a UnitEdit
in the recipe, so undo, projects and the CLI see it. With "Only inside the painted mask" the edits carry
the mask painted on the canvas; "Paint inserts" turns every brush stroke into a GAN-Dissection insertion
(the selected units set high inside the painted region).

The panel is a view of the workspace: the chosen layer and the selected units are `ws.units`, the painted
mask is `ws.mask`, and each click, layer choice, stroke or clear is one undo step, so they travel with
their model (switching models shows the other model's own layer, selection and mask). Only caches live
here: the maps on show and unit statistics per model.

Activations and per-unit statistics are computed on the worker (the statistics over many samples as a
background job yielding after every stage, the newest replacing the one before), so the panel never blocks
editing.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator, Sequence

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QMenu,
                               QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from studio.core.recipe import Recipe
from studio.core.slider_ranges import UNIT_SCALE_RANGE
from studio.model.layer_labels import layer_labels
from studio.core.units import UnitEdit, UnitMask, drop, insert, scale, unit_edits, with_unit_edits
from studio.core.workspace import UnitSelection, Workspace
from studio.model.api import Generator
from studio.model.photo_input import awaits_photo
from studio.render.dissection import relevance
from studio.render.engine import Renderer
from studio.render.features import UnitStats, layer_activations, unit_statistics_job
from studio.ui import theme
from studio.ui.mask_painter import MaskPainter
from studio.ui.panels.latent_panel import SliderRow
from studio.ui.session import Session
from studio.ui.unit_tiles import TileGrid, TileMark

SORTS = ("Unit index", "Mean, this image", "Max, this image", "Mean over samples", "Relevance to the mask")
SCALE_RANGE = UNIT_SCALE_RANGE  # measured by bench/slider_ranges.py
TILE_PX = 40
_UNSHOWN: Any = object()  # "nothing shown yet": differs from every workspace component, None included


# -- recipe helpers (pure) -------------------------------------------------------------------------------
def replace_units(recipe: Recipe, layer: str, units: Sequence[int], new: Sequence[UnitEdit] = ()) -> Recipe:
    """Take `units` of `layer` out of every unit edit (an edit left with no units goes), then add `new`:
    each unit has at most one edit per layer, so a click always does what its tile shows."""
    gone = set(units)
    kept = []
    for e in unit_edits(recipe):
        if e.layer == layer and gone & set(e.units):
            rest = tuple(u for u in e.units if u not in gone)
            if not rest:
                continue
            e = replace(e, units=rest)
        kept.append(e)
    return with_unit_edits(recipe, kept + list(new))


def marks_of(recipe: Recipe, layer: str) -> dict[int, TileMark]:
    """What each unit of `layer` has done to it (the last edit naming it wins, as it applies last)."""
    marks: dict[int, TileMark] = {}
    for e in unit_edits(recipe):
        if e.layer == layer:
            for u in e.units:
                marks[u] = TileMark(e.op, float(e.value), e.mask is not None)
    return marks


def activations_job(renderer: Renderer, g: Generator, recipe: Recipe, layer: str) -> Iterator[float]:
    """The current image's maps at `layer` as (C, H, W) float32, through the render cache (one worker step)."""
    yield 0.0
    return layer_activations(g, [recipe], layer, renderer)[0].numpy()


def default_layer(names: Sequence[str]) -> str:
    """The second-to-last stage: the DCGAN paper's choice, with large maps and object-level units."""
    return names[max(0, len(names) - 2)]


class FeaturePanel(QWidget):
    """Layer picker, sort, tile grid, hover statistics and histogram, unit-edit and mask tools."""

    tilesReady = Signal()   # tiles show the current recipe's maps (tests wait on this)
    statsReady = Signal()   # unit statistics for the layer arrived

    def __init__(self, session: Session, painter: MaskPainter | None = None, stat_samples: int = 256,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.painter = painter
        self.stat_samples = stat_samples
        self.maps: np.ndarray | None = None            # (C, H, W) of the current image
        self.maps_recipe: Recipe | None = None
        self._stats: dict[str, dict[str, UnitStats]] = {}  # model id -> layer -> statistics
        self._model_id = ""
        self._names: list[str] = []                    # the open model's layers offered (not the image)
        self._default = ""                             # the layer shown while the workspace names none
        self._layer_shown: Any = _UNSHOWN              # workspace components last shown, compared by `is`
        self._recipe_shown: Any = _UNSHOWN
        self._units_shown: Any = _UNSHOWN
        self._mask_shown: Any = _UNSHOWN
        self._anchor = -1
        self._busy = False
        self._dirty = False
        self._stats_job = None
        self._stats_gen = 0
        self._syncing = False
        self.dissect_dialog = None

        # layer and order
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("The layer (generator stage) whose units are shown: its resolution, its "
                                  "channels (units) and its name")
        self.layer_box.currentIndexChanged.connect(lambda i: self._on_layer_box(self.layer_box.itemData(i)))
        # long layer names ("8x8 · 128 ch (b8.conv0)") must not widen the column: the list shows them whole
        self.layer_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_box.setMinimumContentsLength(14)
        self.sort_box = QComboBox()
        self.sort_box.addItems(list(SORTS))
        self.sort_box.setToolTip("Order of the tiles; relevance compares each unit with the painted mask")
        self.sort_box.currentIndexChanged.connect(lambda _: self._reorder())
        self.contrast = QCheckBox("Per-unit contrast")
        self.contrast.setToolTip("Stretch each tile to its own range (off: one scale for the whole layer, so "
                                 "strong and weak units compare)")
        self.contrast.toggled.connect(lambda _: self._show_maps())
        top = QGridLayout()
        top.addWidget(QLabel("Layer"), 0, 0)
        top.addWidget(self.layer_box, 0, 1)
        top.addWidget(QLabel("Sort"), 1, 0)
        top.addWidget(self.sort_box, 1, 1)
        top.addWidget(self.contrast, 2, 1)
        top.setColumnStretch(1, 1)

        self.message = QLabel("Open a model to see its feature maps.")
        self.message.setObjectName("muted")
        self.message.setWordWrap(True)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stats_bar = QProgressBar()
        self.stats_bar.setRange(0, 100)
        self.stats_bar.setFixedHeight(10)
        self.stats_bar.setTextVisible(False)
        self.stats_bar.setToolTip("Unit statistics over many samples, computed in the background")
        self.stats_bar.hide()

        self.tiles = TileGrid()
        self.tiles.tooltip_fn = self.describe_unit
        self.tiles.unitClicked.connect(self.on_tile_clicked)
        self.tiles.unitHovered.connect(self._on_hover)
        self.tiles.contextRequested.connect(self.show_tile_menu)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.tiles)
        self.scroll.setMinimumHeight(160)

        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hist = pg.PlotWidget(background=None)
        self.hist.setFixedHeight(96)
        self.hist.setMenuEnabled(False)
        self.hist.setMouseEnabled(False, False)
        self.hist.hideButtons()
        self.hist.getPlotItem().getAxis("left").setStyle(showValues=False)
        self.hist.getPlotItem().getAxis("left").setWidth(6)
        self.hist.setToolTip("The unit's activations over many samples; the line is this image's mean")
        self.hist_curve = self.hist.plot([0, 1], [0], stepMode="center", fillLevel=0,
                                         brush=pg.mkBrush(theme.colour("accent").lighter(140)),
                                         pen=pg.mkPen(theme.colour("accent"), width=1))
        self.hist_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((220, 50, 47), width=2))
        self.hist.addItem(self.hist_line)
        self.hist_line.hide()

        # unit edits
        edit_box = QGroupBox("Selected units")
        self.selection_label = QLabel("Click a tile to drop its unit; ctrl/shift-click to select.")
        self.selection_label.setObjectName("muted")
        self.selection_label.setWordWrap(True)
        self.selection_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.scale_row = SliderRow("Scale", *SCALE_RANGE, 1.0, name_width=40,
                                   tooltip="Multiply the selected units (0 drops them, 1 leaves them)")
        self.scale_row.changed.connect(self._on_scale)
        self.scale_row.released.connect(session.end_gesture)
        self.drop_button = QPushButton("Drop")
        self.drop_button.setToolTip("Zero the selected units")
        self.drop_button.clicked.connect(lambda: self.drop_selected())
        self.insert_button = QPushButton("Insert")
        self.insert_button.setToolTip("Set the selected units high (their maximum over many samples): draws "
                                      "what they stand for, inside the mask when one is used")
        self.insert_button.clicked.connect(lambda: self.insert_selected())
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("Remove the selected units' edits")
        self.restore_button.clicked.connect(lambda: self.restore_selected())
        self.in_mask = QCheckBox("Only inside the painted mask")
        self.in_mask.setToolTip("New unit edits apply only where the canvas mask is painted")
        self.clear_button = QPushButton("Clear unit edits")
        theme.set_icon(self.clear_button, "reset")
        self.clear_button.setToolTip("Remove every unit edit, on every layer (one undo step)")
        self.clear_button.clicked.connect(self.clear_unit_edits)
        self.dissect_button = QPushButton("Find units from boxes…")
        self.dissect_button.setToolTip("The DCGAN paper's procedure: draw boxes around an object on several "
                                       "samples, find the units that draw it, drop them")
        self.dissect_button.clicked.connect(self.open_dissect_dialog)
        buttons = QHBoxLayout()
        for b in (self.drop_button, self.insert_button, self.restore_button):
            buttons.addWidget(b)
        eb = QVBoxLayout(edit_box)
        eb.setSpacing(4)
        eb.addWidget(self.selection_label)
        eb.addWidget(self.scale_row)
        eb.addLayout(buttons)
        eb.addWidget(self.in_mask)

        # mask painting on the canvas
        mask_box = QGroupBox("Mask on the canvas")
        self.brush = QToolButton()
        self.brush.setText("Brush")
        self.brush.setCheckable(True)
        self.brush.setToolTip("Paint the region unit edits apply inside (drag on the image)")
        self.eraser = QToolButton()
        self.eraser.setText("Eraser")
        self.eraser.setCheckable(True)
        self.eraser.setToolTip("Erase from the painted region")
        self.brush.toggled.connect(lambda on: self._set_tool("brush" if on else None))
        self.eraser.toggled.connect(lambda on: self._set_tool("eraser" if on else None))
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 256)
        self.brush_size.setValue(8)
        self.brush_size.setSuffix(" px")
        self.brush_size.setToolTip("Brush diameter in image pixels")
        self.brush_size.valueChanged.connect(lambda v: self.painter.set_size(v) if self.painter else None)
        self.clear_mask = QPushButton("Clear")
        self.clear_mask.setToolTip("Erase the whole mask")
        self.clear_mask.clicked.connect(self.clear_painted_mask)
        self.show_mask = QCheckBox("Show")
        self.show_mask.setChecked(True)
        self.show_mask.toggled.connect(lambda on: self.painter.set_visible(on) if self.painter else None)
        self.paint_inserts = QCheckBox("Paint inserts the selected units (GAN Dissection)")
        self.paint_inserts.setToolTip("Each stroke sets the selected units high inside the painted region, "
                                      "drawing their concept there")
        self.paint_inserts.toggled.connect(lambda on: self._insert_in_mask() if on else None)
        mrow = QHBoxLayout()
        for w in (self.brush, self.eraser, self.brush_size, self.clear_mask, self.show_mask):
            mrow.addWidget(w)
        mrow.addStretch(1)
        mb = QVBoxLayout(mask_box)
        mb.setSpacing(4)
        mb.addLayout(mrow)
        mb.addWidget(self.paint_inserts)
        mask_box.setVisible(painter is not None)
        if painter is not None:
            painter.maskChanged.connect(self._on_stroke)
            painter.set_size(self.brush_size.value())

        bottom = QHBoxLayout()
        bottom.addWidget(self.clear_button)
        bottom.addWidget(self.dissect_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.stats_bar)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.info)
        layout.addWidget(self.hist)
        layout.addWidget(edit_box)
        layout.addWidget(mask_box)
        layout.addLayout(bottom)

        session.modelChanged.connect(self.on_model)
        session.workspaceChanged.connect(self.show_workspace)
        self._set_enabled(False)
        if session.generator is not None:
            self.on_model(session.generator)
            if session.workspace is not None:
                self.show_workspace(session.workspace)

    # -- model and layer -------------------------------------------------------------------------------
    def _set_enabled(self, on: bool) -> None:
        for w in (self.layer_box, self.sort_box, self.contrast, self.scroll, self.scale_row, self.drop_button,
                  self.insert_button, self.restore_button, self.in_mask, self.clear_button, self.dissect_button):
            w.setEnabled(on)

    def on_model(self, g: Generator) -> None:
        """Another model opened: drop the caches of what was on show (its statistics stay, by model id); its
        workspace, shown next, brings its own layer, selection and mask."""
        if self._stats_job is not None:
            self._stats_job.cancel()  # the session drops its callbacks too: forget it here
            self._stats_job = None
        self._stats_gen += 1
        self.stats_bar.hide()
        self._busy = self._dirty = False  # an activations job of the old model never reports back
        self.maps, self.maps_recipe = None, None
        self.tiles.set_maps(None)
        self._layer_shown = self._recipe_shown = self._units_shown = self._mask_shown = _UNSHOWN
        self._model_id = g.model_id
        self._anchor = -1
        names = [s.name for s in g.stages]
        self._syncing = True
        self.layer_box.clear()
        self._names = []
        if "features" not in g.info.capabilities or len(names) < 2:
            self._syncing = False
            self._set_enabled(False)
            self.show_message("This model exposes no intermediate layers, so it has no feature maps to show "
                              "or edit." if len(names) < 2 else "This model does not offer feature access.")
            return
        self._names = names[:-1]  # the last stage is the image itself
        self._default = default_layer(names)
        labels = layer_labels(g, self._names)
        for name in self._names:
            self.layer_box.addItem(labels[name], name)
        self._syncing = False
        self._set_enabled(True)
        self.show_message("")

    @property
    def layer(self) -> str:
        """The workspace's layer, or the default one (the DCGAN paper's) while none was chosen."""
        ws = self.session.workspace
        if ws is None or not self._names:
            return ""
        return ws.units.layer if ws.units.layer in self._names else self._default

    @property
    def selection(self) -> set[int]:
        """The selected units of the layer on show (from the workspace)."""
        ws = self.session.workspace
        if ws is None or not self._names or ws.units.layer != self.layer:
            return set()
        return set(ws.units.units)

    @property
    def stats(self) -> dict[str, UnitStats]:
        """Unit statistics by layer, of the open model."""
        return self._stats.setdefault(self._model_id, {})

    def set_layer(self, layer: str) -> None:
        """Show another layer (one undo step; its selection starts empty)."""
        if layer in self._names and layer != self.layer:
            self._commit(f"Show layer {layer}", units=UnitSelection(layer, frozenset()))
        self._sync_layer_box()

    def _on_layer_box(self, name: str | None) -> None:
        if not self._syncing and name:
            self.set_layer(name)

    def _sync_layer_box(self) -> None:
        if self.layer and self.layer_box.currentData() != self.layer:
            self._syncing = True
            self.layer_box.setCurrentIndex(self.layer_box.findData(self.layer))
            self._syncing = False

    def show_workspace(self, ws: Workspace) -> None:
        """Show what changed in the workspace (components compared by identity with those on show)."""
        if self.session.generator is None:
            return
        layer = self.layer
        if layer != self._layer_shown:
            self._layer_shown, self._recipe_shown = layer, ws.recipe
            self._sync_layer_box()
            self.maps, self.maps_recipe = None, None
            self.tiles.set_maps(None)
            self.refresh()
            self._start_stats()
        elif ws.recipe is not self._recipe_shown:
            self._recipe_shown = ws.recipe
            self._sync_marks()
            if self.maps_recipe is None or ws.recipe != self.maps_recipe:
                self.refresh()
            if self._stats_job is None:
                self._start_stats()  # a translator's statistics wait for its first photo
        if ws.units is not self._units_shown:
            self._units_shown = ws.units
            self.tiles.set_selected(self.selection)
            self._sync_selection()
        if ws.mask is not self._mask_shown:
            self._mask_shown = ws.mask
            if self.painter is not None:
                self.painter.show_unit_mask(ws.mask)
            if SORTS[self.sort_box.currentIndex()] == "Relevance to the mask":
                self._reorder()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- activations of the current image ---------------------------------------------------------------
    def refresh(self) -> None:
        """Compute the current image's maps on the worker; while one runs, at most one more is queued."""
        s = self.session
        if s.generator is None or s.recipe is None or not self.layer:
            return
        if awaits_photo(s.generator.info, s.recipe):
            self.show_message("Open a photo to see its feature maps: this model translates photos.")
            return
        if self._busy:
            self._dirty = True
            return
        self._busy, self._dirty = True, False
        recipe, layer = s.recipe, self.layer
        s.run_job(activations_job(s.renderer, s.generator, recipe, layer),
                  on_done=lambda maps: self._on_maps(recipe, layer, maps), on_error=self._on_maps_error)

    def _on_maps(self, recipe: Recipe, layer: str, maps: np.ndarray) -> None:
        self._busy = False
        if layer == self.layer:
            if maps.ndim != 3 or maps.shape[1] * maps.shape[2] < 2:
                self.maps = None
                self.tiles.set_maps(None)
                self.show_message(f"Layer {layer} has no spatial feature maps (its output has shape "
                                  f"{tuple(maps.shape)}); choose a convolutional layer.")
            else:
                self.maps, self.maps_recipe = maps, recipe
                c, h, w = maps.shape
                self.show_message("")
                self.tiles.set_tile_size(max(TILE_PX, min(80, h)))
                self._show_maps()
                self.tilesReady.emit()
        if self._dirty or layer != self.layer or recipe != self.session.recipe:
            self.refresh()

    def _on_maps_error(self, msg: str) -> None:
        self._busy = False
        if msg != "cancelled":
            self.maps = None
            self.tiles.set_maps(None)
            self.show_message(f"Cannot show layer {self.layer}: {msg}")

    def _show_maps(self) -> None:
        if self.maps is None:
            return
        m = np.maximum(self.maps, 0.0)
        if self.contrast.isChecked():
            top = m.reshape(len(m), -1).max(1)
            norm = m / np.where(top > 0, top, 1.0)[:, None, None]
        else:
            top = float(np.quantile(m, 0.995)) if m.size else 0.0
            norm = m / (top if top > 0 else 1.0)
        self.tiles.set_maps(norm.astype(np.float32))
        self._reorder()
        self._sync_marks()

    def _reorder(self) -> None:
        if self.maps is None:
            return
        c = len(self.maps)
        flat = self.maps.reshape(c, -1)
        key = SORTS[self.sort_box.currentIndex()]
        order = list(range(c))
        note = ""
        if key == "Mean, this image":
            order = list(np.argsort(-flat.mean(1), kind="stable"))
        elif key == "Max, this image":
            order = list(np.argsort(-flat.max(1), kind="stable"))
        elif key == "Mean over samples":
            st = self.stats.get(self.layer)
            if st is None:
                note = "Sorting by index until the unit statistics are ready."
            else:
                order = list(np.argsort(-st.mean, kind="stable"))
        elif key == "Relevance to the mask":
            ws = self.session.workspace
            if ws is None or ws.mask is None:
                note = "Paint a mask on the canvas to sort by relevance to it."
            else:
                mask = ws.mask.to_array(*self.maps.shape[1:])  # the mask that counts, at the layer's size
                rel = relevance(torch.from_numpy(self.maps[None]), mask[None])
                order = list(np.argsort(-rel, kind="stable"))
        self.tiles.set_order([int(u) for u in order])
        if note or self.message.text().startswith(("Sorting", "Paint a mask")):
            self.show_message(note)

    # -- statistics over many samples ------------------------------------------------------------------
    def _start_stats(self) -> None:
        """Statistics of the layer on show, once per model and layer; the newest job wins (a layer chosen
        while another's statistics run cancels those), and a cancelled job's late report is ignored."""
        g, layer = self.session.generator, self.layer
        if g is None or not layer or layer in self.stats or self.session.recipe is None \
                or awaits_photo(g.info, self.session.recipe):
            return
        if self._stats_job is not None:
            self._stats_job.cancel()
            self._stats_job = None
        seeds = self._stat_recipes(g)
        if not seeds:
            return
        self.stats_bar.setValue(0)
        self.stats_bar.show()
        self._stats_gen += 1
        model, gen = self._model_id, self._stats_gen
        self._stats_job = self.session.run_job(
            unit_statistics_job(g, layer, seeds, batch=32),
            on_done=lambda st: self._on_stats(gen, model, layer, st),
            on_progress=lambda p: self._on_stats_progress(gen, p),
            on_error=lambda msg: self._on_stats_error(gen, msg))

    def _on_stats_progress(self, gen: int, p: object) -> None:
        if gen == self._stats_gen:
            self.stats_bar.setValue(int(100 * float(p)))  # type: ignore[arg-type]

    def _stat_recipes(self, g: Generator) -> list[int | Recipe]:
        """Seeds of the prior; a model without seeds (a translator) uses the current recipe only."""
        if "walk" in g.info.capabilities and g.info.z_dim:
            return list(range(1_000_000, 1_000_000 + self.stat_samples))
        return [self.session.recipe] if self.session.recipe is not None else []

    def _on_stats(self, gen: int, model: str, layer: str, st: UnitStats) -> None:
        self._stats.setdefault(model, {})[layer] = st  # a superseded job that still finished: keep its work
        if gen != self._stats_gen:
            return
        self._stats_job = None
        self.stats_bar.hide()
        if model == self._model_id and layer == self.layer:
            self._reorder()
            self._update_info(self.tiles.hovered)
            self.statsReady.emit()

    def _on_stats_error(self, gen: int, msg: str) -> None:
        if gen != self._stats_gen:
            return
        self._stats_job = None
        self.stats_bar.hide()
        if msg != "cancelled":
            self.show_message(f"Unit statistics failed: {msg}")

    # -- describing units -------------------------------------------------------------------------------
    def describe_unit(self, unit: int) -> str:
        lines = [f"<b>Unit {unit}</b> of {self.layer}"]
        if self.maps is not None and unit < len(self.maps):
            m = self.maps[unit]
            lines.append(f"this image: mean {m.mean():.3g}, max {m.max():.3g}")
        st = self.stats.get(self.layer)
        if st is not None and unit < st.units:
            lines.append(f"over {st.n_samples} samples: mean {st.mean[unit]:.3g} ± {st.std[unit]:.3g}, "
                         f"max {st.max[unit]:.3g}")
        mark = self.marks().get(unit)
        if mark is not None:
            lines.append(f"edit: {mark.label()}")
        return "<br>".join(lines)

    def _on_hover(self, unit: int) -> None:
        self._update_info(unit)

    def _update_info(self, unit: int) -> None:
        if unit < 0 and len(self.selection) == 1:
            unit = next(iter(self.selection))
        if unit < 0:
            self.info.setText("")
            self.hist_curve.setData([0, 1], [0])
            self.hist_line.hide()
            return
        self.info.setText(self.describe_unit(unit))
        st = self.stats.get(self.layer)
        if st is not None and unit < st.units:
            values = st.samples[unit]
            hi = float(max(values.max(), 1e-6))
            counts, edges = np.histogram(values, bins=40, range=(float(min(values.min(), 0.0)), hi))
            self.hist_curve.setData(edges, counts.astype(float))
        else:
            self.hist_curve.setData([0, 1], [0])
        if self.maps is not None and unit < len(self.maps):
            self.hist_line.setValue(float(self.maps[unit].mean()))
            self.hist_line.show()

    # -- selection and edits ----------------------------------------------------------------------------
    def marks(self) -> dict[int, TileMark]:
        r = self.session.recipe
        return marks_of(r, self.layer) if r is not None and self.layer else {}

    def _selected(self, units: set[int] | frozenset[int]) -> UnitSelection:
        return UnitSelection(self.layer, frozenset(int(u) for u in units))

    def set_selection(self, units: set[int], text: str = "Select units") -> None:
        """Select `units` of the layer on show (one undo step)."""
        if self.layer:
            self._commit(text, units=self._selected(units))

    def clear_selection(self) -> None:
        self.set_selection(set(), "Clear unit selection")

    def on_tile_clicked(self, unit: int, modifiers: Qt.KeyboardModifier) -> None:
        """One undo step per click: ctrl / shift change the selection; a plain click selects the unit and
        drops it (or restores it when it is edited)."""
        mods = Qt.KeyboardModifier(modifiers)
        if mods & Qt.KeyboardModifier.ShiftModifier and self._anchor in self.tiles.order:
            order = self.tiles.order
            a, b = sorted((order.index(self._anchor), order.index(unit)))
            self.set_selection(self.selection | set(order[a:b + 1]))
        elif mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
                     | Qt.KeyboardModifier.ShiftModifier):
            self._anchor = unit
            self.set_selection(self.selection ^ {unit})
        else:
            self._anchor = unit
            recipe, text = self._toggled(unit)
            if recipe is not None:
                self._commit(text, recipe=recipe, units=self._selected({unit}))

    def toggle_drop(self, unit: int) -> None:
        """Drop the unit, or restore it when it is already edited (the edit half of a plain click)."""
        recipe, text = self._toggled(unit)
        if recipe is not None:
            self._commit(text, recipe=recipe)

    def _toggled(self, unit: int) -> tuple[Recipe | None, str]:
        r = self.session.recipe
        if r is None or not self.layer:
            return None, ""
        if unit in self.marks():
            return replace_units(r, self.layer, [unit]), f"Restore unit {unit}"
        new = [drop(self.layer, [unit], self._mask())]
        return replace_units(r, self.layer, [unit], new), f"Drop unit {unit}"

    def _targets(self, units: Sequence[int] | None) -> list[int]:
        return sorted(self.selection if units is None else units)

    def drop_selected(self, units: Sequence[int] | None = None) -> None:
        self._apply_op(self._targets(units), "drop")

    def insert_selected(self, units: Sequence[int] | None = None) -> None:
        self._apply_op(self._targets(units), "insert")

    def scale_selected(self, factor: float, units: Sequence[int] | None = None, merge: bool = False) -> None:
        self._apply_op(self._targets(units), "scale", factor, merge)

    def restore_selected(self, units: Sequence[int] | None = None) -> None:
        self._apply_op(self._targets(units), "restore")

    def _apply_op(self, units: list[int], op: str, factor: float = 1.0, merge: bool = False) -> None:
        r = self.session.recipe
        if r is None or not units or not self.layer:
            return
        mask = self._mask()
        names = ", ".join(map(str, units[:6])) + ("…" if len(units) > 6 else "")
        if op == "drop":
            new, text = [drop(self.layer, units, mask)], f"Drop units {names}"
        elif op == "insert":
            new, text = self._insertions(units, mask), f"Insert units {names}"
        elif op == "scale" and factor != 1.0:
            new, text = [scale(self.layer, units, factor, mask)], f"Scale units {names} ×{factor:.2f}"
        else:
            new, text = [], f"Restore units {names}"
        self._edit(replace_units(r, self.layer, units, new), text, "unit-scale" if merge else None)

    def _insertions(self, units: Sequence[int], mask: UnitMask | None) -> list[UnitEdit]:
        """Each unit set to its maximum over many samples (GAN Dissection's "high"), or, before the
        statistics arrive, to the layer's maximum in this image."""
        st = self.stats.get(self.layer)
        fallback = float(self.maps.max()) if self.maps is not None and self.maps.size else 1.0
        values = {u: (float(st.max[u]) if st is not None and u < st.units and st.max[u] > 0 else fallback)
                  for u in units}
        if len(set(values.values())) == 1:
            return [insert(self.layer, units, values[units[0]], mask)]
        return [insert(self.layer, [u], values[u], mask) for u in units]

    def _mask(self) -> UnitMask | None:
        """The workspace's mask when new edits should stay inside it."""
        ws = self.session.workspace
        return ws.mask if ws is not None and self.in_mask.isChecked() else None

    def _edit(self, recipe: Recipe, text: str, merge_key: str | None = None) -> None:
        self._commit(text, merge_key, recipe=recipe)

    def _commit(self, text: str, merge_key: str | None = None, **changes: Any) -> bool:
        """One undo step (merged with the gesture's others under `merge_key`, else a gesture of its own)."""
        done = self.session.update(text, merge_key, **changes)
        if merge_key is None:
            self.session.end_gesture()
        return done

    def clear_unit_edits(self) -> None:
        r = self.session.recipe
        if r is not None and unit_edits(r):
            self._edit(with_unit_edits(r, ()), "Clear unit edits")

    def _on_scale(self, value: float, dragging: bool) -> None:
        if self._syncing or not self.selection:
            return
        self.scale_selected(value, merge=True)
        if not dragging:
            self.session.end_gesture()

    def show_tile_menu(self, unit: int, pos: QPoint) -> QMenu:
        if unit not in self.selection:
            self.set_selection({unit}, f"Select unit {unit}")
            self._anchor = unit
        units = sorted(self.selection) or [unit]
        n = f"{len(units)} units" if len(units) > 1 else f"unit {unit}"
        menu = QMenu(self)
        menu.addAction(f"Drop {n}", lambda: self.drop_selected(units))
        for f in (0.5, 2.0):
            menu.addAction(f"Scale {n} ×{f:g}", lambda f=f: self.scale_selected(f, units))
        menu.addAction(f"Insert {n} (set high)", lambda: self.insert_selected(units))
        menu.addSeparator()
        restore = menu.addAction(f"Restore {n}", lambda: self.restore_selected(units))
        restore.setEnabled(any(u in self.marks() for u in units))
        menu.addAction("Select none", self.clear_selection)
        if pos is not None and not pos.isNull():
            menu.popup(pos)
        return menu

    # -- workspace -> view ----------------------------------------------------------------------------------
    def _sync_marks(self) -> None:
        self.tiles.set_marks(self.marks())
        self._sync_selection()

    def _sync_selection(self) -> None:
        units = sorted(self.selection)
        marks = self.marks()
        if not units:
            self.selection_label.setText("Click a tile to drop its unit; ctrl/shift-click to select.")
        else:
            names = ", ".join(map(str, units[:12])) + ("…" if len(units) > 12 else "")
            self.selection_label.setText(f"{len(units)} selected: {names}")
        scales = {marks[u].value if u in marks and marks[u].op == "scale" else 1.0 for u in units}
        self._syncing = True
        self.scale_row.set_value(scales.pop() if len(scales) == 1 else 1.0)
        self._syncing = False
        for b in (self.drop_button, self.insert_button, self.restore_button, self.scale_row):
            b.setEnabled(bool(units) and self.maps is not None)
        self._update_info(self.tiles.hovered)

    # -- mask --------------------------------------------------------------------------------------------
    def _set_tool(self, tool: str | None) -> None:
        if self.painter is None:
            return
        other = self.eraser if tool == "brush" else self.brush
        if tool is not None:
            other.blockSignals(True)
            other.setChecked(False)
            other.blockSignals(False)
            self.in_mask.setChecked(True)  # painting a mask means wanting edits to use it
        self.painter.set_tool(tool or "off")

    def _on_stroke(self, _mask: np.ndarray | None) -> None:
        """A brush or eraser stroke ended: the painter's mask at the stored grid becomes the workspace's (one
        undo step), with the selected units inserted inside it in "paint inserts" mode (the same step)."""
        if self.painter is None or self.session.workspace is None:
            return
        unit = self.painter.unit
        changes: dict[str, Any] = {"mask": unit}
        recipe = self._inserted(unit)
        if recipe is not None:
            changes["recipe"] = recipe
        text = "Paint inserted units" if recipe is not None else \
            ("Erase mask" if self.painter.tool == "eraser" else "Paint mask")
        if not self._commit(text, **changes):
            self.painter.show_unit_mask(self.session.workspace.mask)  # nothing counted: show what does

    def _inserted(self, mask: UnitMask | None) -> Recipe | None:
        """In "paint inserts" mode, the recipe with the selected units set high inside `mask`."""
        r = self.session.recipe
        if not self.paint_inserts.isChecked() or r is None or not self.selection or not self.layer:
            return None
        units = sorted(self.selection)
        return replace_units(r, self.layer, units, self._insertions(units, mask) if mask is not None else [])

    def _insert_in_mask(self) -> None:
        ws = self.session.workspace
        recipe = self._inserted(ws.mask) if ws is not None and ws.mask is not None else None
        if recipe is not None:
            self._edit(recipe, "Paint inserted units")

    def clear_painted_mask(self) -> None:
        """Erase the whole mask (one undo step)."""
        ws = self.session.workspace
        if ws is not None and ws.mask is not None:
            self._commit("Clear mask", mask=None)
        elif self.painter is not None:
            self.painter.show_unit_mask(None)

    # -- the DCGAN paper's procedure ------------------------------------------------------------------------
    def open_dissect_dialog(self):  # noqa: ANN201 - DissectDialog, imported late (it imports this module)
        from studio.ui.panels.dissect_dialog import DissectDialog

        if self.dissect_dialog is None:
            self.dissect_dialog = DissectDialog(self.session, self)
        self.dissect_dialog.prepare(self.layer)
        self.dissect_dialog.show()
        self.dissect_dialog.raise_()
        return self.dissect_dialog

