"""Per-layer noise strength for StyleGAN2: one slider per noise input, each a multiplier of its trained strength.

Noise adds the fine stochastic detail (hair strands, pores, background texture) layer by layer, so scaling
one resolution's noise shows what that layer contributes. Every slider edits the recipe's one NoiseStrength
edit; the mode (const / random / none) stays with the style-mixing panel's StyleGAN controls. A model may
have learned almost no noise (the bundled StyleGAN2: x3 everywhere moved its image by 0.3/255), so each
slider's maximum is measured on the open model (studio/render/noise_ranges.py) to visibly change the image.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.recipe import Recipe
from studio.core.slider_ranges import NOISE_DEFAULT_MAX, NOISE_TARGET
from studio.core.style_edits import noise_strengths, with_noise_strength
from studio.model.api import Generator
from studio.model.layer_labels import layer_labels
from studio.render.noise_ranges import noise_ranges_job
from studio.ui.scrolling import scroll_area
from studio.ui import theme
from studio.ui.panels.latent_panel import SliderRow
from studio.ui.session import Session

MAX_SCALE = NOISE_DEFAULT_MAX  # until the open model's ranges are measured
TITLE_WIDTH = 120  # the least width of a row's title


def layer_title(name: str) -> str:
    """'b64.conv0' -> '64×64 up' (the block's upsampling conv), 'b64.conv1' -> '64×64'."""
    block, conv = name.split(".")
    res = block[1:]
    return f"{res}×{res}" + (" up" if conv == "conv0" else "")


class NoisePanel(QWidget):
    """A slider per noise layer from 0 to its measured maximum (1 = as trained); a note for models without
    noise inputs."""

    rangesReady = Signal()  # the open model's slider maxima were measured (tests wait on this)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.layers: list[str] = []
        self.rows: list[SliderRow] = []
        self.maxima: tuple[float, ...] = ()
        self._ranges: dict[str, tuple[float, ...]] = {}  # model id -> measured slider maxima
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
        labels = layer_labels(g, self.layers) if self.layers else {}
        fm = self.fontMetrics()  # the widest title sets the column, so "16x16 · 64 ch (b16.conv0)" is never cut
        width = max([TITLE_WIDTH] + [fm.horizontalAdvance(t) + 12 for t in labels.values()])
        for i, name in enumerate(self.layers):
            row = SliderRow(labels.get(name, layer_title(name)), 0.0, MAX_SCALE, 1.0, name_width=width,
                            tooltip=f"Noise strength of {name} ({layer_title(name)}), times its trained value "
                                    f"(0: none, 1: as trained)")
            row.changed.connect(lambda v, dragging, i=i: self._on_scale(i, v, dragging))
            row.released.connect(self.session.end_gesture)
            self.body.insertWidget(self.body.count() - 1, row)
            self.rows.append(row)
        self.maxima = (MAX_SCALE,) * len(self.layers)
        self.note.setText("Noise strength per layer, times its trained value (1 = as trained); measuring how "
                          "far each slider must reach…" if self.layers else "This model has no adjustable noise inputs.")
        self.reset.setEnabled(bool(self.layers))
        if self.session.recipe is not None:
            self.sync(self.session.recipe)
        if self.layers:
            self._measure(g)

    def _measure(self, g: Generator) -> None:
        """Each layer's maximum from the open model (cached per model): a background job of small renders."""
        known = self._ranges.get(g.model_id)
        if known is not None:
            self.set_maxima(known)
            return
        model_id = g.model_id

        def done(maxima: tuple[float, ...]) -> None:
            if len(maxima) == len(self.layers):
                self._ranges[model_id] = tuple(maxima)
                if self.session.generator is not None and self.session.generator.model_id == model_id:
                    self.set_maxima(maxima)

        self.session.run_job(noise_ranges_job(g, self.session.renderer), on_done=done, key="noise-ranges")

    def set_maxima(self, maxima: tuple[float, ...]) -> None:
        """Slider ends per layer (never below the value the recipe holds, so nothing is clipped)."""
        current = self.scales()
        self.maxima = tuple(max(float(m), MAX_SCALE) for m in maxima)
        for row, top, value in zip(self.rows, self.maxima, current):
            top = max(top, value)
            row.slider.blockSignals(True)
            row.slider.setRange(0.0, top)
            row.slider.setPageStep(top / 20)
            row.slider.setValue(value)
            row.slider.blockSignals(False)
            row.slider.setToolTip(f"{row.name.toolTip()}; up to x{top:g}, where this layer's noise changes the "
                                  f"image by about {NOISE_TARGET:g}/255 on average")
        self.note.setText("Noise strength per layer, times its trained value (1 = as trained). Each slider ends "
                          "where that layer's noise visibly changes the image.")
        self.rangesReady.emit()

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
            value = scales[i] if scales is not None and i < len(scales) else 1.0
            if value > row.slider.maximum():  # a recipe from a project or a PNG: widen, never clip it
                row.slider.setRange(0.0, value)
            row.set_value(value)
