"""The Directions panel's fitting extras: "keep fixed" attributes, the evaluation plot of a fit, and the
InterFaceGAN scores-file workflow (export samples, fit from a scores file made elsewhere).

Thin views: the maths is studio/core/conditional.py, fit_evaluation.py and scores_file.py; the jobs are
studio/render/analysis.py and samples_export.py.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QLabel, QMenu, QToolButton, QVBoxLayout, QWidget

from studio.core.fit_evaluation import DirectionEvaluation
from studio.ui import theme

# distinct, readable on both themes (the target attribute takes the theme's accent)
OTHER_COLOURS = ("#d0433b", "#2e9e4f", "#c98a00", "#8a4fd0", "#1b9aaa", "#b8577a", "#6d7f1f", "#7a6a58")


class KeepFixedButton(QToolButton):
    """A menu of the labeller's other attributes, each checkable: those kept fixed while editing the target."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setMenu(QMenu(self))
        self.setToolTip("Attributes to keep fixed: the fitted direction is projected orthogonal to their "
                        "boundaries (InterFaceGAN's conditional manipulation), so walking it leaves them be")
        self._actions: dict[str, QAction] = {}
        self._relabel()

    def set_attributes(self, attributes: Sequence[str], target: str) -> None:
        """Offer `attributes` but the target, keeping the ones still offered checked."""
        kept = set(self.selected())
        self.menu().clear()
        self._actions = {}
        for a in attributes:
            if a == target:
                continue
            act = self.menu().addAction(a)
            act.setCheckable(True)
            act.setChecked(a in kept)
            act.toggled.connect(lambda _=False: (self._relabel(), self.changed.emit()))
            self._actions[a] = act
        self.setEnabled(bool(self._actions))
        self._relabel()

    def selected(self) -> tuple[str, ...]:
        return tuple(a for a, act in self._actions.items() if act.isChecked())

    def set_selected(self, names: Sequence[str]) -> None:
        for a, act in self._actions.items():
            act.setChecked(a in names)

    def _relabel(self) -> None:
        kept = self.selected()
        self.setText("none" if not kept else ", ".join(kept))


def entanglement_text(ev: DirectionEvaluation) -> str:
    """What moves along the walk, before and after keeping attributes fixed."""
    w = ev.walk
    if w is None:
        return "No labeller for this model scores the walk: judge it on the canvas."
    a0, a1 = w.amounts[0], w.amounts[-1]
    head = (f"Walking {a0:+.0f} to {a1:+.0f} std over {ev.n_seeds} fresh seeds: P({ev.attribute}) "
            f"{w.change(ev.attribute):+.2f}")
    if ev.plain is not None:
        head += f" (plain direction {ev.plain.change(ev.attribute):+.2f})"
    parts = []
    for a in ev.others():
        text = f"{a} {w.change(a):+.2f}"
        if ev.plain is not None:
            text += f" (was {ev.plain.change(a):+.2f})"
        parts.append(text + (" kept" if a in ev.kept_fixed else ""))
    return head + ". Other attributes: " + ", ".join(parts) + "." if parts else head + "."


class EvaluationPlot(QWidget):
    """Every attribute's mean score along the fitted walk (the target thick), dashed before the projection."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=theme.colour("base"))
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setTitle("Every attribute along the walk", size="9pt", color=theme.colour("text"))
        self.plot.setLabel("left", "mean P(attribute)", color=theme.colour("muted"))
        self.plot.setLabel("bottom", "walk (std)", color=theme.colour("muted"))
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setYRange(0, 1)
        self.plot.setMinimumHeight(200)
        self.plot.setMaximumHeight(280)
        self.legend = QLabel("")  # beside the plot, not over its curves
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.text = QLabel("")
        self.text.setObjectName("muted")
        self.text.setWordWrap(True)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.plot)
        col.addWidget(self.legend)
        col.addWidget(self.text)
        self.shown: DirectionEvaluation | None = None
        self.names: list[str] = []  # the curves drawn, in order (tests read them)
        self.setVisible(False)

    def clear(self) -> None:
        self.plot.clear()
        self.legend.setText("")
        self.names: list[str] = []
        self.text.setText("")
        self.shown = None
        self.setVisible(False)

    def show_evaluation(self, ev: DirectionEvaluation) -> None:
        self.clear()
        self.shown = ev
        if ev.walk is None:  # no labeller scores it: the accuracy line above says all there is
            return
        self.setVisible(True)
        self.text.setText(entanglement_text(ev))
        x = np.asarray(ev.walk.amounts, float)
        names = [ev.attribute, *ev.others()]
        keys = []
        for i, a in enumerate(names):
            colour = theme.colour("accent") if a == ev.attribute else QColor(OTHER_COLOURS[(i - 1) % len(OTHER_COLOURS)])
            width = 3 if a == ev.attribute else 1.5
            label = a + (" (kept)" if a in ev.kept_fixed else "")
            self.plot.plot(x, ev.walk.curve(a), pen=pg.mkPen(colour, width=width), name=label,
                           symbol="o" if a == ev.attribute else None, symbolSize=5, symbolBrush=colour)
            self.names.append(label)
            mark = f'<span style="color:{colour.name()}">{"━━" if width > 2 else "──"}</span>'
            if ev.plain is not None and (a == ev.attribute or a in ev.kept_fixed):
                self.plot.plot(x, ev.plain.curve(a), pen=pg.mkPen(colour, width=width, style=Qt.PenStyle.DashLine),
                               name=f"{a}, before keeping fixed")
                self.names.append(f"{a}, before keeping fixed")
                mark += f'<span style="color:{colour.name()}"> ╍╍</span>'
            keys.append(f"{mark}&nbsp;{'<b>' + label + '</b>' if a == ev.attribute else label}")
        dashed = " · dashed: the plain direction, before keeping attributes fixed" if ev.plain is not None else ""
        self.legend.setText("&nbsp;&nbsp; ".join(keys) + f'<br><span style="color:{theme.colour("muted").name()}">'
                            f"mean over {ev.n_seeds} fresh seeds{dashed}</span>")
        self.plot.setTitle(f"{ev.name}: every attribute along the walk", size="9pt", color=theme.colour("text"))
