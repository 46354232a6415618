"""The model panel's Settings: what the open checkpoint holds several of or cannot record (ModelInfo.choices).

A progressive GAN's scale and fade-in alpha, a StyleGAN1's step, an activation a state_dict cannot tell:
each shows its value and where it came from ("from the file", "assumed ..."), and picking another opens the
same file as that variant (Generator.choose), with its own workspace, so nothing made on the other is lost.
"""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from studio.errors import StudioError
from studio.model.api import Choice, Generator
from studio.ui.session import Session


class ChoicesBox(QGroupBox):
    """One row per choice (a list, or a number box for a number); hidden when the model has none."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__("Settings", parent)
        self.session = session
        self.editors: dict[str, QComboBox | QDoubleSpinBox] = {}
        self.notes: dict[str, QLabel] = {}
        self._rows = QFormLayout()
        self._rows.setHorizontalSpacing(10)
        self._rows.setVerticalSpacing(3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(self._rows)
        self.setVisible(False)
        session.modelChanged.connect(self.show_model)

    def show_model(self, g: Generator) -> None:
        while self._rows.rowCount():
            self._rows.removeRow(0)
        self.editors.clear()
        self.notes.clear()
        for c in g.info.choices:
            editor = self._editor(c)
            note = QLabel(c.source)
            note.setObjectName("muted")
            note.setWordWrap(True)
            box = QWidget()
            col = QVBoxLayout(box)
            col.setContentsMargins(0, 0, 0, 0)
            col.setSpacing(1)
            col.addWidget(editor)
            col.addWidget(note)
            caption = QLabel(c.label or c.name)
            caption.setObjectName("muted")
            self._rows.addRow(caption, box)
            self.editors[c.name] = editor
            self.notes[c.name] = note
        self.setVisible(bool(g.info.choices))

    def _editor(self, c: Choice) -> QComboBox | QDoubleSpinBox:
        tip = f"{c.label or c.name}: {c.source}" if c.source else (c.label or c.name)
        if c.values:
            combo = QComboBox()
            combo.addItems(list(c.values))
            combo.setCurrentText(c.value)
            combo.setToolTip(tip)
            combo.textActivated.connect(lambda v, n=c.name: self.pick(n, v))
            return combo
        spin = QDoubleSpinBox()
        spin.setRange(c.lo, c.hi)
        spin.setDecimals(3)
        spin.setSingleStep(0.05)
        spin.setKeyboardTracking(False)
        spin.setValue(float(c.value))
        spin.setToolTip(tip)
        spin.valueChanged.connect(lambda v, n=c.name: self.pick(n, f"{v:g}"))
        return spin

    def pick(self, name: str, value: str) -> bool:
        """Open the current file as the variant with `name` = `value`; a message (never a traceback) when
        the model refuses it. True when the model changed."""
        g, path = self.session.generator, self.session.model_path
        if g is None or path is None:
            return False
        current = {c.name: c.value for c in g.info.choices}
        if current.get(name) == value:
            return False
        try:
            variant = g.choose(**{name: value})
        except StudioError as exc:
            self.session.error.emit(str(exc))
            self.show_model(g)  # back to what is loaded
            return False
        except Exception as exc:  # plugin code: any failure is one message
            from studio.model.api import describe_failure

            self.session.error.emit(f"{path.name}: picking {name} {value} failed ({describe_failure(exc)})")
            self.show_model(g)
            return False
        if variant is g:
            return False
        self.session.set_generator(variant, path)
        return True
