"""The generator API's W space and seeds-to-latents, the helpers built on them, and families through the
registry: one definition each, and a family's own `latent` or `map` is what every caller gets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import studio
from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.recipe import SeedLatent
from studio.errors import RecipeError, StudioError
from studio.model.registry import Registry, family
from studio.model.spaces import check_space, default_space, seed_vectors, spaces, w_vectors
from studio.render.analysis import fit_hand_labels, pca_job, run_job


@pytest.fixture
def dcgan(tiny_dcgan_safetensors: Path):
    return studio.load(str(tiny_dcgan_safetensors), device="cpu")


@pytest.fixture
def sg(tmp_path: Path):
    """A tiny StyleGAN2 loaded through the registry, as a user's file would be."""
    return Registry.discover(search_paths=[]).open(_saved(tmp_path / "sg.safetensors"))


def _saved(path: Path) -> Path:
    save_stylegan(path, tiny_stylegan(resolution=32, seed=2), name="tiny")
    return path


def test_a_model_without_a_mapping_network_has_no_w(dcgan):
    assert not dcgan.has_w and spaces(dcgan) == ("z",) and default_space(dcgan) == "z"
    with pytest.raises(RecipeError, match="no W space"):
        dcgan.map(dcgan.latents([0]))
    with pytest.raises(RecipeError, match="no W space"):
        check_space(dcgan, "w")
    with pytest.raises(RecipeError, match="unknown latent space 'q'"):
        check_space(dcgan, "q")


def test_w_vectors_are_the_mapping_networks_first_row(sg):
    assert sg.has_w and spaces(sg) == ("z", "w") and default_space(sg) == "w"
    z = sg.latents([3, 4])
    assert torch.equal(z, torch.from_numpy(np.stack([sg.latent(SeedLatent(s)) for s in (3, 4)])))
    assert np.allclose(w_vectors(sg, z), sg.map(z)[:, 0].numpy())
    assert np.allclose(seed_vectors(sg, [3, 4], "w"), w_vectors(sg, z.numpy()))


def test_a_familys_own_latent_reaches_every_caller(dcgan):
    """Seed vectors, PCA sampling and hand-label fits all go through Generator.latents -> latent."""
    d = dcgan.info.z_dim
    dcgan.latent = lambda spec: np.full(d, float(spec.seed % 7), np.float32)  # a family's own seeding
    assert np.array_equal(seed_vectors(dcgan, [1, 9])[:, 0], [1.0, 2.0])
    seeds = list(range(40))
    labels = [s % 7 >= 4 for s in seeds]  # separable only in the family's own latents
    fitted = fit_hand_labels(dcgan, seeds, labels, "big")
    assert fitted.fit.train_accuracy == 1.0 and fitted.direction.model_sha256 == dcgan.model_id
    pca = run_job(pca_job(dcgan, k=2, n_samples=40, batch=20))
    assert pca.vectors.shape == (2, d) and np.allclose(np.abs(pca.vectors[0]), 1 / np.sqrt(d), atol=1e-3)


def test_families_are_reached_through_the_registry():
    reg = Registry.discover(search_paths=[])
    nets = family("stylegan", reg).networks()
    assert nets.StyleGAN2Config.__name__ == "StyleGAN2Config" and callable(nets.save)
    assert callable(family("ONNX", reg).export) and callable(family("DCGAN", reg).networks().build)
    with pytest.raises(StudioError, match="the VQGAN generator family is not installed"):
        family("VQGAN", reg)
