"""'Same edit on other seeds': a row of small previews of other samples with the current recipe's edits, so a
slider's effect can be judged on several faces at once (GANSpace's multi-sample view). Off until asked for:
it re-renders on every edit, as a newest-wins worker job."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.core.recipe import Recipe
from studio.core.walk_layers import on_other_seeds
from studio.ui.images import placeholder, thumbnail
from studio.ui.panels.latent_panel import seed_grid_job
from studio.ui.session import Session


class EditStrip(QWidget):
    COUNT = 5
    THUMB = 52

    stripReady = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.images: np.ndarray | None = None
        self.toggle = QCheckBox("Same edit on other seeds")
        self.toggle.setToolTip("Preview the current walks and mixes on a few other samples: does the edit do "
                               "the same thing to every face?")
        self.toggle.toggled.connect(self._on_toggle)
        self.thumbs: list[QLabel] = []
        row = QHBoxLayout()
        row.setSpacing(4)
        for _ in range(self.COUNT):
            lab = QLabel()
            lab.setFixedSize(self.THUMB, self.THUMB)
            lab.setPixmap(placeholder(self.THUMB))
            row.addWidget(lab)
            self.thumbs.append(lab)
        row.addStretch(1)
        self.row = QWidget()
        self.row.setLayout(row)
        self.row.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 0, 10, 4)
        lay.setSpacing(4)
        lay.addWidget(self.toggle)
        lay.addWidget(self.row)
        session.recipeChanged.connect(lambda _r: self.refresh())

    def _on_toggle(self, on: bool) -> None:
        self.row.setVisible(on)
        self.refresh()

    def recipes(self) -> list[Recipe]:
        r = self.session.recipe
        return on_other_seeds(r, self.COUNT) if r is not None else []

    def refresh(self) -> None:
        s = self.session
        if not self.toggle.isChecked() or s.generator is None or s.recipe is None \
                or "walk" not in s.generator.info.capabilities:
            return
        recipes = self.recipes()
        s.run_job(seed_grid_job(s.renderer, s.generator, recipes), on_done=self._on_done,
                  on_error=lambda msg: None if msg == "cancelled" else s.error.emit(f"other seeds: {msg}"),
                  key="edit-strip")

    def _on_done(self, images: np.ndarray) -> None:
        self.images = images
        for lab, img in zip(self.thumbs, images):
            lab.setPixmap(thumbnail(img, self.THUMB))
        self.stripReady.emit()
