"""Labelled directions (InterFaceGAN): a linear classifier separating latents with an attribute from those
without; its unit normal is the direction that adds the attribute.

Two classifiers, both L2-regularised and solved full-batch by Newton's method in float64 (thousands of
samples of a few hundred dimensions: milliseconds): logistic regression, and a linear SVM with the
squared hinge loss (the L2-SVM, differentiable so Newton applies). No scikit-learn. Held-out accuracy is reported so a user
can tell a real direction from one fitted to noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from studio.core.direction_library import SavedDirection

CLASSIFIERS = ("logistic", "svm")


class LabelError(ValueError):
    """Labels that cannot define a direction (one class only, too few samples, mismatched lengths)."""


@dataclass(frozen=True)
class LinearFit:
    """A fitted boundary w.x + b = 0 and how well it separates samples it did not see."""

    weight: np.ndarray      # (dim,) float64, in the latent's own coordinates
    bias: float
    classifier: str
    train_accuracy: float
    test_accuracy: float    # on the held-out split (nan when there was none)
    n_train: int
    n_test: int
    n_positive: int
    test_balanced_accuracy: float = float("nan")  # mean of the two classes' held-out recalls (0.5 = chance)

    @property
    def direction(self) -> np.ndarray:
        """The unit normal pointing to the positive class, float32."""
        return (self.weight / max(float(np.linalg.norm(self.weight)), 1e-300)).astype(np.float32)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Signed margins w.x + b of samples x (n, dim)."""
        return np.asarray(x, np.float64) @ self.weight + self.bias


def train_linear(x: np.ndarray, y: np.ndarray, classifier: str = "logistic", l2: float = 1e-2,
                 max_iter: int = 50, balanced: bool = False) -> tuple[np.ndarray, float]:
    """Weight (dim,) and bias of a linear classifier for labels y in {0, 1}.

    Loss averaged over samples plus l2/2 |w|^2 (the bias is not penalised); inputs are centred so the
    bias does not fight the penalty. Damped Newton: both losses are convex and (piecewise) twice
    differentiable, so a handful of steps reach the optimum, deterministically.
    """
    if classifier not in CLASSIFIERS:
        raise LabelError(f"unknown classifier {classifier!r} (known: {', '.join(CLASSIFIERS)})")
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    xb = np.hstack([x - mean, np.ones((len(x), 1))])
    s = 2.0 * np.asarray(y, np.float64).reshape(-1) - 1.0
    n, d = xb.shape
    # balanced: each class weighs half, so a rare attribute still shapes the boundary
    wt = np.where(s > 0, n / (2 * max((s > 0).sum(), 1)), n / (2 * max((s < 0).sum(), 1))) if balanced else np.ones(n)
    reg = np.full(d, l2)
    reg[-1] = 1e-9  # keeps the Hessian invertible without pulling the bias to zero

    def loss(t: np.ndarray) -> float:
        m = s * (xb @ t)
        data = np.logaddexp(0.0, -m) if classifier == "logistic" else np.maximum(0.0, 1.0 - m) ** 2
        data = (wt * data).mean()
        return float(data + 0.5 * (reg * t * t).sum())

    theta = np.zeros(d)
    for _ in range(max_iter):
        m = s * (xb @ theta)
        if classifier == "logistic":
            p = 0.5 * (1.0 - np.tanh(0.5 * m))            # sigmoid(-m), stable for large |m|
            grad = -(xb.T @ (wt * s * p)) / n
            curv = wt * p * (1.0 - p)
        else:
            slack = np.maximum(0.0, 1.0 - m)
            grad = -2.0 * (xb.T @ (wt * s * slack)) / n
            curv = 2.0 * wt * (slack > 0)
        grad = grad + reg * theta
        hess = (xb.T * curv) @ xb / n + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        if float(grad @ step) < 1e-14:
            break
        f0, t = loss(theta), 1.0
        while loss(theta - t * step) > f0 - 1e-4 * t * float(grad @ step) and t > 1e-8:
            t *= 0.5                                        # backtracking keeps every step a descent
        theta = theta - t * step
    weight = theta[:-1]
    return weight, float(theta[-1] - mean @ weight)


def fit_direction(x: np.ndarray, y: np.ndarray, classifier: str = "logistic", holdout: float = 0.25,
                  seed: int = 0, l2: float = 1e-2) -> LinearFit:
    """Fit on a random (1 - holdout) split, stratified by class, and score the rest."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise LabelError(f"need one label per latent: {len(y)} labels for {x.shape[0] if x.ndim else 0} latents")
    if not np.isin(y, (0, 1, False, True)).all():
        raise LabelError("labels must be 0 (negative) or 1 (positive)")
    y = y.astype(bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos < 2 or neg < 2:
        raise LabelError(f"need at least two positive and two negative samples (have {pos} positive, "
                         f"{neg} negative)")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    if holdout > 0:
        for cls in (True, False):
            idx = np.flatnonzero(y == cls)
            n_test = int(round(holdout * len(idx)))
            n_test = min(n_test, len(idx) - 1)  # keep at least one of each class to train on
            test[rng.permutation(idx)[:n_test]] = True
    train = ~test
    weight, bias = train_linear(x[train], y[train], classifier, l2)
    fit = LinearFit(weight, bias, classifier, 0.0, float("nan"), int(train.sum()), int(test.sum()), pos)

    def acc(mask: np.ndarray) -> float:
        return float(((fit.scores(x[mask]) > 0) == y[mask]).mean()) if mask.any() else float("nan")

    balanced = float(np.mean([acc(test & (y == c)) for c in (True, False)]))
    return LinearFit(weight, bias, classifier, acc(train), acc(test), int(train.sum()), int(test.sum()), pos,
                     balanced)


# -- directions from generated samples -------------------------------------------------------------------
FIT_SEED0 = 1_000_000_000  # fit samples start here, far from the seeds users browse and benchmarks evaluate


@dataclass(frozen=True)
class FittedDirection:
    direction: "SavedDirection"
    fit: LinearFit
    plain: np.ndarray | None = None  # the boundary's own normal, when `direction` keeps attributes fixed
    kept: dict[str, LinearFit] = field(default_factory=dict)  # the kept attributes' boundaries


def fitted_direction(fit: LinearFit, x: np.ndarray, name: str, source: str, space: str, model_id: str,
                     model_name: str = "", info: dict | None = None,
                     vector: np.ndarray | None = None) -> FittedDirection:
    """Wrap a fit as a saved direction whose slider unit is one standard deviation of the samples along it
    (`vector`: the direction to save instead of the boundary's normal, e.g. one projected off others)."""
    from studio.core.direction_library import SavedDirection, now_iso

    vec = fit.direction if vector is None else np.asarray(vector, np.float32).reshape(-1)
    spread = float(np.std(np.asarray(x, np.float64) @ vec.astype(np.float64)))
    details = {"classifier": fit.classifier, "held_out_accuracy": round(fit.test_accuracy, 4),
               "held_out_balanced_accuracy": round(fit.test_balanced_accuracy, 4),
               "train_accuracy": round(fit.train_accuracy, 4), "samples": fit.n_train + fit.n_test,
               "positive": fit.n_positive, **(info or {})}
    d = SavedDirection(name, vec[None], space, source, model_sha256=model_id, model_name=model_name,
                       created=now_iso(), stddev=np.array([spread if spread > 0 else 1.0], np.float32), info=details)
    return FittedDirection(d, fit)


def fit_labelled(x: np.ndarray, labels: dict[str, tuple[np.ndarray, np.ndarray]], target: str, name: str,
                 space: str, model_id: str, model_name: str = "", classifier: str = "logistic",
                 keep_fixed: Sequence[str] = (), info: dict | None = None) -> FittedDirection:
    """Fit `target`'s boundary on latents x and, for each attribute in `keep_fixed`, its own boundary; the
    saved direction is the target's normal projected orthogonal to the kept ones (InterFaceGAN's conditional
    manipulation, studio/core/conditional.py). labels: {attribute: (mask of rows used, 0/1 labels of those)}.
    The held-out accuracy is the target boundary's; the cosines to the kept boundaries before the projection
    are recorded in the direction's info (they are 0 after it)."""
    from studio.core.conditional import cosines, project_orthogonal

    x = np.asarray(x, np.float64)
    missing = [a for a in (target, *keep_fixed) if a not in labels]
    if missing:
        raise LabelError(f"no labels for {', '.join(map(repr, missing))} (have {', '.join(labels) or 'none'})")
    if target in keep_fixed:
        raise LabelError(f"{target!r} cannot be both edited and kept fixed")
    use, y = labels[target]
    fit = fit_direction(x[use], y, classifier)
    kept = {}
    for a in keep_fixed:
        m, ya = labels[a]
        try:
            kept[a] = fit_direction(x[m], ya, classifier)
        except LabelError as exc:
            raise LabelError(f"cannot keep {a} fixed: {exc}") from None
    details = dict(info or {})
    vector = None
    if kept:
        normals = {a: f.direction for a, f in kept.items()}
        details["kept_fixed"] = list(kept)
        details["cosine_to_kept_before"] = {a: round(c, 4) for a, c in cosines(fit.direction, normals).items()}
        details["kept_held_out_accuracy"] = {a: round(f.test_accuracy, 4) for a, f in kept.items()}
        vector = project_orthogonal(fit.direction, list(normals.values()))
        details["plain_stddev"] = round(float(np.std(x[use] @ fit.direction.astype(np.float64))), 6)
    result = fitted_direction(fit, x[use], name, f"fitted:{target}", space, model_id, model_name, details, vector)
    return FittedDirection(result.direction, fit, fit.direction if kept else None, kept)
