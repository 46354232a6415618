"""The vector arithmetic workspace (DCGAN paper, section 6.3): concept bins, a weighted sum, a 3x3 around it.

Bins fill from the current image, typed seeds or the seed grid's context menu. Every change re-renders the
members, each bin's mean and the result's neighbourhood as ONE worker job (latest wins: at most one more is
queued), so the window never waits. Results become the current recipe through the undo stack, named latents
kept in the project, or a direction in the user's library.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFrame, QGridLayout, QHBoxLayout,
                               QInputDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu,
                               QPushButton, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from studio.core.arithmetic import (ConceptBin, Expression, NamedLatent, concept_direction, default_space,
                                    has_w, latent_in, member_from_recipe, neighbourhood, result_recipe)
from studio.core.recipe import Recipe, SeedLatent
from studio.errors import StudioError
from studio.model.api import Generator
from studio.render.engine import Renderer
from studio.ui.scrolling import scroll_area
from studio.ui import theme
from studio.ui.images import thumbnail
from studio.ui.session import Session

MEMBER_THUMB = 44
MEAN_THUMB = 56
CELL = 64
DEFAULT_BINS = (("A", 1.0), ("B", -1.0), ("C", 1.0))  # the paper's A - B + C


@dataclass
class ArithmeticResult:
    """What one render job found: member thumbnails (by member), bin means, the 3x3 and any message."""

    thumbs: dict[Any, np.ndarray | None] = field(default_factory=dict)
    means: list[np.ndarray | None] = field(default_factory=list)
    grid: np.ndarray | None = None
    latents: list[Any] = field(default_factory=list)  # the 3x3's latents; the centre one is the result
    vector: np.ndarray | None = None
    message: str = ""


def compute(renderer: Renderer, g: Generator, base: Recipe, bins: list[ConceptBin], expr: Expression,
            space: str, scale: float, seed: int, cached: set) -> ArithmeticResult:
    """Everything the panel shows, computed off the GUI thread; bad input becomes `message`."""
    out = ArithmeticResult()
    for b in bins:
        for m in b.members:
            if m not in cached and m not in out.thumbs:
                frame = renderer.render(g, result_recipe(base, m))
                out.thumbs[m] = frame.image if frame.ok else None
    recipes, slots = [], []
    for i, b in enumerate(bins):
        out.means.append(None)
        if b.members:
            try:
                recipes.append(result_recipe(base, latent_in(g, b.mean(g, space), space)))
                slots.append(i)
            except StudioError as exc:
                out.message = out.message or str(exc)
    try:
        out.vector = expr.evaluate(g, bins, space)
        out.latents = neighbourhood(g, out.vector, space, scale, seed)
        recipes += [result_recipe(base, lat) for lat in out.latents]
    except StudioError as exc:
        out.message = out.message or str(exc)
    if recipes:
        images = renderer.render_batch(g, recipes)
        for i, img in zip(slots, images):
            out.means[i] = img
        if out.latents:
            out.grid = images[len(slots):]
    return out


def arithmetic_job(*args: Any) -> Iterator[float]:
    yield 0.0
    return compute(*args)


def unique_name(names: list[str], stem: str) -> str:
    if stem not in names:
        return stem
    n = 2
    while f"{stem} {n}" in names:
        n += 1
    return f"{stem} {n}"


class BinWidget(QFrame):
    """One bin: its name, weight, members (right-click one to remove it) and mean image."""

    def __init__(self, panel: "ArithmeticPanel", index: int, weight: float):
        super().__init__()
        self.panel = panel
        self.index = index
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name = QLineEdit()
        self.name.setToolTip("The bin's name (Enter to rename)")
        self.weight = QDoubleSpinBox()
        self.weight.setRange(-9.0, 9.0)
        self.weight.setSingleStep(1.0)
        self.weight.setDecimals(2)
        self.weight.setPrefix("× ")
        self.weight.setValue(weight)
        self.weight.setToolTip("This bin's weight in the sum: +1 adds its mean, -1 subtracts it, "
                               "0 leaves it out")
        self.add = QToolButton()
        self.add.setText("+")
        self.add.setToolTip("Add images to this bin")
        self.add.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add)
        menu.addAction("Current image", lambda: panel.add_current(self.index))
        menu.addAction("Seeds…", lambda: panel.ask_seeds(self.index))
        self.add.setMenu(menu)
        self.remove = QToolButton()
        theme.set_icon(self.remove, "close")
        self.remove.setAutoRaise(True)
        self.remove.setToolTip("Remove this bin")
        self.members = QHBoxLayout()
        self.members.setSpacing(2)
        self.mean = QLabel()
        self.mean.setFixedSize(MEAN_THUMB, MEAN_THUMB)
        self.mean.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mean.setToolTip("The mean of this bin's latents")
        self.mean_pix: QPixmap | None = None

        top = QHBoxLayout()
        top.addWidget(self.name, 1)
        top.addWidget(self.weight)
        top.addWidget(self.add)
        top.addWidget(self.remove)
        strip = QWidget()
        strip.setLayout(self.members)
        self.members.setContentsMargins(0, 0, 0, 0)
        scroll = scroll_area(strip, vertical=False)
        scroll.setFixedHeight(MEAN_THUMB + 4)
        body = QHBoxLayout()
        body.addWidget(scroll, 1)
        eq = QLabel("→")
        eq.setToolTip("mean")
        body.addWidget(eq)
        body.addWidget(self.mean)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 6, 6, 6)
        col.setSpacing(4)
        col.addLayout(top)
        col.addLayout(body)

        self.name.editingFinished.connect(lambda: panel.rename_bin(self.index, self.name.text()))
        self.weight.valueChanged.connect(lambda _v: panel.refresh())
        self.remove.clicked.connect(lambda: panel.remove_bin(self.index))

    def show_bin(self, b: ConceptBin, thumbs: dict[Any, QPixmap | None], mean: Any = "keep") -> None:
        """Show the bin's members; `mean` replaces the mean image (kept while a new one renders)."""
        if not self.name.hasFocus():
            self.name.setText(b.name)
        while self.members.count():
            w = self.members.takeAt(0).widget()
            if w is not None:
                w.setParent(None)
                w.deleteLater()
        if not b.members:
            self.members.addWidget(QLabel("empty: + adds images, or right-click a seed", objectName="muted"))
        for i, m in enumerate(b.members):
            t = QToolButton()
            t.setIconSize(QSize(MEMBER_THUMB, MEMBER_THUMB))
            t.setFixedSize(MEMBER_THUMB + 4, MEMBER_THUMB + 4)
            t.setAutoRaise(True)
            pix = thumbs.get(m)
            if pix is not None:
                t.setIcon(pix)
            t.setToolTip(_describe(m) + "\nClick: show it; right-click: remove it from the bin")
            t.clicked.connect(lambda _=False, m=m: self.panel.use_latent(m, "Bin member"))
            t.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            t.customContextMenuRequested.connect(lambda _p, i=i: self.panel.remove_member(self.index, i))
            self.members.addWidget(t)
        self.members.addStretch(1)
        if mean != "keep":
            self.mean_pix = mean
        if self.mean_pix is not None:
            self.mean.setPixmap(self.mean_pix)
        else:
            self.mean.setText("–")


def _describe(m: Any) -> str:
    if isinstance(m, SeedLatent):
        return f"seed {m.seed}"
    return f"{m.kind} latent ({len(m.values)} values)"


class ArithmeticPanel(QWidget):
    """Named bins, a weighted sum of their means, the result with its 3x3 neighbourhood."""

    resultReady = Signal()  # a render job's images are shown (tests wait on this)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.bins: list[ConceptBin] = []
        self.saved: list[NamedLatent] = []
        self.result: ArithmeticResult | None = None
        self._pix: dict[Any, QPixmap | None] = {}  # member -> thumbnail, for the open model
        self._busy = False
        self._dirty = False
        self.bin_widgets: list[BinWidget] = []

        self.space = QComboBox()
        self.space.addItem("Z (average z, as the paper)", "z")
        self.space.addItem("W (average mapped w)", "w")
        self.space.setToolTip("Where means are taken: z, or for models with a mapping network its W space")
        self.rescale = QCheckBox("Rescale z to the prior's norm")
        self.rescale.setToolTip("Set the result's length to a typical sample's: means of many latents are "
                                "short, and short z draw the average face")
        self.bin_box = QVBoxLayout()
        self.bin_box.setSpacing(6)
        self.new_bin = QPushButton("New bin")
        self.message = QLabel("")
        self.message.setObjectName("muted")
        self.message.setWordWrap(True)
        self.cells: list[QToolButton] = []
        grid = QGridLayout()
        grid.setSpacing(3)
        for i in range(9):
            b = QToolButton()
            b.setIconSize(QSize(CELL, CELL))
            b.setFixedSize(CELL + 6, CELL + 6)
            b.setToolTip("The result" if i == 4 else "The result plus noise (click to use this one)")
            b.clicked.connect(lambda _=False, i=i: self.use_cell(i))
            grid.addWidget(b, i // 3, i % 3)
            self.cells.append(b)
        self.cells[4].setObjectName("thumb")
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.0, 2.0)
        self.noise.setSingleStep(0.05)
        self.noise.setValue(0.25)
        self.noise.setToolTip("Noise added to the neighbours, in standard deviations of the latent space")
        self.noise_seed = QSpinBox()
        self.noise_seed.setRange(0, 2**31 - 1)
        self.noise_seed.setToolTip("The seed of the neighbours' noise")
        self.use = QPushButton("Use as current")
        self.save_latent = QPushButton("Save latent")
        self.dir_from = QComboBox()
        self.dir_to = QComboBox()
        self.save_direction = QPushButton("Save as direction")
        self.save_direction.setToolTip("The unit direction from one bin's mean to another's, into your "
                                       "direction library")
        self.saved_list = QListWidget()
        self.saved_list.setToolTip("Saved latents (kept in the project); double-click to use one")
        self.saved_list.setMaximumHeight(90)

        head = QHBoxLayout()
        head.addWidget(QLabel("Space"))
        head.addWidget(self.space, 1)
        noise_row = QHBoxLayout()
        noise_row.addWidget(QLabel("Neighbours: noise"))
        noise_row.addWidget(self.noise)
        noise_row.addWidget(QLabel("seed"))
        noise_row.addWidget(self.noise_seed)
        noise_row.addStretch(1)
        buttons = QHBoxLayout()
        for b in (self.use, self.save_latent):
            buttons.addWidget(b)
        buttons.addStretch(1)
        dir_row = QHBoxLayout()
        dir_row.addWidget(QLabel("from"))
        dir_row.addWidget(self.dir_from, 1)
        dir_row.addWidget(QLabel("to"))
        dir_row.addWidget(self.dir_to, 1)
        dir_row.addWidget(self.save_direction)
        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(10, 10, 10, 10)
        col.setSpacing(8)
        col.addLayout(head)
        col.addWidget(self.rescale)
        col.addLayout(self.bin_box)
        col.addWidget(self.new_bin, 0, Qt.AlignmentFlag.AlignLeft)
        col.addWidget(self.message)
        centred = QHBoxLayout()
        centred.addStretch(1)
        centred.addLayout(grid)
        centred.addStretch(1)
        col.addLayout(centred)
        col.addLayout(noise_row)
        col.addLayout(buttons)
        col.addLayout(dir_row)
        col.addWidget(QLabel("Saved latents"))
        col.addWidget(self.saved_list)
        col.addStretch(1)
        scroll = scroll_area(content, horizontal=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        self.space.currentIndexChanged.connect(lambda _i: self._on_space())
        self.rescale.toggled.connect(lambda _b: self.refresh())
        self.noise.valueChanged.connect(lambda _v: self.refresh())
        self.noise_seed.valueChanged.connect(lambda _v: self.refresh())
        self.new_bin.clicked.connect(lambda: self.add_bin())
        self.use.clicked.connect(self.use_result)
        self.save_latent.clicked.connect(lambda: self.save_result())
        self.save_direction.clicked.connect(lambda: self.save_as_direction())
        self.saved_list.itemDoubleClicked.connect(
            lambda item: self.use_latent(self.saved[self.saved_list.row(item)].latent, "Saved latent"))
        session.modelChanged.connect(self.on_model)
        self.set_state([ConceptBin(n) for n, _ in DEFAULT_BINS], [])
        self.setEnabled(session.generator is not None)

    # -- state -------------------------------------------------------------------------------------------
    def set_state(self, bins: list[ConceptBin] | tuple[ConceptBin, ...],
                  saved: list[NamedLatent] | tuple[NamedLatent, ...],
                  weights: list[float] | None = None) -> None:
        """Show these bins and saved latents (a restored project); weights default to +1, -1, +1, ..."""
        self.bins = list(bins)
        self.saved = list(saved)
        for w in self.bin_widgets:
            w.name.blockSignals(True)  # losing focus as it goes must not rename a bin
            w.setParent(None)
            w.deleteLater()
        self.bin_widgets = []
        for i in range(len(self.bins)):
            self._add_widget(weights[i] if weights else (1.0 if i % 2 == 0 else -1.0))
        self._show_saved()
        self.refresh()

    def restore(self, bins: tuple[ConceptBin, ...], saved: tuple[NamedLatent, ...]) -> None:
        """A project's bins and saved latents; a project without bins keeps the empty A, B, C."""
        weights = [b.weight for b in bins]
        self.set_state(bins or [ConceptBin(n) for n, _ in DEFAULT_BINS], saved,
                       [float(w) for w in weights] if bins and all(w is not None for w in weights) else None)

    def project_bins(self) -> tuple[ConceptBin, ...]:
        """The bins as a project keeps them: members and each bin's weight."""
        return tuple(replace(b, weight=w) for b, w in zip(self.bins, self.weights()))

    def _add_widget(self, weight: float) -> None:
        w = BinWidget(self, len(self.bin_widgets), weight)
        self.bin_box.addWidget(w)
        self.bin_widgets.append(w)

    def weights(self) -> list[float]:
        return [w.weight.value() for w in self.bin_widgets]

    def expression(self) -> Expression:
        return Expression(tuple((b.name, wt) for b, wt in zip(self.bins, self.weights())),
                          rescale=self.rescale.isChecked())

    def current_space(self) -> str:
        return str(self.space.currentData())

    def _say(self, text: str) -> None:
        self.message.setText(text)

    # -- bins --------------------------------------------------------------------------------------------
    def add_bin(self, name: str = "", weight: float = 1.0) -> None:
        self.bins.append(ConceptBin(unique_name([b.name for b in self.bins], name or "Bin")))
        self._add_widget(weight)
        self.refresh()

    def remove_bin(self, index: int) -> None:
        del self.bins[index]
        weights = self.weights()
        del weights[index]
        self.set_state(self.bins, self.saved, weights)

    def rename_bin(self, index: int, name: str) -> None:
        name = name.strip()
        if index >= len(self.bins) or name == self.bins[index].name:
            return
        others = [b.name for i, b in enumerate(self.bins) if i != index]
        if not name or name in others:
            self._say("A bin needs a name of its own." if not name
                      else f"There is already a bin named {name!r}.")
            self.bin_widgets[index].name.setText(self.bins[index].name)
            return
        self.bins[index] = self.bins[index].renamed(name)
        self.refresh()

    def add_members(self, index: int, members: list[Any]) -> None:
        b = self.bins[index]
        for m in members:
            b = b.with_member(m)
        self.bins[index] = b
        self.refresh()

    def remove_member(self, index: int, member: int) -> None:
        self.bins[index] = self.bins[index].without_member(member)
        self.refresh()

    def add_current(self, index: int) -> None:
        s = self.session
        if s.generator is None or s.recipe is None:
            self._say("Open a model first.")
            return
        try:
            self.add_members(index, [member_from_recipe(s.generator, s.recipe)])
        except StudioError as exc:
            self._say(f"Cannot add this image: {exc}")

    def add_seeds(self, index: int, text: str) -> bool:
        from studio.cli.render import parse_seeds

        try:
            seeds = parse_seeds(text)
        except argparse.ArgumentTypeError as exc:
            self._say(str(exc))
            return False
        self.add_members(index, [SeedLatent(s) for s in seeds])
        return True

    def ask_seeds(self, index: int) -> None:
        text, ok = QInputDialog.getText(self, "Add seeds", f"Seeds to add to {self.bins[index].name!r} "
                                        "(e.g. 3, 8, 20-22):")
        if ok and text.strip():
            self.add_seeds(index, text)

    def fill_seed_menu(self, menu: QMenu, seed: int) -> None:
        """The seed grid's context menu: 'Add seed N to bin' with one entry per bin."""
        sub = menu.addMenu(f"Add seed {seed} to bin")
        for i, b in enumerate(self.bins):
            sub.addAction(b.name, lambda i=i: self.add_members(i, [SeedLatent(seed)]))
        sub.setEnabled(bool(self.bins) and self.session.generator is not None)

    # -- model ---------------------------------------------------------------------------------------
    def on_model(self, g: Generator) -> None:
        self.setEnabled("walk" in g.info.capabilities)
        self._pix.clear()
        w_ok = has_w(g)
        self.space.model().item(1).setEnabled(w_ok)  # type: ignore[attr-defined]
        self.space.blockSignals(True)
        self.space.setCurrentIndex(0 if default_space(g) == "z" else 1)
        self.space.blockSignals(False)
        self._on_space()

    def _on_space(self) -> None:
        self.rescale.setEnabled(self.current_space() == "z")
        self.refresh()

    # -- rendering -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-render members, means and the 3x3 on the worker; one job at a time, the latest state wins."""
        self._sync_direction_boxes()
        s = self.session
        for w, b in zip(self.bin_widgets, self.bins):
            w.show_bin(b, self._pix)
        if s.generator is None or s.recipe is None or "walk" not in s.generator.info.capabilities:
            return
        if self._busy:
            self._dirty = True
            return
        self._busy, self._dirty = True, False
        bins, expr, space = list(self.bins), self.expression(), self.current_space()
        g = s.generator
        cached = set(self._pix)
        s.run_job(arithmetic_job(s.renderer, g, s.recipe, bins, expr, space, self.noise.value(),
                                 self.noise_seed.value(), cached),
                  on_done=lambda r: self._on_done(bins, r), on_error=self._on_error)

    def _on_done(self, bins: list[ConceptBin], r: ArithmeticResult) -> None:
        self._busy = False
        if self._dirty or bins != self.bins:
            self.refresh()
            return
        for m, img in r.thumbs.items():
            self._pix[m] = thumbnail(img, MEMBER_THUMB) if img is not None else None
        self.result = r
        for w, b, mean in zip(self.bin_widgets, self.bins, r.means):
            w.show_bin(b, self._pix, thumbnail(mean, MEAN_THUMB) if mean is not None else None)
        for i, c in enumerate(self.cells):
            c.setIcon(thumbnail(r.grid[i], CELL) if r.grid is not None else QPixmap())
            c.setEnabled(r.grid is not None)
        ok = r.grid is not None
        for b in (self.use, self.save_latent):
            b.setEnabled(ok)
        self._say(r.message or ("Result: the weighted sum of the bins' means (centre), with neighbours "
                                "around it." if ok else ""))
        self.resultReady.emit()

    def _on_error(self, msg: str) -> None:
        self._busy = False
        if msg != "cancelled":
            self._say(f"Could not render the result: {msg}")

    # -- using results --------------------------------------------------------------------------------
    def use_latent(self, latent: Any, text: str) -> None:
        if self.session.recipe is not None:
            self.session.edit(result_recipe(self.session.recipe, latent), text)
            self.session.end_gesture()

    def use_cell(self, i: int) -> None:
        if self.result is not None and self.result.latents:
            self.use_latent(self.result.latents[i], "Arithmetic result" if i == 4 else "Arithmetic neighbour")

    def use_result(self) -> None:
        self.use_cell(4)

    def save_result(self, name: str | None = None) -> bool:
        if self.result is None or not self.result.latents:
            self._say("There is no result to save yet.")
            return False
        if name is None:
            default = " ".join(f"{'+' if w > 0 else '-'} {b.name}" for b, w in zip(self.bins, self.weights())
                               if w != 0).lstrip("+ ")
            name, ok = QInputDialog.getText(self, "Save latent", "Name:", text=default)
            if not ok:
                return False
        name = name.strip()
        if not name:
            self._say("A saved latent needs a name.")
            return False
        self.saved.append(NamedLatent(name, self.result.latents[4]))
        self._show_saved()
        self.session.message.emit(f"Saved latent {name!r} (kept in the project)")
        return True

    def _show_saved(self) -> None:
        self.saved_list.clear()
        for n in self.saved:
            QListWidgetItem(f"{n.name}  ({n.latent.kind})", self.saved_list)

    def _sync_direction_boxes(self) -> None:
        names = [b.name for b in self.bins]
        for box, default in ((self.dir_from, 1), (self.dir_to, 0)):
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentIndex(names.index(current) if current in names else min(default, len(names) - 1))
            box.blockSignals(False)

    def direction(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The unit direction between the chosen bins (from -> to) and its metadata."""
        g = self.session.generator
        if g is None:
            raise StudioError("open a model first")
        a, b = self.dir_to.currentIndex(), self.dir_from.currentIndex()
        if a < 0 or b < 0 or a == b:
            raise StudioError("choose two different bins for a direction")
        return concept_direction(g, self.bins[a], self.bins[b], self.current_space())

    def save_as_direction(self, library: Any = None,
                          ask: Callable[[str], str | None] | None = None) -> Any:
        """Into the direction library (its default folder unless `library` is given); None on failure."""
        from studio.core.direction_library import DirectionLibrary, SavedDirection, now_iso

        try:
            vector, meta = self.direction()
        except StudioError as exc:
            self._say(f"No direction: {exc}")
            return None
        name = ask(meta["name"]) if ask is not None else self._ask_name(meta["name"])
        if not name:
            return None
        model = self.session.model_path.name if self.session.model_path else ""
        d = SavedDirection(vectors=vector[None], created=now_iso(), model_name=model,
                           **{**meta, "name": name})
        try:
            path = (library or DirectionLibrary()).add(d)
        except (OSError, StudioError) as exc:
            self._say(f"Could not save the direction: {exc}")
            return None
        self.session.message.emit(f"Saved direction {name!r} to {path}")
        return path

    def _ask_name(self, default: str) -> str | None:
        name, ok = QInputDialog.getText(self, "Save as direction", "Name:", text=default)
        return name.strip() if ok and name.strip() else None
