"""Conditional manipulation (InterFaceGAN, sec. 2.2): edit one attribute while keeping others fixed.

A fitted boundary's unit normal n_a moves attribute a; moving along it also moves any attribute b whose
normal n_b is not orthogonal to it (eyeglasses directions often carry gender). Projecting n_a onto the
orthogonal complement of the kept attributes' normals gives a direction whose first-order effect on every
kept attribute's margin is zero. For one kept attribute that is n_a - (n_a.n_b) n_b; for several the normals
are not orthogonal to one another, so the projection is d - B^T (B B^T)^+ B d (least squares onto the span of
B, subtracted): the same answer as Gram-Schmidt on B followed by removing each component, without its order
dependence.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class ProjectionError(ValueError):
    """A direction that cannot be kept orthogonal to the boundaries (sizes differ, or it lies in their span)."""


def project_orthogonal(direction: np.ndarray, boundaries: Sequence[np.ndarray]) -> np.ndarray:
    """Unit `direction` with its components along every boundary normal removed (float32, unit length)."""
    d = np.asarray(direction, np.float64).reshape(-1)
    if not len(boundaries):
        return (d / max(float(np.linalg.norm(d)), 1e-300)).astype(np.float32)
    b = np.stack([np.asarray(x, np.float64).reshape(-1) for x in boundaries])
    if b.shape[1] != d.shape[0]:
        raise ProjectionError(f"the boundaries have {b.shape[1]} values but the direction {d.shape[0]}")
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
    coef, *_ = np.linalg.lstsq(b.T, d, rcond=None)  # d ~ B^T coef: its part in the boundaries' span
    rest = d - b.T @ coef
    norm = float(np.linalg.norm(rest))
    if norm < 1e-6 * max(float(np.linalg.norm(d)), 1e-300):
        raise ProjectionError("the direction lies in the span of the kept attributes' boundaries: nothing is "
                              "left to walk once they are held fixed")
    return (rest / norm).astype(np.float32)


def cosines(direction: np.ndarray, boundaries: dict[str, np.ndarray]) -> dict[str, float]:
    """Cosine between `direction` and each named boundary normal: how much walking it moves each margin."""
    d = np.asarray(direction, np.float64).reshape(-1)
    d = d / max(float(np.linalg.norm(d)), 1e-300)
    return {k: float(d @ (np.asarray(v, np.float64).reshape(-1) / max(float(np.linalg.norm(v)), 1e-300)))
            for k, v in boundaries.items()}
