"""Direction sets: PCA recovers planted structure; GANSpace maps feature components back to latents."""
from __future__ import annotations

import numpy as np
import pytest

from studio.core.directions import ganspace_directions, pca_directions, random_directions


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_pca_recovers_a_planted_dominant_direction():
    rs = np.random.RandomState(0)
    dim, n = 32, 2000
    planted = _unit(rs.randn(dim))
    second = _unit(np.linalg.qr(np.stack([planted, rs.randn(dim)], 1))[0][:, 1])
    x = (rs.randn(n, 1) * 5.0 * planted + rs.randn(n, 1) * 2.0 * second + rs.randn(n, dim) * 0.3 + 7.0)
    ds = pca_directions(x, 3)
    assert ds.vectors.shape == (3, dim) and ds.kind == "pca" and ds.space == "z" and len(ds) == 3
    np.testing.assert_allclose(np.linalg.norm(ds.vectors, axis=1), 1.0, atol=1e-5)
    assert abs(ds.vectors[0] @ planted) > 0.999
    assert abs(ds.vectors[1] @ second) > 0.99
    assert ds.stddev[0] == pytest.approx(5.0, rel=0.05) and ds.stddev[1] == pytest.approx(2.0, rel=0.05)
    assert ds.explained[0] > ds.explained[1] > ds.explained[2] and ds.explained.sum() <= 1.0 + 1e-6
    # The sign convention makes the result independent of sample order.
    again = pca_directions(x[::-1], 3)
    np.testing.assert_allclose(again.vectors[:2], ds.vectors[:2], atol=1e-4)
    with pytest.raises(ValueError):
        pca_directions(x[:1], 2)


def test_ganspace_recovers_the_latent_direction_behind_the_top_feature_variance():
    """A linear 'generator' f = A z where one latent direction is amplified: PCA of f's variance,
    regressed back to z, must point along that latent direction (PCA of z alone could not find it)."""
    rs = np.random.RandomState(1)
    z_dim, f_dim, n = 16, 64, 3000
    hidden = _unit(rs.randn(z_dim))
    a = rs.randn(f_dim, z_dim) * 0.1
    a += 10.0 * np.outer(_unit(rs.randn(f_dim)), hidden)  # moving along `hidden` dominates the features
    z = rs.randn(n, z_dim)
    feats = z @ a.T
    assert abs(pca_directions(z, 1).vectors[0] @ hidden) < 0.5  # isotropic z: no preferred direction
    ds = ganspace_directions(z, feats.reshape(n, 4, 4, 4), k=3)
    assert ds.vectors.shape == (3, z_dim) and ds.space == "z"
    np.testing.assert_allclose(np.linalg.norm(ds.vectors, axis=1), 1.0, atol=1e-5)
    assert abs(ds.vectors[0] @ hidden) > 0.99
    assert ds.explained[0] > 0.9


def test_random_directions_are_labelled_unit_rows():
    ds = random_directions(4, 10, seed=2, space="w")
    assert ds.space == "w" and ds.label(3) == "random:3" and len(ds) == 4
    np.testing.assert_allclose(ds.vectors @ ds.vectors.T, np.eye(4), atol=1e-5)


@pytest.mark.parametrize("n, d", [(40, 300), (300, 40)])
def test_pca_matches_the_svd_for_wide_and_tall_samples(n, d):
    """Both code paths (n < d: Gram matrix of samples; n >= d: covariance) give the SVD's components."""
    rs = np.random.RandomState(n)
    x = rs.randn(n, d) * np.linspace(3.0, 0.1, d) + rs.randn(d)
    ds = pca_directions(x, 5)
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    for i in range(5):
        assert abs(float(ds.vectors[i] @ vt[i])) > 0.9999
    var = s**2 / (n - 1)
    np.testing.assert_allclose(ds.stddev, np.sqrt(var[:5]), rtol=1e-4)
    np.testing.assert_allclose(ds.explained, var[:5] / var.sum(), rtol=1e-4)
