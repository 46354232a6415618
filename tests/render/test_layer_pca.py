"""GANSpace on any stage: PCA of a layer's activations regressed back to the latent the sliders walk, the
decomposed layer and the samples' mean kept (for coordinates), and a constant layer refused."""
from __future__ import annotations

import numpy as np
import pytest

import studio
from studio.bundled import resolve_demo
from studio.core.workspace import pca_from_dict, pca_to_dict
from studio.errors import RecipeError
from studio.render.analysis import decomposable_layers, layer_pca_job, pca_job, run_job


@pytest.fixture(scope="module")
def sg2():
    return studio.load(str(resolve_demo("demo:stylegan2")), "cpu")


def test_a_middle_layer_decomposes_into_w_directions(sg2):
    layer = decomposable_layers(sg2)[3]
    ds = run_job(layer_pca_job(sg2, layer, k=4, n_samples=300, batch=100))
    assert (ds.space, ds.layer, ds.vectors.shape) == ("w", layer, (4, sg2.info.w_dim))
    np.testing.assert_allclose(np.linalg.norm(ds.vectors, axis=1), 1, rtol=1e-5)
    assert (np.diff(ds.explained) <= 1e-6).all() and ds.explained[0] > 0.05
    default = run_job(pca_job(sg2, k=4, n_samples=300, batch=100))
    assert default.layer == "" and default.mean is not None and default.mean.shape == (sg2.info.w_dim,)
    assert abs(float(ds.vectors[0] @ default.vectors[0])) < 0.999  # another decomposition, not W's PCA
    back = pca_from_dict(pca_to_dict(ds))  # kept with the workspace: the layer and the mean too
    assert back.layer == layer and np.allclose(back.mean, ds.mean)


def test_the_constant_input_and_unknown_layers_are_refused(sg2):
    with pytest.raises(RecipeError, match="does not change with the latent"):
        run_job(layer_pca_job(sg2, "const", k=4, n_samples=50, batch=50))
    with pytest.raises(RecipeError, match="no layer 'nope'"):
        run_job(layer_pca_job(sg2, "nope"))
