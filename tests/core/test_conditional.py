"""Conditional manipulation: the projection keeps every kept boundary's margin fixed to first order."""
from __future__ import annotations

import numpy as np
import pytest

from studio.core.conditional import ProjectionError, cosines, project_orthogonal
from studio.core.labelled import fit_labelled


def test_one_boundary_is_interfacegans_projection():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    b /= np.linalg.norm(b)
    a_unit = a / np.linalg.norm(a)
    want = a_unit - (a_unit @ b) * b
    assert np.allclose(project_orthogonal(a, [b]), want / np.linalg.norm(want), atol=1e-6)


def test_several_correlated_boundaries_are_all_removed_in_any_order():
    rng = np.random.default_rng(1)
    base = rng.normal(size=32)
    kept = [base + 0.3 * rng.normal(size=32) for _ in range(3)]  # far from orthogonal to one another
    d = base + rng.normal(size=32)
    out = project_orthogonal(d, kept)
    assert abs(np.linalg.norm(out) - 1) < 1e-6
    assert max(abs(c) for c in cosines(out, {str(i): k for i, k in enumerate(kept)}).values()) < 1e-5
    assert np.allclose(out, project_orthogonal(d, kept[::-1]), atol=1e-5)
    # what is left is as close to d as the constraint allows: the least-squares answer, not Gram-Schmidt's
    # residual of one boundary at a time against the raw others
    assert out @ (d / np.linalg.norm(d)) > 0.1


def test_a_direction_inside_the_kept_span_or_of_another_size_is_refused():
    b = np.eye(4)[:2]
    with pytest.raises(ProjectionError, match="lies in the span"):
        project_orthogonal(b[0] + 2 * b[1], list(b))
    with pytest.raises(ProjectionError, match="5 values but the direction 4"):
        project_orthogonal(np.ones(4), [np.ones(5)])


def test_fit_with_kept_attributes_records_the_cosines_and_walks_off_their_boundaries():
    """Two planted attributes whose true normals share 0.6 of their length: fitting the first with the second
    kept fixed gives a direction orthogonal to the second's fitted boundary, still moving the first."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 20))
    n1 = np.zeros(20); n1[0] = 1
    n2 = np.zeros(20); n2[0], n2[1] = 0.6, 0.8
    labels = {"A": (np.ones(3000, bool), x @ n1 > 0), "B": (np.ones(3000, bool), x @ n2 > 0)}
    plain = fit_labelled(x, labels, "A", "A", "z", "sha")
    cond = fit_labelled(x, labels, "A", "A", "z", "sha", keep_fixed=("B",))
    assert plain.plain is None and cond.plain is not None and set(cond.kept) == {"B"}
    v = cond.direction.vectors[0].astype(np.float64)
    assert abs(v @ cond.kept["B"].direction) < 1e-5
    assert cond.direction.info["cosine_to_kept_before"]["B"] == pytest.approx(0.6, abs=0.05)
    assert v @ n1 > 0.7 and abs(v @ n2) < 0.05  # still edits A, no longer B
    assert plain.direction.vectors[0] @ n2 > 0.5
    with pytest.raises(ValueError, match="both edited and kept fixed"):
        fit_labelled(x, labels, "A", "A", "z", "sha", keep_fixed=("A",))
