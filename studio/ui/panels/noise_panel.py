"""Per-layer noise strength for StyleGAN2: one slider per noise input, each a multiplier of its trained strength.

Noise adds the fine stochastic detail (hair strands, pores, background texture) layer by layer, so scaling
one resolution's noise shows what that layer contributes. Every slider edits the recipe's one NoiseStrength
edit; the mode (const / random / none) stays with the style-mixing panel's StyleGAN controls.
"""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.recipe import Recipe
from studio.core.style_edits import noise_strengths, with_noise_strength
from studio.model.api import Generator
from studio.ui.scrolling import scroll_area
from studio.ui import theme
from studio.ui.panels.latent_panel import SliderRow
from studio.ui.session import Session

MAX_SCALE = 3.0


def layer_title(name: str) -> str:
    """'b64.conv0' -> '64×64 up' (the block's upsampling conv), 'b64.conv1' -> '64×64'."""
    block, conv = name.split(".")
    res = block[1:]
    return f"{res}×{res}" + (" up" if conv == "conv0" else "")


class NoisePanel(QWidget):
    """Sliders 0..3 per noise layer (1 = as trained); hidden behind a note for models without noise inputs."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.layers: list[str] = []
        self.rows: list[SliderRow] = []
        self.note = QLabel("Open a StyleGAN2 model to scale its noise layer by layer.")
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        self.reset = QPushButton("All as trained")
        theme.set_icon(self.reset, "reset")
        self.reset.setToolTip("Every noise layer at its trained strength (1)")
        self.reset.clicked.connect(self.reset_all)
        top = QHBoxLayout()
        top.addWidget(self.note, 1)
        top.addWidget(self.reset)
        body = QWidget()
        self.body = QVBoxLayout(body)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(2)
        self.body.addStretch(1)
        scroll = scroll_area(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        session.modelChanged.connect(self.on_model)
        session.recipeChanged.connect(self.sync)
        if session.generator is not None:
            self.on_model(session.generator)

    def on_model(self, g: Generator) -> None:
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        fn = getattr(g, "noise_layers", None)
        self.layers = list(fn()) if fn is not None else []
        self.rows = []
        for i, name in enumerate(self.layers):
            row = SliderRow(layer_title(name), 0.0, MAX_SCALE, 1.0, name_width=88,
                            tooltip=f"Noise strength of {name}, times its trained value (0: none)")
            row.changed.connect(lambda v, dragging, i=i: self._on_scale(i, v, dragging))
            row.released.connect(self.session.end_gesture)
            self.body.insertWidget(self.body.count() - 1, row)
            self.rows.append(row)
        self.note.setText("Noise strength per layer, times its trained value (1 = as trained)." if self.layers
                          else "This model has no adjustable noise inputs.")
        self.reset.setEnabled(bool(self.layers))
        if self.session.recipe is not None:
            self.sync(self.session.recipe)

    def scales(self) -> tuple[float, ...]:
        return tuple(row.value() for row in self.rows)

    def _on_scale(self, i: int, value: float, dragging: bool) -> None:
        r = self.session.recipe
        if r is None or not self.rows:
            return
        self.session.edit(with_noise_strength(r, self.scales()), f"Noise {layer_title(self.layers[i])} "
                          f"×{value:.2f}", merge_key=f"noise:{i}")
        if not dragging:
            self.session.end_gesture()

    def reset_all(self) -> None:
        r = self.session.recipe
        if r is not None:
            self.session.edit(with_noise_strength(r, None), "Noise as trained")
            self.session.end_gesture()

    def sync(self, recipe: Recipe) -> None:
        scales = noise_strengths(recipe)
        for i, row in enumerate(self.rows):
            row.set_value(scales[i] if scales is not None and i < len(scales) else 1.0)
