"""External latent files: the space comes from the shape (NVlabs projected_w.npz included), an ambiguous one
must be named, export and import round-trip, and a .pt with code in it is refused."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import studio
from studio.bundled import resolve_demo
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.spaces import style_inputs
from studio.render.latent_files import read_latent, write_latent


@pytest.fixture(scope="module")
def sg2():
    return studio.load(str(resolve_demo("demo:stylegan2")), "cpu")


@pytest.fixture(scope="module")
def dcgan():
    return studio.load(str(resolve_demo("demo:dcgan")), "cpu")


def test_nvlabs_projected_w_npz_is_w_plus(sg2, tmp_path):
    ws = np.random.default_rng(0).normal(size=(1, sg2.info.num_ws, sg2.info.w_dim)).astype(np.float32)
    np.savez(tmp_path / "projected_w.npz", w=ws)
    got = read_latent(tmp_path / "projected_w.npz", sg2)
    assert got.space == "w+" and isinstance(got.latent, WLatent)
    np.testing.assert_allclose(got.latent.rows(sg2.info.num_ws, sg2.info.w_dim), ws[0], rtol=1e-6)


def test_a_vector_as_long_as_z_and_w_must_be_named(sg2, tmp_path):
    assert sg2.info.z_dim == sg2.info.w_dim  # the demo's z and w both have 128 values
    np.save(tmp_path / "v.npy", np.ones(sg2.info.w_dim, np.float32))
    with pytest.raises(RecipeError, match="could be z or w"):
        read_latent(tmp_path / "v.npy", sg2)
    assert read_latent(tmp_path / "v.npy", sg2, "w").latent == WLatent((1.0,) * sg2.info.w_dim)
    assert read_latent(tmp_path / "v.npy", sg2, "z").latent == VectorLatent((1.0,) * sg2.info.z_dim)


def test_dcgan_z_from_a_pt_file_of_several(dcgan, tmp_path):
    z = torch.randn(4, dcgan.info.z_dim)
    torch.save({"z": z}, tmp_path / "codes.pt")
    got = read_latent(tmp_path / "codes.pt", dcgan, index=2)
    assert got.space == "z" and "3 of 4" in got.note
    np.testing.assert_allclose(got.latent.values, z[2].numpy(), rtol=1e-6)
    with pytest.raises(RecipeError, match="out of range"):
        read_latent(tmp_path / "codes.pt", dcgan, index=4)


def test_export_then_import_renders_the_same_w_plus(sg2, tmp_path):
    recipe = Recipe(ModelRef("x"), SeedLatent(7)).with_walk("d", (0.1,) * sg2.info.w_dim, 2.0, "w", (0, 4))
    for suffix in (".npz", ".npy", ".pt"):
        path = tmp_path / f"out{suffix}"
        assert write_latent(path, sg2, recipe) == "w+"
        back = read_latent(path, sg2)
        again = Recipe(ModelRef("x"), back.latent)
        np.testing.assert_allclose(style_inputs(sg2, [again]), style_inputs(sg2, [recipe]), atol=1e-6)


def test_dcgan_export_is_z_with_truncation_applied(dcgan, tmp_path):
    recipe = Recipe(ModelRef("x"), SeedLatent(3), truncation=0.5)
    write_latent(tmp_path / "z.npy", dcgan, recipe)
    a = np.load(tmp_path / "z.npy")
    np.testing.assert_allclose(a[0], dcgan.edited_z(recipe), rtol=1e-6)


class _Boom:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pt_with_code_is_refused_without_running_it(dcgan, tmp_path, capsys):
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(RecipeError, match="not a readable|other than tensors"):
        read_latent(tmp_path / "evil.pt", dcgan)
    assert "code ran" not in capsys.readouterr().out


@pytest.mark.parametrize("shape", [(3, 7), (5,), ()])
def test_wrong_shapes_say_what_the_model_takes(dcgan, tmp_path, shape):
    np.save(tmp_path / "bad.npy", np.zeros(shape, np.float32))
    with pytest.raises(RecipeError, match="latent|values"):
        read_latent(tmp_path / "bad.npy", dcgan)


def test_unknown_suffix(dcgan, tmp_path):
    (tmp_path / "a.txt").write_text("1 2 3")
    with pytest.raises(RecipeError, match="latent files are"):
        read_latent(tmp_path / "a.txt", dcgan)
