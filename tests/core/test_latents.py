"""Latent maths: the seed contract, priors, truncation and interpolation."""
from __future__ import annotations

import numpy as np
import pytest

from studio.core.latents import lerp, random_orthonormal, seed_to_z, seeds_to_z, slerp, truncate


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 + 5])
def test_seed_matches_numpy_randomstate(seed):
    """The cross-platform contract: seed N is numpy's legacy RandomState(N).randn(dim), like NVlabs'."""
    z = seed_to_z(seed, 512)
    assert z.dtype == np.float32 and z.shape == (512,)
    np.testing.assert_array_equal(z, np.random.RandomState(seed).randn(512).astype(np.float32))
    np.testing.assert_array_equal(z, seed_to_z(seed, 512))
    assert not np.array_equal(z, seed_to_z(seed + 1, 512))


def test_uniform_prior_stays_in_range_and_is_reproducible():
    z = seeds_to_z(range(200), 100, "uniform")
    assert z.shape == (200, 100) and z.dtype == np.float32
    assert z.min() >= -1.0 and z.max() <= 1.0
    assert z.min() < -0.99 and z.max() > 0.99 and abs(z.mean()) < 0.02  # fills the box, centred
    np.testing.assert_array_equal(z[3], np.random.RandomState(3).uniform(-1, 1, 100).astype(np.float32))
    with pytest.raises(ValueError, match="unknown latent prior"):
        seed_to_z(0, 4, "cauchy")
    assert seeds_to_z([], 7).shape == (0, 7)


def test_truncation():
    z = np.array([2.0, -4.0, 1.0], np.float32)
    mean = np.array([1.0, 0.0, 1.0], np.float32)
    np.testing.assert_allclose(truncate(z, mean, 1.0), z)
    np.testing.assert_allclose(truncate(z, mean, 0.0), mean)
    np.testing.assert_allclose(truncate(z, mean, 0.5), [1.5, -2.0, 1.0])
    np.testing.assert_allclose(truncate(z, 0.0, 0.7), 0.7 * z, rtol=1e-6)


def test_lerp_and_slerp_endpoints_and_norms():
    rs = np.random.RandomState(0)
    a, b = rs.randn(512).astype(np.float32), rs.randn(512).astype(np.float32)
    for f in (lerp, slerp):
        np.testing.assert_allclose(f(a, b, 0.0), a, atol=1e-5)
        np.testing.assert_allclose(f(a, b, 1.0), b, atol=1e-5)
    # Two nearly orthogonal Gaussian latents: the linear midpoint shrinks by ~1/sqrt(2), slerp's does not.
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    assert np.linalg.norm(lerp(a, b, 0.5)) < 0.8 * min(na, nb)
    for t in (0.25, 0.5, 0.75):
        assert min(na, nb) - 1e-3 <= np.linalg.norm(slerp(a, b, t)) <= max(na, nb) + 1e-3
    # On the unit sphere slerp keeps the norm exactly and moves at constant angular speed.
    ua, ub = a / na, b / nb
    omega = np.arccos(np.dot(ua, ub))
    m = slerp(ua, ub, 0.3)
    assert abs(np.linalg.norm(m) - 1) < 1e-5
    assert abs(np.arccos(np.clip(np.dot(m, ua), -1, 1)) - 0.3 * omega) < 1e-4
    # Degenerate inputs fall back to lerp instead of dividing by zero.
    np.testing.assert_allclose(slerp(a, a, 0.5), a, atol=1e-6)
    np.testing.assert_allclose(slerp(np.zeros(512, np.float32), b, 0.5), 0.5 * b, atol=1e-6)


def test_random_orthonormal_is_orthonormal_and_seed_stable():
    q = random_orthonormal(8, 64, seed=3)
    assert q.shape == (8, 64) and q.dtype == np.float32
    np.testing.assert_allclose(q @ q.T, np.eye(8), atol=1e-5)
    np.testing.assert_array_equal(q, random_orthonormal(8, 64, seed=3))
    assert not np.allclose(q, random_orthonormal(8, 64, seed=4))
    np.testing.assert_allclose(random_orthonormal(64, 64, seed=1) @ random_orthonormal(64, 64, seed=1).T,
                               np.eye(64), atol=1e-5)
    with pytest.raises(ValueError, match="cannot have 9 orthonormal directions in 8"):
        random_orthonormal(9, 8)
