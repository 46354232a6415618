"""The class of a class-conditional model, InfoGAN's codes, and BigGAN's per-layer class.

Everything is the recipe's `condition` (the whole condition vector, in the model's order) or a LayerClass
edit, so each pick is an undo step rendered at once and the timeline blends classes like any other value:
- class rows: one class, or a blend of two or more (each row's weight; the weights are normalised), picked
  from a list that is searchable by name where the model has names (BigGAN's 1,000 ImageNet labels);
- continuous codes (InfoGAN) as named sliders, each with a walk along it (the others fixed) on the timeline;
- for models whose layers read the class separately (BigGAN), another class for a range of layers.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QPushButton, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from studio.core.class_edits import class_weights, layer_class, with_layer_class
from studio.core.recipe import Recipe
from studio.core.timeline import Segment, Timeline
from studio.model.api import ConditionPart, Generator
from studio.ui.panels.latent_panel import SliderRow
from studio.ui.session import Session

WALK_FRAMES = 48  # a code or class walk's frames on the timeline (2 s at 24 fps)


def class_label(part: ConditionPart, k: int) -> str:
    """"207 · golden retriever" where the model names its classes, else "Class 207"."""
    return f"{k} · {part.names[k]}" if k < len(part.names) else f"Class {k}"


def matching_classes(part: ConditionPart, text: str) -> list[int]:
    """The classes whose label contains `text` (case-insensitive): what the picker's search offers."""
    t = text.strip().lower()
    return [k for k in range(part.size) if t in class_label(part, k).lower()]


def narrow(box: QComboBox) -> None:
    """Size a class list by 14 characters, not by its longest name (1,000 ImageNet names widen the dock)."""
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(14)


class ClassPicker(QComboBox):
    """A class list the user can type into: the completer offers every class whose label contains the text."""

    def __init__(self, part: ConditionPart, parent: QWidget | None = None):
        super().__init__(parent)
        self.part = part
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.addItems([class_label(part, k) for k in range(part.size)])
        completer = QCompleter(self.model(), self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.setCompleter(completer)
        self.setToolTip("Type to search the classes by name or number")
        narrow(self)
        self.lineEdit().setPlaceholderText("no class: pick or type one")


class ClassRow(QWidget):
    """One class of the blend and its weight."""

    def __init__(self, part: ConditionPart, removable: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.picker = ClassPicker(part)
        self.weight = QDoubleSpinBox()
        self.weight.setRange(0.0, 1.0)
        self.weight.setSingleStep(0.05)
        self.weight.setDecimals(2)
        self.weight.setValue(1.0)
        self.weight.setToolTip("This class's share of the blend (the shares are normalised)")
        self.remove = QToolButton()
        self.remove.setText("×")
        self.remove.setToolTip("Remove this class from the blend")
        keep = self.remove.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # the first row's weight lines up with the others'
        self.remove.setSizePolicy(keep)
        self.remove.setVisible(removable)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.picker, 1)
        row.addWidget(self.weight)
        row.addWidget(self.remove)


class ClassPanel(QWidget):
    """Class picker and blend, InfoGAN code sliders, per-layer class; shown for conditional models."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.parts: tuple[ConditionPart, ...] = ()
        self.rows: list[ClassRow] = []
        self.codes: list[SliderRow] = []
        self._syncing = False
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("hint")
        self.class_box = QGroupBox("Class")
        self.rows_layout = QVBoxLayout()
        self.rows_layout.setSpacing(4)
        self.add_button = QPushButton("Add a class to blend")
        self.add_button.setToolTip("Blend another class in (class interpolation)")
        self.add_button.clicked.connect(self.add_row)
        self.walk_button = QPushButton("Walk between these classes on the timeline")
        self.walk_button.setToolTip("Make the timeline go from the first class to the last, same seed")
        self.walk_button.clicked.connect(self.class_walk)
        self.blend_hint = QLabel("Two or more classes blend by their shares (1 and 1: halfway)")
        self.blend_hint.setObjectName("hint")
        self.blend_hint.setWordWrap(True)
        box = QVBoxLayout(self.class_box)
        box.addLayout(self.rows_layout)
        box.addWidget(self.blend_hint)
        box.addWidget(self.add_button)
        box.addWidget(self.walk_button)
        self.code_box = QGroupBox("Codes")
        self.code_layout = QVBoxLayout(self.code_box)
        self.code_layout.setSpacing(4)
        self.layer_box = QGroupBox("Another class for some layers")
        self.layer_on = QCheckBox("Use it")
        self.layer_on.setToolTip("Layers in the range draw this class, the others the class above "
                                 "(GANSpace's per-layer class)")
        self.layer_class = QComboBox()
        narrow(self.layer_class)
        self.layer_from, self.layer_to = QSpinBox(), QSpinBox()
        form = QFormLayout(self.layer_box)
        form.addRow(self.layer_on)
        form.addRow("Class", self.layer_class)
        span = QHBoxLayout()
        span.addWidget(self.layer_from)
        span.addWidget(QLabel("to"))
        span.addWidget(self.layer_to)
        form.addRow("Layers", span)
        self.layer_names = QLabel("")
        self.layer_names.setWordWrap(True)
        self.layer_names.setObjectName("hint")
        form.addRow(self.layer_names)
        for w in (self.layer_on,):
            w.toggled.connect(self._on_layers)
        self.layer_class.currentIndexChanged.connect(self._on_layers)
        self.layer_from.valueChanged.connect(self._on_layers)
        self.layer_to.valueChanged.connect(self._on_layers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(self.summary)
        layout.addWidget(self.class_box)
        layout.addWidget(self.code_box)
        layout.addWidget(self.layer_box)
        layout.addStretch(1)
        session.modelChanged.connect(self.on_model)
        session.recipeChanged.connect(self.sync)
        self.setEnabled(False)
        if session.generator is not None:
            self.on_model(session.generator)

    # -- model ---------------------------------------------------------------------------------------
    def on_model(self, g: Generator) -> None:
        self.parts = g.info.parts()
        self.setEnabled(bool(self.parts))
        classes = self._class_part()
        self._syncing = True
        try:
            self._clear_rows()
            if classes is not None:
                self.add_row(emit=False)
            self.class_box.setVisible(classes is not None)
            self.codes = []
            while self.code_layout.count():
                item = self.code_layout.takeAt(0)
                if item.widget() is not None:
                    item.widget().deleteLater()
            for part in self.parts:
                if part.kind != "continuous":
                    continue
                for j in range(part.size):
                    name = part.names[j] if j < len(part.names) else f"{part.name} {j + 1}"
                    slider = SliderRow(name, part.lo, part.hi, 0.0, tooltip=f"Continuous code {name}",
                                       name_width=40)
                    slider.changed.connect(self._on_code)
                    slider.released.connect(self.session.end_gesture)
                    walk = QToolButton()
                    walk.setText("Walk")
                    walk.setToolTip(f"Timeline: {name} from {part.lo:g} to {part.hi:g}, the rest fixed")
                    walk.clicked.connect(lambda _=False, k=len(self.codes): self.code_walk(k))
                    holder = QWidget()
                    h = QHBoxLayout(holder)
                    h.setContentsMargins(0, 0, 0, 0)
                    h.addWidget(slider, 1)
                    h.addWidget(walk)
                    self.code_layout.addWidget(holder)
                    self.codes.append(slider)
            self.code_box.setVisible(bool(self.codes))
            layers = g.info.class_layers
            self.layer_box.setVisible(bool(layers) and classes is not None)
            self.layer_class.clear()
            if layers and classes is not None:
                self.layer_class.addItems([class_label(classes, k) for k in range(classes.size)])
                for spin in (self.layer_from, self.layer_to):
                    spin.setRange(1, len(layers))
                self.layer_from.setValue(max(1, len(layers) // 2))
                self.layer_to.setValue(len(layers))
                self.layer_names.setText("  ·  ".join(f"{i + 1} = {n}" for i, n in enumerate(layers)))
            self.layer_on.setChecked(False)
            names = f", {len(classes.names)} named" if classes is not None and classes.names else ""
            what = [f"{p.size} classes{names}" if p.kind == "classes" else f"{p.size} continuous codes"
                    for p in self.parts]
            self.summary.setText(f"{g.info.name or g.info.family}: " + " + ".join(what) if what else "")
        finally:
            self._syncing = False
        if self.session.recipe is not None:
            self.sync(self.session.recipe)

    def _class_part(self) -> ConditionPart | None:
        return next((p for p in self.parts if p.kind == "classes"), None)

    def _offset(self, part: ConditionPart) -> int:
        at = 0
        for p in self.parts:
            if p is part:
                return at
            at += p.size
        raise ValueError(part)

    @property
    def c_dim(self) -> int:
        return sum(p.size for p in self.parts)

    # -- rows ----------------------------------------------------------------------------------------
    def _clear_rows(self) -> None:
        for row in self.rows:
            self.rows_layout.removeWidget(row)
            row.deleteLater()
        self.rows = []

    def add_row(self, emit: bool = True, index: int | None = None) -> ClassRow | None:
        part = self._class_part()
        if part is None:
            return None
        row = ClassRow(part, removable=bool(self.rows))
        if index is None:  # a new row starts on the next class, so a blend is visible at once
            index = (self.rows[-1].picker.currentIndex() + 1) % part.size if self.rows else -1
        row.picker.setCurrentIndex(index)
        row.picker.currentIndexChanged.connect(lambda _i, r=row: self._picked(r))
        row.weight.valueChanged.connect(lambda _v: self._on_classes("Class blend", "class_blend"))
        row.remove.clicked.connect(lambda _=False, r=row: self.remove_row(r))
        self.rows.append(row)
        self.rows_layout.addWidget(row)
        self.walk_button.setEnabled(len(self.rows) > 1)
        if emit:
            self._on_classes()
        return row

    def _picked(self, row: ClassRow) -> None:
        """A class picked in a row: it counts (a row shown at weight 0 for "no class" gets weight 1)."""
        if self._syncing:
            return
        if row.weight.value() == 0.0:
            self._syncing = True
            row.weight.setValue(1.0)
            self._syncing = False
        self._on_classes()

    def remove_row(self, row: ClassRow) -> None:
        if row in self.rows and len(self.rows) > 1:
            self.rows.remove(row)
            self.rows_layout.removeWidget(row)
            row.deleteLater()
            self.walk_button.setEnabled(len(self.rows) > 1)
            self._on_classes()

    def blend(self) -> dict[int, float]:
        """The class rows as {class: share}, shares summing to 1 ({} when every weight is 0)."""
        raw: dict[int, float] = {}
        for row in self.rows:
            k = row.picker.currentIndex()
            if k >= 0:
                raw[k] = raw.get(k, 0.0) + row.weight.value()
        total = sum(raw.values())
        return {k: w / total for k, w in raw.items()} if total > 0 else {}

    def condition(self, recipe: Recipe, blend: dict[int, float] | None = None,
                  codes: Sequence[float] | None = None) -> tuple[float, ...]:
        """The recipe's condition with the panel's classes and codes put in their parts."""
        out = list(recipe.condition) if len(recipe.condition) == self.c_dim else [0.0] * self.c_dim
        k = 0
        for p in self.parts:
            at = self._offset(p)
            if p.kind == "classes":
                shares = self.blend() if blend is None else blend
                out[at:at + p.size] = [shares.get(i, 0.0) for i in range(p.size)]
            else:
                values = [s.value() for s in self.codes] if codes is None else list(codes)
                out[at:at + p.size] = values[k:k + p.size]
                k += p.size
        return tuple(out)

    # -- edits ---------------------------------------------------------------------------------------
    def _on_classes(self, text: str = "Class", merge_key: str | None = None) -> None:
        r = self.session.recipe
        if self._syncing or r is None or not self.parts:
            return
        shares = self.blend()
        part = self._class_part()
        assert part is not None
        label = " + ".join(f"{class_label(part, k)}" + (f" {w:.0%}" if len(shares) > 1 else "")
                           for k, w in shares.items()) or "no class"
        self.session.edit(replace(r, condition=self.condition(r)), f"{text}: {label}", merge_key=merge_key)
        if merge_key is None:
            self.session.end_gesture()

    def _on_code(self, _value: float, dragging: bool) -> None:
        r = self.session.recipe
        if self._syncing or r is None:
            return
        self.session.edit(replace(r, condition=self.condition(r)), "Code", merge_key="code")
        if not dragging:
            self.session.end_gesture()

    def _on_layers(self, *_args: object) -> None:
        r, g = self.session.recipe, self.session.generator
        part = self._class_part()
        if self._syncing or r is None or g is None or part is None:
            return
        lo, hi = sorted((self.layer_from.value(), self.layer_to.value()))
        if self.layer_on.isChecked():
            k = max(self.layer_class.currentIndex(), 0)
            cond = [0.0] * self.c_dim
            cond[self._offset(part) + k] = 1.0
            new = with_layer_class(r, (lo - 1, hi), tuple(cond))
            text = f"Layers {lo}-{hi}: {class_label(part, k)}"
        else:
            new, text = with_layer_class(r, None), "One class for every layer"
        if new != r:
            self.session.edit(new, text)
            self.session.end_gesture()

    # -- timeline ------------------------------------------------------------------------------------
    def _walk(self, a: Recipe, b: Recipe, text: str) -> None:
        self.session.update(text, timeline=Timeline((a, b), (Segment(WALK_FRAMES), Segment(WALK_FRAMES))))

    def class_walk(self) -> None:
        """The timeline from the first class row to the last (same seed, codes and layers)."""
        r = self.session.recipe
        if r is None or len(self.rows) < 2:
            return
        first, last = self.rows[0].picker.currentIndex(), self.rows[-1].picker.currentIndex()
        self._walk(replace(r, condition=self.condition(r, {first: 1.0})),
                   replace(r, condition=self.condition(r, {last: 1.0})), "Class walk on the timeline")

    def code_walk(self, j: int) -> None:
        """The timeline along code j from its lowest to its highest value, the others as they are."""
        r = self.session.recipe
        if r is None or not 0 <= j < len(self.codes):
            return
        part = next(p for p in self.parts if p.kind == "continuous")
        values = [s.value() for s in self.codes]
        lo, hi = list(values), list(values)
        lo[j], hi[j] = part.lo, part.hi
        self._walk(replace(r, condition=self.condition(r, codes=lo)),
                   replace(r, condition=self.condition(r, codes=hi)),
                   f"Walk along {self.codes[j].name.text()} on the timeline")

    # -- recipe to widgets ---------------------------------------------------------------------------
    def sync(self, recipe: Recipe) -> None:
        if not self.parts or self._syncing:
            return
        self._syncing = True
        try:
            cond = recipe.condition if len(recipe.condition) == self.c_dim else ()
            part = self._class_part()
            if part is not None:
                weights = class_weights(cond, self._offset(part), part.size) if cond else {}
                if weights != self.blend():
                    self._clear_rows()
                    for k, w in (weights or {-1: 1.0}).items():  # no class: one empty row
                        row = self.add_row(emit=False, index=k)
                        assert row is not None
                        row.weight.setValue(w)
            k = 0
            for p in self.parts:
                if p.kind == "continuous":
                    at = self._offset(p)
                    for j in range(p.size):
                        self.codes[k + j].set_value(cond[at + j] if cond else 0.0)
                    k += p.size
            edit = layer_class(recipe)
            self.layer_on.setChecked(edit is not None)
            if edit is not None and part is not None:
                ks = class_weights(edit.condition, self._offset(part), part.size)
                if ks:
                    self.layer_class.setCurrentIndex(next(iter(ks)))
                self.layer_from.setValue(edit.layers[0] + 1)
                self.layer_to.setValue(edit.layers[1])
        finally:
            self._syncing = False
