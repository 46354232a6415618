"""The vector arithmetic panel (DCGAN paper, section 6.3): concept bins, a weighted sum, a 3x3 around it.

A view of the workspace: the bins (members and weights) are `ws.bins`, saved results `ws.latents`, and the
space, rescale and neighbour-noise controls are panel settings, so each change is one undo step, is saved
with the project and stays with its model. Bins fill from the current image, typed seeds or the seed grid's
context menu. Member thumbnails and the preview (each bin's mean, the result and its neighbourhood) render
on the worker a stage per step, newest preview wins; thumbnails are cached per model, so a bin is never
drawn by another model than its own.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Generator as PyGen, Iterator, Sequence

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFrame, QGridLayout, QHBoxLayout,
                               QInputDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu,
                               QPushButton, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from studio.core.arithmetic import (SPACES, ConceptBin, Expression, NamedLatent, concept_direction, latent_in,
                                    neighbourhood, result_recipe)
from studio.core.recipe import Recipe, SeedLatent
from studio.core.workspace import Workspace, default_bins
from studio.errors import StudioError
from studio.model.api import Generator
from studio.model.spaces import default_space, member_from_recipe, model_space
from studio.render.engine import Renderer
from studio.render.worker import JobHandle
from studio.ui.scrolling import scroll_area
from studio.ui import theme
from studio.ui.images import placeholder, thumbnail
from studio.ui.session import Session

MEMBER_THUMB = 44
MEAN_THUMB = 56
CELL = 64
SPACE_KEY = "arithmetic.space"        # panel settings in the workspace: saved, undoable, per model
RESCALE_KEY = "arithmetic.rescale"
NOISE_KEY = "arithmetic.noise"
NOISE_SEED_KEY = "arithmetic.noise_seed"
DEFAULT_NOISE = 0.25
PREVIEW_JOB = "arithmetic.preview"    # job keys: a newer job of a kind cancels the older at its next step
THUMBS_JOB = "arithmetic.thumbs"
CHUNK = 16                            # recipes per batch: a stage of one batch is one job step
THUMB_CACHE = 512                     # member thumbnails kept, over all models
_NO_BINS = default_bins()             # shown (disabled) before a model opens


def bin_weight(b: ConceptBin, index: int) -> float:
    """A bin's weight in the sum; a bin of an old project without one alternates +1, -1, +1, ..."""
    return float(b.weight) if b.weight is not None else (1.0 if index % 2 == 0 else -1.0)


@dataclass(frozen=True)
class Settings:
    """The panel's settings as the workspace holds them (defaults filled in for the open model)."""

    space: str = "z"
    rescale: bool = False
    noise: float = DEFAULT_NOISE
    noise_seed: int = 0


def settings_of(ws: Workspace | None, g: Generator | None) -> Settings:
    if ws is None or g is None:
        return Settings()
    space = ws.panel(SPACE_KEY)
    if space not in SPACES or (space == "w" and not g.has_w):
        space = default_space(g)
    return Settings(str(space), bool(ws.panel(RESCALE_KEY, False)), float(ws.panel(NOISE_KEY, DEFAULT_NOISE)),
                    int(ws.panel(NOISE_SEED_KEY, 0)))


@dataclass
class ArithmeticResult:
    """What one preview job found: bin means (by bin), the 3x3 and any message."""

    means: list[np.ndarray | None] = field(default_factory=list)
    grid: np.ndarray | None = None
    latents: list[Any] = field(default_factory=list)  # the 3x3's latents; the centre one is the result
    vector: np.ndarray | None = None
    message: str = ""


# -- jobs: generators the worker steps between interactive frames -------------------------------------------
Images = list["np.ndarray | None"]


def render_chunk(renderer: Renderer, g: Generator, recipes: Sequence[Recipe]) -> PyGen[None, None, Images]:
    """One batch a stage per step; a recipe this model cannot render (a latent of another size) becomes None
    on its own instead of failing the batch."""
    try:
        for images in renderer.iter_batch(g, recipes):
            if images is None:
                yield None
            else:
                return list(images)
        return [None] * len(recipes)  # a generator without stages: nothing to show
    except StudioError:
        if len(recipes) == 1:
            return [None]
    out: Images = []
    for r in recipes:
        out += yield from render_chunk(renderer, g, [r])
    return out


def render_all(renderer: Renderer, g: Generator, recipes: Sequence[Recipe]) -> PyGen[None, None, Images]:
    out: Images = []
    for i in range(0, len(recipes), CHUNK):
        out += yield from render_chunk(renderer, g, recipes[i:i + CHUNK])
    return out


def thumbs_job(renderer: Renderer, g: Generator, base: Recipe,
               members: Sequence[Any]) -> Iterator[list[tuple[Any, np.ndarray | None]] | None]:
    """Member thumbnails, a stage per step; each chunk's images are yielded as soon as they exist, so a newer
    job that replaces this one loses none of them."""
    yield None
    for i in range(0, len(members), CHUNK):
        part = list(members[i:i + CHUNK])
        images = yield from render_chunk(renderer, g, [result_recipe(base, m) for m in part])
        yield list(zip(part, images))


def preview_job(renderer: Renderer, g: Generator, base: Recipe, bins: Sequence[ConceptBin], expr: Expression,
                space: str, scale: float, seed: int) -> PyGen[None, None, ArithmeticResult]:
    """Each bin's mean, the sum and its 3x3: a step per bin mean, then the images a stage per step. Bad input
    becomes `message`, never an exception."""
    out = ArithmeticResult(means=[None] * len(bins))
    yield None
    recipes, slots = [], []
    for i, b in enumerate(bins):
        if b.members:
            try:
                recipes.append(result_recipe(base, latent_in(b.mean(model_space(g, space)), space)))
                slots.append(i)
            except StudioError as exc:
                out.message = out.message or str(exc)
            yield None
    try:
        latents = model_space(g, space)
        out.vector = expr.evaluate(bins, latents)
        out.latents = neighbourhood(out.vector, latents, scale, seed)
        recipes += [result_recipe(base, lat) for lat in out.latents]
    except StudioError as exc:
        out.message = out.message or str(exc)
    yield None
    images = yield from render_all(renderer, g, recipes)
    for i, img in zip(slots, images):
        out.means[i] = img
    grid = images[len(slots):]
    if out.latents:
        if all(img is not None for img in grid):
            out.grid = np.stack(grid)  # type: ignore[arg-type]
        else:
            out.message = out.message or "the result could not be rendered with this model"
    return out


def unique_name(names: Sequence[str], stem: str) -> str:
    if stem not in names:
        return stem
    n = 2
    while f"{stem} {n}" in names:
        n += 1
    return f"{stem} {n}"


class BinWidget(QFrame):
    """One bin: its name, weight, members (right-click one to remove it) and mean image."""

    def __init__(self, panel: "ArithmeticPanel", index: int):
        super().__init__()
        self.panel = panel
        self.index = index
        self.shown: ConceptBin | None = None  # the bin the widgets show (members compared by identity)
        self.member_buttons: list[QToolButton] = []
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name = QLineEdit()
        self.name.setToolTip("The bin's name (Enter to rename)")
        self.weight = QDoubleSpinBox()
        self.weight.setRange(-9.0, 9.0)
        self.weight.setSingleStep(1.0)
        self.weight.setDecimals(2)
        self.weight.setPrefix("× ")
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
        self.mean.setText("–")

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
        self.weight.valueChanged.connect(lambda v: panel.set_weight(self.index, v))
        self.weight.editingFinished.connect(panel.session.end_gesture)  # typing / arrow clicks: one step
        self.remove.clicked.connect(lambda: panel.remove_bin(self.index))

    def show_bin(self, b: ConceptBin, weight: float, pix: Callable[[Any], QPixmap | None]) -> None:
        """Show `b`, touching only what differs from the bin shown before (a drag keeps its spin box)."""
        old, self.shown = self.shown, b
        if old is None or b.name != old.name or self.name.text() != b.name and not self.name.hasFocus():
            self.name.setText(b.name)
        if self.weight.value() != weight:
            self.weight.blockSignals(True)
            self.weight.setValue(weight)
            self.weight.blockSignals(False)
        if old is not None and b.members is old.members:
            return
        while self.members.count():
            w = self.members.takeAt(0).widget()
            if w is not None:
                w.setParent(None)
                w.deleteLater()
        self.member_buttons = []
        if not b.members:
            self.members.addWidget(QLabel("empty: + adds images, or right-click a seed", objectName="muted"))
        for i, m in enumerate(b.members):
            t = QToolButton()
            t.setIconSize(QSize(MEMBER_THUMB, MEMBER_THUMB))
            t.setFixedSize(MEMBER_THUMB + 4, MEMBER_THUMB + 4)
            t.setAutoRaise(True)
            t.setToolTip(_describe(m) + "\nClick: show it; right-click: remove it from the bin")
            t.clicked.connect(lambda _=False, m=m: self.panel.use_latent(m, "Bin member"))
            t.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            t.customContextMenuRequested.connect(lambda _p, i=i: self.panel.remove_member(self.index, i))
            self.members.addWidget(t)
            self.member_buttons.append(t)
        self.members.addStretch(1)
        self.show_icons(pix)

    def show_icons(self, pix: Callable[[Any], QPixmap | None]) -> None:
        if self.shown is None:
            return
        for t, m in zip(self.member_buttons, self.shown.members):
            p = pix(m)
            t.setIcon(p if p is not None else placeholder(MEMBER_THUMB))  # rendering: a placeholder, not a gap

    def show_mean(self, pix: QPixmap | None) -> None:
        if pix is not None:
            self.mean.setPixmap(pix)
        else:
            self.mean.clear()
            self.mean.setText("–")

    def show_pending(self) -> None:
        """The mean is being rendered: a placeholder where it will appear (an empty bin keeps its dash)."""
        if self.shown is not None and self.shown.members and self.mean.pixmap().isNull():
            self.mean.setPixmap(placeholder(MEAN_THUMB))


def _describe(m: Any) -> str:
    if isinstance(m, SeedLatent):
        return f"seed {m.seed}"
    return f"{m.kind} latent ({len(m.values)} values)"


class ArithmeticPanel(QWidget):
    """Named bins, a weighted sum of their means, the result with its 3x3 neighbourhood."""

    resultReady = Signal()  # a preview job's images are shown (tests wait on this)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.result: ArithmeticResult | None = None
        self.bin_widgets: list[BinWidget] = []
        self._pix: dict[tuple[str, Any], QPixmap | None] = {}  # (model key, member) -> thumbnail
        self._thumb_job: JobHandle | None = None
        self._thumb_token = 0
        self._thumb_asked: set[tuple[str, Any]] = set()  # what the running thumbnail job renders
        self._preview: JobHandle | None = None
        self._preview_token = 0  # bumps per preview asked for: only the newest one's result is shown
        self._shown_bins: tuple[ConceptBin, ...] | None = None  # what the widgets show (by identity)
        self._shown_latents: tuple[NamedLatent, ...] | None = None
        self._shown_settings: Settings | None = None

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
        self.noise.setValue(DEFAULT_NOISE)
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
        self.saved_list.setToolTip("Saved latents (kept in the project); double-click to use one, "
                                   "right-click to remove it")
        self.saved_list.setMaximumHeight(90)
        self.saved_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

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

        self.space.activated.connect(lambda i: self._set_setting(SPACE_KEY, str(self.space.itemData(i)),
                                                                 "Arithmetic space"))
        self.rescale.toggled.connect(lambda on: self._set_setting(RESCALE_KEY, bool(on),
                                                                  "Rescale on" if on else "Rescale off"))
        self.noise.valueChanged.connect(lambda v: self._set_setting(NOISE_KEY, float(v), "Neighbour noise",
                                                                    NOISE_KEY))
        self.noise_seed.valueChanged.connect(
            lambda v: self._set_setting(NOISE_SEED_KEY, int(v), "Neighbour noise seed", NOISE_SEED_KEY))
        for box in (self.noise, self.noise_seed):
            box.editingFinished.connect(session.end_gesture)
        self.new_bin.clicked.connect(lambda: self.add_bin())
        self.use.clicked.connect(self.use_result)
        self.save_latent.clicked.connect(lambda: self.save_result())
        self.save_direction.clicked.connect(lambda: self.save_as_direction())
        self.saved_list.itemDoubleClicked.connect(
            lambda item: self.use_latent(self.saved[self.saved_list.row(item)].latent, "Saved latent"))
        self.saved_list.customContextMenuRequested.connect(self._saved_menu)
        session.modelChanged.connect(self.on_model)
        session.workspaceChanged.connect(self._on_workspace)
        self._show_result(None)
        if session.workspace is not None:
            self.on_model(session.generator)  # type: ignore[arg-type]
            self._on_workspace(session.workspace)
        else:
            self._show_bins(_NO_BINS)
            self._show_saved(())
            self._show_settings(Settings())
            self.setEnabled(False)

    # -- the workspace -------------------------------------------------------------------------------
    @property
    def bins(self) -> tuple[ConceptBin, ...]:
        """The open model's bins (the default, empty A, B, C before a model opens)."""
        ws = self.session.workspace
        return ws.bins if ws is not None else _NO_BINS

    @property
    def saved(self) -> tuple[NamedLatent, ...]:
        ws = self.session.workspace
        return ws.latents if ws is not None else ()

    @property
    def settings(self) -> Settings:
        return settings_of(self.session.workspace, self.session.generator)

    def weights(self) -> list[float]:
        return [bin_weight(b, i) for i, b in enumerate(self.bins)]

    def expression(self) -> Expression:
        return Expression(tuple((b.name, w) for b, w in zip(self.bins, self.weights())),
                          rescale=self.settings.rescale)

    def current_space(self) -> str:
        return self.settings.space

    def set_bins(self, bins: Sequence[ConceptBin], text: str, merge_key: str | None = None) -> bool:
        """Make `bins` the workspace's as one undo step (steps with one merge_key merge per gesture)."""
        bins = tuple(bins)
        return bins != self.bins and self.session.update(text, merge_key, bins=bins)

    def _set_setting(self, key: str, value: Any, text: str, merge_key: str | None = None) -> None:
        ws = self.session.workspace
        if ws is not None and ws.panel(key) != value:
            self.session.commit(ws.with_panel(key, value), text, merge_key)

    def _on_workspace(self, ws: Workspace) -> None:
        """Show what changed: a recipe-only edit rebuilds nothing and renders nothing here."""
        changed = False
        if ws.bins is not self._shown_bins:
            self._show_bins(ws.bins)
            changed = True
        if ws.latents is not self._shown_latents:
            self._show_saved(ws.latents)
        settings = settings_of(ws, self.session.generator)
        if settings != self._shown_settings:
            self._show_settings(settings)
            changed = True
        if changed:
            self.refresh()

    def _show_bins(self, bins: tuple[ConceptBin, ...]) -> None:
        fresh = self._shown_bins is None or len(bins) != len(self.bin_widgets)
        self._shown_bins = bins
        if fresh:
            for w in self.bin_widgets:
                w.name.blockSignals(True)  # losing focus as it goes must not rename a bin
                w.weight.blockSignals(True)
                w.setParent(None)
                w.deleteLater()
            self.bin_widgets = []
            for i in range(len(bins)):
                w = BinWidget(self, i)
                self.bin_box.addWidget(w)
                self.bin_widgets.append(w)
        for i, (w, b) in enumerate(zip(self.bin_widgets, bins)):
            w.show_bin(b, bin_weight(b, i), self._thumb)
        self._sync_direction_boxes()

    def _show_settings(self, st: Settings) -> None:
        self._shown_settings = st
        for w in (self.space, self.rescale, self.noise, self.noise_seed):
            w.blockSignals(True)
        self.space.setCurrentIndex(max(0, self.space.findData(st.space)))
        self.rescale.setChecked(st.rescale)
        self.rescale.setEnabled(st.space == "z")
        if self.noise.value() != st.noise:
            self.noise.setValue(st.noise)
        if self.noise_seed.value() != st.noise_seed:
            self.noise_seed.setValue(st.noise_seed)
        for w in (self.space, self.rescale, self.noise, self.noise_seed):
            w.blockSignals(False)

    def _show_saved(self, latents: tuple[NamedLatent, ...]) -> None:
        self._shown_latents = latents
        self.saved_list.clear()
        for n in latents:
            QListWidgetItem(f"{n.name}  ({n.latent.kind})", self.saved_list)

    def _say(self, text: str) -> None:
        self.message.setText(text)

    # -- bins: each change one undo step ---------------------------------------------------------------
    def add_bin(self, name: str = "", weight: float = 1.0) -> None:
        b = ConceptBin(unique_name([b.name for b in self.bins], name.strip() or "Bin"), (), float(weight))
        self.set_bins(self.bins + (b,), f"Add bin {b.name!r}")

    def remove_bin(self, index: int) -> None:
        bins = self.bins
        if 0 <= index < len(bins):
            # the weights stay with their bins, whatever default an old project's bins had by position
            kept = [replace(b, weight=bin_weight(b, i)) for i, b in enumerate(bins) if i != index]
            self.set_bins(kept, f"Remove bin {bins[index].name!r}")

    def rename_bin(self, index: int, name: str) -> None:
        name = name.strip()
        bins = self.bins
        if index >= len(bins) or name == bins[index].name:
            return
        others = [b.name for i, b in enumerate(bins) if i != index]
        if not name or name in others:
            self._say("A bin needs a name of its own." if not name
                      else f"There is already a bin named {name!r}.")
            self.bin_widgets[index].name.setText(bins[index].name)
            return
        self.set_bins(bins[:index] + (bins[index].renamed(name),) + bins[index + 1:],
                      f"Rename bin {bins[index].name!r} to {name!r}")

    def set_weight(self, index: int, weight: float) -> None:
        """A weight change; a spin box's changes merge until its editing finishes."""
        bins = self.bins
        if 0 <= index < len(bins) and bin_weight(bins[index], index) != weight:
            b = replace(bins[index], weight=float(weight))
            self.set_bins(bins[:index] + (b,) + bins[index + 1:], f"Weight of {b.name!r}",
                          f"arithmetic.weight.{index}")

    def add_members(self, index: int, members: list[Any]) -> None:
        bins = self.bins
        if not members or not 0 <= index < len(bins):
            return
        b = bins[index]
        for m in members:
            b = b.with_member(m)
        what = _describe(members[0]) if len(members) == 1 else f"{len(members)} images"
        self.set_bins(bins[:index] + (b,) + bins[index + 1:], f"Add {what} to bin {b.name!r}")

    def remove_member(self, index: int, member: int) -> None:
        bins = self.bins
        if 0 <= index < len(bins) and 0 <= member < len(bins[index].members):
            b = bins[index]
            self.set_bins(bins[:index] + (b.without_member(member),) + bins[index + 1:],
                          f"Remove {_describe(b.members[member])} from bin {b.name!r}")

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
        """The seed grid's context menu: 'Add seed N to bin' with one entry per bin of the open model."""
        sub = menu.addMenu(f"Add seed {seed} to bin")
        for i, b in enumerate(self.bins):
            sub.addAction(b.name, lambda i=i: self.add_members(i, [SeedLatent(seed)]))
        sub.setEnabled(bool(self.bins) and self.session.generator is not None)

    # -- model ---------------------------------------------------------------------------------------
    def on_model(self, g: Generator) -> None:
        """Drop all shown for the previous model; the workspaceChanged that follows shows this one's."""
        self.setEnabled("walk" in g.info.capabilities)
        self.space.model().item(1).setEnabled(g.has_w)  # type: ignore[attr-defined]
        for handle in (self._preview, self._thumb_job):
            if handle is not None:
                handle.cancel()
        self._preview = self._thumb_job = None
        self._preview_token += 1
        self._thumb_token += 1
        self._thumb_asked = set()
        self._shown_bins = self._shown_latents = self._shown_settings = None
        self._show_result(None)
        self._say("")

    # -- rendering -----------------------------------------------------------------------------------
    def _model_key(self) -> str:
        g = self.session.generator
        return (g.model_id if g is not None else "") or str(self.session.model_path)

    def _thumb(self, member: Any) -> QPixmap | None:
        return self._pix.get((self._model_key(), member))

    def refresh(self) -> None:
        """Ask the worker for the member thumbnails not drawn yet and for a new preview (the newest wins)."""
        s = self.session
        g, ws = s.generator, s.workspace
        if g is None or ws is None or "walk" not in g.info.capabilities:
            return
        self._request_thumbs(g, ws)
        for w in self.bin_widgets:
            w.show_pending()
        if self.result is None or self.result.grid is None:  # nothing to show yet: placeholders, not blanks
            for c in self.cells:
                c.setIcon(placeholder(CELL))
        if self._preview is not None:
            self._preview.cancel()
        self._preview_token += 1
        token = self._preview_token
        st = settings_of(ws, g)
        terms = tuple((b.name, bin_weight(b, i)) for i, b in enumerate(ws.bins))
        expr = Expression(terms, rescale=st.rescale)
        self._preview = s.run_job(
            preview_job(s.renderer, g, ws.recipe, ws.bins, expr, st.space, st.noise, st.noise_seed),
            on_done=lambda r: self._on_done(token, r), on_error=lambda msg: self._on_error(token, msg),
            key=PREVIEW_JOB)

    def _request_thumbs(self, g: Generator, ws: Workspace) -> None:
        mk = self._model_key()
        missing = list(dict.fromkeys((mk, m) for b in ws.bins for m in b.members if (mk, m) not in self._pix))
        if not missing or set(missing) <= self._thumb_asked:
            return  # all drawn, or being drawn by the job running now
        if self._thumb_job is not None:
            self._thumb_job.cancel()
        self._thumb_token += 1
        token = self._thumb_token
        self._thumb_asked = set(missing)

        def finished(_value: Any = None) -> None:
            if token == self._thumb_token:
                self._thumb_asked = set()

        s = self.session
        self._thumb_job = s.run_job(thumbs_job(s.renderer, g, ws.recipe, [m for _, m in missing]),
                                    on_done=finished, on_error=finished,
                                    on_progress=lambda p: self._on_thumbs(mk, p), key=THUMBS_JOB)

    def _on_thumbs(self, mk: str, part: list[tuple[Any, np.ndarray | None]] | None) -> None:
        if not part:
            return
        for m, img in part:
            self._pix.pop((mk, m), None)
            self._pix[(mk, m)] = thumbnail(img, MEMBER_THUMB) if img is not None else None
        while len(self._pix) > THUMB_CACHE:
            del self._pix[next(iter(self._pix))]
        if mk == self._model_key():
            for w in self.bin_widgets:
                w.show_icons(self._thumb)

    def _on_done(self, token: int, r: ArithmeticResult) -> None:
        if token != self._preview_token:
            return  # a newer preview was asked for (or another model opened) meanwhile
        self._preview = None
        self._show_result(r)
        self._say(r.message or ("Result: the weighted sum of the bins' means (centre), with neighbours "
                                "around it." if r.grid is not None else ""))
        self.resultReady.emit()

    def _show_result(self, r: ArithmeticResult | None) -> None:
        self.result = r
        means = r.means if r is not None else []
        for i, w in enumerate(self.bin_widgets):
            mean = means[i] if i < len(means) else None
            w.show_mean(thumbnail(mean, MEAN_THUMB) if mean is not None else None)
        grid = r.grid if r is not None else None
        for i, c in enumerate(self.cells):
            c.setIcon(thumbnail(grid[i], CELL) if grid is not None else QPixmap())
            c.setEnabled(grid is not None)
        for b in (self.use, self.save_latent):
            b.setEnabled(grid is not None)

    def _on_error(self, token: int, msg: str) -> None:
        if token == self._preview_token:
            self._preview = None
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
        """The result into the workspace's saved latents (one undo step, kept in the project)."""
        if self.result is None or not self.result.latents or self.session.workspace is None:
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
        latent = NamedLatent(name, self.result.latents[4])
        self.session.update(f"Save latent {name!r}", latents=self.saved + (latent,))
        self.session.message.emit(f"Saved latent {name!r} (kept in the project)")
        return True

    def remove_saved(self, index: int) -> None:
        saved = self.saved
        if 0 <= index < len(saved):
            self.session.update(f"Remove saved latent {saved[index].name!r}",
                                latents=saved[:index] + saved[index + 1:])

    def _saved_menu(self, pos: QPoint) -> None:
        row = self.saved_list.row(self.saved_list.itemAt(pos)) if self.saved_list.itemAt(pos) else -1
        if row < 0:
            return
        menu = QMenu(self)
        menu.addAction("Use as current", lambda: self.use_latent(self.saved[row].latent, "Saved latent"))
        menu.addAction("Remove", lambda: self.remove_saved(row))
        menu.exec(self.saved_list.viewport().mapToGlobal(pos))

    def _sync_direction_boxes(self) -> None:
        names = [b.name for b in self._shown_bins or ()]
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
        return concept_direction(self.bins[a], self.bins[b], model_space(g, self.current_space()), g.model_id)

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
