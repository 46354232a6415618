"""Unit ranking against concept masks: planted units are found, boxes become masks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.units import resize_area
from studio.errors import StudioError
from studio.render.dissection import boxes_to_masks, rank_units, relevance

PLANTED = (3, 11)  # units that fire inside the object
AGAINST = 6  # a unit that fires outside it


def planted_data(n: int = 40, units: int = 16, size: int = 8, image: int = 32, seed: int = 0):
    """Random boxes as the object; planted units follow its layer-resolution mask, the rest are noise."""
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(n):
        x0, y0 = rng.uniform(0, 0.6, 2)
        boxes.append([(x0, y0, x0 + rng.uniform(0.2, 0.4), y0 + rng.uniform(0.2, 0.4))])
    masks = boxes_to_masks(boxes, image)
    at_layer = resize_area(masks.astype(np.float32), size, size)
    acts = rng.normal(0, 1, (n, units, size, size)).astype(np.float32)
    for u in PLANTED:
        acts[:, u] += 2.5 * at_layer
    acts[:, AGAINST] -= 2.0 * at_layer
    return torch.from_numpy(acts), masks


def test_rank_units_recovers_planted_units():
    acts, masks = planted_data()
    ranked = rank_units(acts, masks)
    assert set(ranked.top(2)) == set(PLANTED)
    assert ranked.weights[AGAINST] < 0 and ranked.weights[AGAINST] == ranked.weights.min()
    assert set(PLANTED) <= set(ranked.positive) and AGAINST not in ranked.positive
    assert ranked.accuracy > 0.85
    shuffled = rank_units(acts, np.roll(masks, 1, axis=0))  # masks of other images: nothing to find
    assert shuffled.accuracy < ranked.accuracy - 0.2


def test_relevance_sorts_concept_units_first():
    acts, masks = planted_data(seed=1)
    score = relevance(acts, masks)
    assert score.shape == (16,) and (0 <= score).all() and (score <= 1).all()
    assert set(np.argsort(-score)[:2]) == set(PLANTED)
    assert score[AGAINST] < np.median(score)


def test_boxes_to_masks():
    m = boxes_to_masks([[(0, 0, 0.5, 0.5)], [(0.75, 0.5, 1.0, 1.0), (0.5, 0.5, 0.25, 0.0)], []], 4)
    assert m.shape == (3, 4, 4) and m.dtype == bool
    assert m[0].sum() == 4 and m[0, :2, :2].all()
    assert np.array_equal(np.argwhere(m[1]), [[0, 1], [1, 1], [2, 3], [3, 3]])
    assert not m[2].any()
    assert boxes_to_masks([[(0, 0, 1, 1)]], (2, 3)).shape == (1, 2, 3)
    with pytest.raises(StudioError, match=r"a box is \(x0, y0, x1, y1\)"):
        boxes_to_masks([[(0, 0, 1)]], 4)


def test_bad_inputs_are_named():
    acts, masks = planted_data(n=4)
    with pytest.raises(StudioError, match="3 masks for 4 samples"):
        rank_units(acts, masks[:3])
    with pytest.raises(StudioError, match="cover some but not all"):
        rank_units(acts, np.zeros_like(masks))
    with pytest.raises(StudioError, match=r"shape \(N, C, H, W\)"):
        relevance(acts[0], masks)
    with pytest.raises(StudioError, match="quantile"):
        relevance(acts, masks, quantile=1.0)
