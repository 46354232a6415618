"""Which units of a layer draw a concept, from examples of where the concept is.

rank_units follows the DCGAN paper (Radford et al. 2016, sec. 6.1): fit a logistic regression that predicts,
from the layer's activations at each position, whether the position lies inside the object (boxes or masks
drawn on the output images, downsampled to the layer's resolution); units with large positive weights are
the ones that "draw" it, and dropping them removes the object. relevance is the cheaper per-unit score used
to sort a feature grid by a concept: the IoU of each unit's strongest activations with the masks (GAN
Dissection's measure).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from studio.core.units import resize_area
from studio.errors import StudioError

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the image's width and height


@dataclass(frozen=True)
class RankedUnits:
    """Units by decreasing logistic-regression weight; `weights[u]` is unit u's weight on standardised
    activations (comparable across units), `accuracy` the balanced accuracy of the fit on its own data."""

    order: np.ndarray
    weights: np.ndarray
    bias: float = 0.0
    accuracy: float = 0.0

    def top(self, k: int) -> tuple[int, ...]:
        return tuple(int(u) for u in self.order[:k])

    @property
    def positive(self) -> tuple[int, ...]:
        """The units with positive weight, strongest first (the set the DCGAN paper drops)."""
        return tuple(int(u) for u in self.order if self.weights[u] > 0)


def masks_at(masks: np.ndarray, h: int, w: int) -> np.ndarray:
    """Image-resolution masks (N, H, W) as soft (N, h, w) weights: the covered fraction of each position."""
    m = np.asarray(masks, np.float32)
    if m.ndim != 3:
        raise StudioError(f"masks must have shape (N, H, W), not {m.shape}")
    return resize_area(m, h, w)


def _checked(acts: Tensor, masks: np.ndarray) -> tuple[Tensor, Tensor]:
    """Activations as (positions, C) float64 and the soft masks as (positions,)."""
    if acts.ndim != 4:
        raise StudioError(f"activations must have shape (N, C, H, W), not {tuple(acts.shape)}")
    n, c, h, w = acts.shape
    if len(masks) != n:
        raise StudioError(f"{len(masks)} masks for {n} samples")
    y = torch.from_numpy(masks_at(masks, h, w)).double().reshape(-1)
    x = acts.detach().double().cpu().permute(0, 2, 3, 1).reshape(-1, c)
    return x, y


def rank_units(acts: Tensor, masks: np.ndarray, l2: float = 1e-2, iterations: int = 50) -> RankedUnits:
    """Rank the units of a layer (activations (N, C, H, W)) by how they predict the masks (N, H_img, W_img).

    Activations are standardised per unit so weights compare across units; positives and negatives are
    weighted to equal total mass, since an object usually covers a small part of the image; `l2` is the
    penalty on the weights (not the bias). Fitted by Newton's method with backtracking: the problem is
    small (C + 1 parameters) and strongly convex, and it needs no autograd or optimiser machinery.
    """
    x, y = _checked(acts, masks)
    truth = y > 0.5
    n_pos = float(truth.sum())
    if n_pos == 0 or n_pos == len(y):
        raise StudioError("the masks must cover some but not all positions of the layer")
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    xb = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)  # the last weight is the bias
    sw = torch.where(truth, 0.5 / n_pos, 0.5 / (len(y) - n_pos))
    penalty = torch.full((xb.shape[1],), l2, dtype=x.dtype)
    penalty[-1] = 0.0
    theta = torch.zeros(xb.shape[1], dtype=x.dtype)

    def loss(t: Tensor) -> float:
        bce = torch.nn.functional.binary_cross_entropy_with_logits(xb @ t, y, reduction="none")
        return float((sw * bce).sum() + 0.5 * (penalty * t * t).sum())

    current = loss(theta)
    for _ in range(iterations):
        p = torch.sigmoid(xb @ theta)
        grad = xb.T @ (sw * (p - y)) + penalty * theta
        hess = xb.T @ ((sw * p * (1 - p))[:, None] * xb) + torch.diag(penalty + 1e-9)
        step = torch.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4 and loss(theta - t * step) > current:
            t *= 0.5
        theta = theta - t * step
        new = loss(theta)
        if current - new < 1e-10:
            break
        current = new
    weights = theta[:-1].numpy().astype(np.float32)
    pred = (xb @ theta) > 0
    tpr = float((pred & truth).sum()) / n_pos
    tnr = float((~pred & ~truth).sum()) / (len(y) - n_pos)
    order = np.argsort(-weights, kind="stable")
    return RankedUnits(order, weights, float(theta[-1]), 0.5 * (tpr + tnr))


def relevance(acts: Tensor, masks: np.ndarray, quantile: float = 0.9) -> np.ndarray:
    """Per unit, the IoU in [0, 1] of where it is strongest (above its `quantile` over all samples and
    positions) with the masks at the layer's resolution: sorts a feature grid "by relevance to a concept"."""
    if not 0.0 < quantile < 1.0:
        raise StudioError("quantile must lie strictly between 0 and 1")
    x, y = _checked(acts, masks)
    k = max(1, int(round((1.0 - quantile) * x.shape[0])))
    thresh = x.topk(k, dim=0).values[-1]  # each unit's value at the quantile (topk: no full sort)
    on = (x >= thresh).double()
    inter = (on * y[:, None]).sum(0)
    union = torch.maximum(on, y[:, None]).sum(0)
    return (inter / union.clamp_min(1e-12)).float().numpy()


def boxes_to_masks(boxes: Sequence[Sequence[Box]], size: int | tuple[int, int]) -> np.ndarray:
    """User-drawn boxes (per image, any number of (x0, y0, x1, y1) in [0, 1] fractions) as bool masks
    (N, H, W): a pixel is inside when its centre is."""
    h, w = (size, size) if isinstance(size, int) else size
    ys = (np.arange(h) + 0.5) / h
    xs = (np.arange(w) + 0.5) / w
    out = np.zeros((len(boxes), h, w), bool)
    for i, image_boxes in enumerate(boxes):
        for box in image_boxes:
            if len(box) != 4:
                raise StudioError(f"a box is (x0, y0, x1, y1), not {box!r}")
            x0, y0, x1, y1 = (float(v) for v in box)
            x0, x1 = min(x0, x1), max(x0, x1)
            y0, y1 = min(y0, y1), max(y0, y1)
            out[i] |= ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    return out
