"""Direction sets for latent walks: random orthogonal and PCA (GANSpace)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.core.latents import random_orthonormal


@dataclass(frozen=True)
class DirectionSet:
    """Unit directions (rows) in one latent space, with names and, for PCA, the spread along each."""

    kind: str
    space: str
    vectors: np.ndarray               # (k, dim) float32, unit rows
    stddev: np.ndarray | None = None  # (k,) spread of samples along each direction
    explained: np.ndarray | None = None  # (k,) fraction of variance
    mean: np.ndarray | None = None  # (dim,) the samples' mean in `space`: where a latent's coordinates start
    layer: str = ""  # the stage whose activations were decomposed ("" = the latent itself / the default)

    def label(self, i: int) -> str:
        return f"{self.kind}:{i}"

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def coordinates(self, x: np.ndarray) -> np.ndarray:
        """A point's coordinate along each direction in units of its spread, from the samples' mean (what
        GANSpace's sliders start at); (k,) zeros when there is no mean or spread to measure from."""
        if self.mean is None or self.stddev is None:
            return np.zeros(len(self), np.float32)
        x = np.asarray(x, np.float64).reshape(-1)
        proj = (x - self.mean.astype(np.float64)) @ self.vectors.astype(np.float64).T
        return (proj / np.where(self.stddev > 0, self.stddev, 1.0)).astype(np.float32)


def random_directions(k: int, dim: int, seed: int = 0, space: str = "z") -> DirectionSet:
    return DirectionSet("random", space, random_orthonormal(k, dim, seed))


def pca_directions(samples: np.ndarray, k: int, space: str = "z") -> DirectionSet:
    """Principal components of latent (or activation-space) samples: the GANSpace recipe.

    Eigen-decomposes the Gram matrix of the smaller side of the centred samples (the same components as
    their SVD, several times faster for the wide activation matrices GANSpace uses), and fixes each
    component's sign so the result is reproducible.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError("PCA needs a 2-D array of at least two samples")
    x = x - x.mean(axis=0, keepdims=True)
    n, d = x.shape
    k = min(k, n, d)
    if n < d:  # components = x^T u / s from the eigenvectors u of x x^T (n x n)
        evals, evecs = np.linalg.eigh(x @ x.T)
        order = np.argsort(evals)[::-1][:k]
        vt = (x.T @ evecs[:, order]).T
    else:  # components are the eigenvectors of x^T x (d x d)
        evals, evecs = np.linalg.eigh(x.T @ x)
        order = np.argsort(evals)[::-1][:k]
        vt = evecs[:, order].T
    vt = vt / np.maximum(np.linalg.norm(vt, axis=1, keepdims=True), 1e-300)
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    vt = vt * signs[:, None]
    var = np.clip(evals[order], 0.0, None) / (n - 1)
    total = float((x * x).sum()) / (n - 1)
    return DirectionSet("pca", space, vt.astype(np.float32), np.sqrt(var).astype(np.float32),
                        (var / total if total > 0 else np.zeros_like(var)).astype(np.float32),
                        np.asarray(samples, np.float64).mean(axis=0).astype(np.float32))


def ganspace_directions(z: np.ndarray, features: np.ndarray, k: int, space: str = "z",
                        layer: str = "") -> DirectionSet:
    """GANSpace for generators with an isotropic prior (DCGAN, BigGAN): PCA in an early feature space,
    then a least-squares map from PCA coordinates back to latents, so each component becomes a z direction.

    PCA of z itself would be meaningless there: a Gaussian prior has no preferred directions.
    """
    z = np.asarray(z, dtype=np.float64)
    feats = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    comps = pca_directions(feats, k, space="features")
    coords = (feats - feats.mean(axis=0)) @ comps.vectors.T.astype(np.float64)  # (n, k)
    coords /= coords.std(axis=0, keepdims=True) + 1e-12
    u, *_ = np.linalg.lstsq(coords, z - z.mean(axis=0), rcond=None)  # (k, dim): z ~ coords @ u
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    vectors = (u / np.maximum(norms, 1e-12)).astype(np.float32)
    return DirectionSet("pca", space, vectors, norms[:, 0].astype(np.float32), comps.explained,
                        z.mean(axis=0).astype(np.float32), layer)
