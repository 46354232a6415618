"""Fitting labelled directions: planted directions are recovered, held-out accuracy is honest."""
from __future__ import annotations

import numpy as np
import pytest

from studio.core.labelled import LabelError, fit_direction, train_linear


def _planted(n=1500, dim=64, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=dim)
    v /= np.linalg.norm(v)
    x = rng.normal(size=(n, dim)) + 0.5  # off-centre, so the bias matters
    y = x @ v + noise * rng.normal(size=n) > 0.5 + 0.3
    return x, y, v


@pytest.mark.parametrize("classifier", ["logistic", "svm"])
def test_fit_recovers_the_planted_direction(classifier):
    x, y, v = _planted()
    fit = fit_direction(x, y, classifier)
    assert float(fit.direction @ v) > 0.95
    assert fit.test_accuracy > 0.85 and fit.n_test == pytest.approx(0.25 * len(x), abs=2)
    flipped = fit_direction(x, ~y, classifier)  # the direction points to the positive class
    assert float(flipped.direction @ v) < -0.95


def test_held_out_accuracy_is_chance_on_random_labels():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 64))
    fit = fit_direction(x, rng.random(600) < 0.5)
    assert fit.train_accuracy > fit.test_accuracy and 0.35 < fit.test_accuracy < 0.65
    assert 0.35 < fit.test_balanced_accuracy < 0.65


def test_balanced_weights_matter_for_rare_classes():
    x, y, v = _planted(n=3000, noise=0.8)
    rare = y & (np.random.default_rng(2).random(len(y)) < 0.1)
    recall = {bal: float(((x[rare] @ w + b) > 0).mean())
              for bal in (False, True) for w, b in [train_linear(x, rare, balanced=bal)]}
    assert recall[True] > 0.5 and recall[True] > recall[False] + 0.2


def test_bad_labels_are_refused_with_reasons():
    x = np.zeros((10, 4))
    with pytest.raises(LabelError, match="two positive and two negative"):
        fit_direction(x, np.array([1] * 9 + [0]))
    with pytest.raises(LabelError, match="one label per latent"):
        fit_direction(x, np.ones(3))
    with pytest.raises(LabelError, match="unknown classifier"):
        fit_direction(np.random.default_rng(0).normal(size=(10, 4)), np.arange(10) % 2, "forest")
