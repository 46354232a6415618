"""Latent vectors: seeds to z, truncation, interpolation.

Seeds use numpy's legacy RandomState stream, which numpy guarantees stable across platforms and
versions, and which the official StyleGAN tools also use, so seed 42 here is seed 42 there.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

PRIORS = ("normal", "uniform", "truncnorm")


def seed_to_z(seed: int, dim: int, prior: str = "normal") -> np.ndarray:
    """One latent of shape (dim,) float32 from the model's prior (a copy: callers may modify it)."""
    return _seed_to_z(int(seed), int(dim), prior).copy()


@lru_cache(maxsize=4096)
def _seed_to_z(seed: int, dim: int, prior: str) -> np.ndarray:
    """Cached because seeding the Mersenne Twister costs about 0.4 ms, a tenth of a DCGAN frame."""
    rs = np.random.RandomState(seed % (2**32))
    if prior == "normal":
        z = rs.randn(dim)
    elif prior == "uniform":
        z = rs.uniform(-1.0, 1.0, size=dim)
    elif prior == "truncnorm":  # BigGAN's normal truncated to [-2, 2]: values outside are drawn again
        z = rs.randn(dim)
        while (out := np.abs(z) > 2.0).any():
            z[out] = rs.randn(int(out.sum()))
    else:
        raise ValueError(f"unknown latent prior {prior!r} (known: {', '.join(PRIORS)})")
    return z.astype(np.float32)


def seeds_to_z(seeds: Sequence[int], dim: int, prior: str = "normal") -> np.ndarray:
    return np.stack([seed_to_z(s, dim, prior) for s in seeds]) if len(seeds) else np.zeros((0, dim), np.float32)


def truncate(z: np.ndarray, mean: np.ndarray | float, psi: float) -> np.ndarray:
    """Pull z toward the mean latent: psi=1 leaves it, psi=0 gives the mean (the 'average face')."""
    return (mean + psi * (z - mean)).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return ((1.0 - t) * a + t * b).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: keeps the norm typical of Gaussian latents, so midpoints stay on-manifold."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if omega < 1e-6:
        return lerp(a, b, t)
    so = np.sin(omega)
    return (np.sin((1.0 - t) * omega) / so * a + np.sin(t * omega) / so * b).astype(np.float32)


def random_orthonormal(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """n orthonormal directions (rows) in R^dim, reproducible from the seed."""
    if n > dim:
        raise ValueError(f"cannot have {n} orthonormal directions in {dim} dimensions")
    g = np.random.RandomState(seed).randn(dim, n)
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))  # make the factorisation unique so the seed fixes the directions
    return q.T.astype(np.float32)
