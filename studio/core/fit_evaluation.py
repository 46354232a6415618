"""How far to trust a fitted direction, as numbers: what a researcher checks before using one.

Three questions. Does the boundary separate samples it did not see (held-out accuracy against chance: the
commoner label's rate, and 50% for the balanced figure)? Does walking along it move the attribute (the
labeller's mean score at each walk amount over fresh seeds)? And what else moves (every other attribute the
labeller knows, along the same walk: entanglement)? When attributes were kept fixed the same walk is also
scored along the plain boundary normal, so the entanglement before and after the projection sit side by side.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WalkScores:
    """Scores of `seeds` walked along one direction: {attribute: (n_seeds, n_amounts) probabilities}."""

    amounts: np.ndarray
    scores: dict[str, np.ndarray]

    def curve(self, attribute: str) -> np.ndarray:
        """Mean score over the seeds at each amount."""
        return self.scores[attribute].mean(axis=0)

    def change(self, attribute: str) -> float:
        """Mean over seeds of (score at the last amount - score at the first): signed."""
        s = self.scores[attribute]
        return float((s[:, -1] - s[:, 0]).mean())

    def abs_change(self, attribute: str) -> float:
        """Mean over seeds of |score at the last amount - score at the first|: movement either way."""
        s = self.scores[attribute]
        return float(np.abs(s[:, -1] - s[:, 0]).mean())


@dataclass(frozen=True)
class DirectionEvaluation:
    name: str
    attribute: str
    labeller: str
    held_out_accuracy: float
    chance: float                 # always guessing the commoner label
    held_out_balanced_accuracy: float
    n_train: int
    n_test: int
    walk: WalkScores | None       # along the saved direction
    plain: WalkScores | None = None  # along the boundary's own normal (only when attributes were kept fixed)
    kept_fixed: tuple[str, ...] = ()
    cosine_to_kept: dict[str, float] = field(default_factory=dict)

    @property
    def n_seeds(self) -> int:
        return 0 if self.walk is None else len(next(iter(self.walk.scores.values())))

    def others(self) -> list[str]:
        return [a for a in (self.walk.scores if self.walk else {}) if a != self.attribute]

    def to_dict(self) -> dict[str, Any]:
        def walk(w: WalkScores | None) -> dict[str, Any] | None:
            if w is None:
                return None
            return {"amounts": [round(float(a), 4) for a in w.amounts],
                    "mean_score": {a: [round(float(v), 4) for v in w.curve(a)] for a in w.scores},
                    "change": {a: round(w.change(a), 4) for a in w.scores},
                    "abs_change": {a: round(w.abs_change(a), 4) for a in w.scores}}

        return {"direction": self.name, "attribute": self.attribute, "labeller": self.labeller,
                "held_out_accuracy": _r(self.held_out_accuracy), "chance": _r(self.chance),
                "held_out_balanced_accuracy": _r(self.held_out_balanced_accuracy), "balanced_chance": 0.5,
                "n_train": self.n_train, "n_test": self.n_test, "walk_seeds": self.n_seeds,
                "kept_fixed": list(self.kept_fixed), "cosine_to_kept_before": self.cosine_to_kept,
                "walk": walk(self.walk), "walk_before_projection": walk(self.plain)}

    def lines(self) -> list[str]:
        """The evaluation as a few lines of text (CLI, tooltips)."""
        out = [f"{self.name}: held-out accuracy {_pct(self.held_out_accuracy)} on {self.n_test} of "
               f"{self.n_train + self.n_test} samples (chance {_pct(self.chance)}); balanced "
               f"{_pct(self.held_out_balanced_accuracy)} (chance 50%)"]
        if self.walk is not None:
            a0, a1 = self.walk.amounts[0], self.walk.amounts[-1]
            out.append(f"walk {a0:+g} to {a1:+g} std over {self.n_seeds} seeds ({self.labeller}): "
                       f"P({self.attribute}) {self.walk.change(self.attribute):+.3f}")
            others = self.others()
            if others:
                out.append("other attributes along it: " + ", ".join(
                    f"{a} {self.walk.change(a):+.3f}" for a in others))
            if self.plain is not None:
                out.append(f"before keeping {', '.join(self.kept_fixed)} fixed: P({self.attribute}) "
                           f"{self.plain.change(self.attribute):+.3f}; " + ", ".join(
                               f"{a} {self.plain.change(a):+.3f}" for a in others))
        return out


def accuracy_only(fitted: Any) -> DirectionEvaluation:
    """The evaluation of a FittedDirection when no labeller scores its walk: the accuracy figures alone."""
    d, fit = fitted.direction, fitted.fit
    return DirectionEvaluation(d.name, d.source[7:] if d.source.startswith("fitted:") else d.name, "",
                               fit.test_accuracy, chance_of(fit.n_positive, fit.n_train + fit.n_test),
                               fit.test_balanced_accuracy, fit.n_train, fit.n_test, None, None, tuple(fitted.kept),
                               dict(d.info.get("cosine_to_kept_before", {})))


def chance_of(n_positive: int, total: int) -> float:
    p = n_positive / max(total, 1)
    return max(p, 1 - p)


def _r(v: float) -> float | None:
    return None if v != v else round(float(v), 4)


def _pct(v: float) -> str:
    return "n/a" if v != v else f"{v:.1%}"
