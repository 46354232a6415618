"""Direction files: round trip, imports of the other tools' formats, and refusals with clear messages."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from studio.core.direction_library import (DirectionFileError, DirectionLibrary, DirectionMismatch, SavedDirection,
                                           check_compatible, export_npy, import_file, import_ganspace,
                                           import_interfacegan, import_sefa, load_direction, matches_model,
                                           save_direction)
from studio.core.workspace import Workspace
from studio.core.project import Project, load_project, save_project
from studio.core.recipe import ModelRef, Recipe, SeedLatent

SHA_A, SHA_B = "a" * 64, "b" * 64


def _info(z_dim=16, w_dim=0, num_ws=0, family="dcgan"):
    return SimpleNamespace(z_dim=z_dim, w_dim=w_dim, num_ws=num_ws, family=family, capabilities={"walk"})


def _direction(**kw) -> SavedDirection:
    rng = np.random.default_rng(0)
    base = dict(name="Smiling", vectors=rng.normal(size=(2, 16)), space="z", source="fitted:Smiling",
                model_sha256=SHA_A, model_name="dcgan.safetensors", created="2026-01-01T00:00:00+00:00",
                stddev=np.array([1.5, 0.5]), explained=np.array([0.3, 0.1]), info={"held_out_accuracy": 0.9})
    base.update(kw)
    return SavedDirection(**base)


def test_lsdir_round_trip_keeps_vectors_and_metadata(tmp_path: Path):
    d = _direction(layers=(0, 4), space="w", vectors=np.random.default_rng(1).normal(size=(2, 8)))
    path = save_direction(d, tmp_path / "smile")
    assert path.suffix == ".lsdir" and path.exists()
    back = load_direction(path)
    assert np.array_equal(back.vectors, d.vectors)
    np.testing.assert_allclose(np.linalg.norm(back.vectors, axis=1), 1.0, rtol=1e-6)
    assert back.meta() == d.meta()
    assert np.array_equal(back.stddev, d.stddev) and np.array_equal(back.explained, d.explained)
    # and through a project file (JSON)
    proj = tmp_path / "p.lsproj"
    ref = ModelRef("m.safetensors", SHA_A)
    save_project(Project.of(Workspace(Recipe(ref, SeedLatent(0)), directions=(d,))), proj)
    loaded = load_project(proj).workspace.directions[0]
    assert loaded.meta() == d.meta() and np.allclose(loaded.vectors, d.vectors)


def test_lsdir_is_never_a_pickle_and_bad_files_say_why(tmp_path: Path):
    bad = tmp_path / "x.lsdir"
    bad.write_bytes(b"\x80\x04garbage")
    with pytest.raises(DirectionFileError, match="not a Latent Studio direction file"):
        load_direction(bad)
    from safetensors.numpy import save_file

    save_file({"vectors": np.ones((1, 4), np.float32)}, str(bad), metadata={"format": "latent-studio-direction",
                                                                            "version": "9", "meta": "{}"})
    with pytest.raises(DirectionFileError, match="newer Latent Studio"):
        load_direction(bad)
    save_file({"vectors": np.ones((1, 4), np.float32)}, str(bad), metadata={"format": "latent-studio-direction",
              "version": "1", "meta": json.dumps({"name": "x", "space": "q"})})
    with pytest.raises(DirectionFileError, match="unknown latent space 'q'"):
        load_direction(bad)


def test_import_interfacegan_boundary_shapes(tmp_path: Path):
    v = np.random.default_rng(2).normal(size=(1, 16)).astype(np.float32)
    np.save(tmp_path / "boundary.npy", v / np.linalg.norm(v))
    d = import_interfacegan(tmp_path / "boundary.npy")
    assert d.source == "interfacegan" and d.vectors.shape == (1, 16)
    np.testing.assert_allclose(d.vectors[0], v[0] / np.linalg.norm(v), rtol=1e-5)
    np.save(tmp_path / "flat.npy", v[0] * 3)  # [dim] is accepted and normalised
    np.testing.assert_allclose(import_interfacegan(tmp_path / "flat.npy").vectors, d.vectors, rtol=1e-5)
    np.save(tmp_path / "two.npy", np.ones((2, 16), np.float32))
    with pytest.raises(DirectionFileError, match=r"shape \[1, dim\], \[dim\] or \[1, layers, dim\], not \[2, 16\]"):
        import_interfacegan(tmp_path / "two.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DirectionFileError, match="pickle"):
        import_interfacegan(tmp_path / "obj.npy")
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    with pytest.raises(DirectionFileError, match="dtype"):
        import_interfacegan(tmp_path / "text.npy")


def test_import_ganspace_components(tmp_path: Path):
    rng = np.random.default_rng(3)
    comp = rng.normal(size=(5, 1, 16)).astype(np.float32)  # GANSpace keeps the latent shape [1, dim]
    comp /= np.linalg.norm(comp, axis=-1, keepdims=True)
    path = tmp_path / "stylegan2-ffhq_style_ipca_c5_n1000_w.npz"
    np.savez_compressed(path, act_comp=rng.normal(size=(5, 32)).astype(np.float32), lat_comp=comp,
                        lat_mean=np.zeros((1, 16), np.float32), lat_stdev=np.arange(1, 6, dtype=np.float32),
                        var_ratio=np.array([.4, .2, .1, .05, .02], np.float32))
    d = import_ganspace(path)
    assert d.space == "w" and d.source == "ganspace" and d.vectors.shape == (5, 16)  # "_w" tag: W space
    np.testing.assert_allclose(d.vectors, comp[:, 0], rtol=1e-5)
    np.testing.assert_allclose(d.stddev, [1, 2, 3, 4, 5])
    np.testing.assert_allclose(d.explained, [.4, .2, .1, .05, .02])
    z_path = tmp_path / "biggan_generator.gen_z_ipca_c5_n1000.npz"
    np.savez(z_path, lat_comp=comp, lat_stdev=np.ones(5, np.float32))
    assert import_ganspace(z_path).space == "z"
    np.savez(tmp_path / "wrong.npz", lat_comp=comp, lat_stdev=np.ones(4, np.float32))
    with pytest.raises(DirectionFileError, match="lat_stdev has 4 values for 5 components"):
        import_ganspace(tmp_path / "wrong.npz")
    np.savez(tmp_path / "other.npz", weights=comp)
    with pytest.raises(DirectionFileError, match="not a GANSpace components file: no lat_comp, lat_stdev"):
        import_ganspace(tmp_path / "other.npz")


def test_import_sefa_formats_sorted_by_eigenvalue(tmp_path: Path):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(40, 16))
    a /= np.linalg.norm(a, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(a.T @ a)  # what official SeFa's factorize_weight computes
    boundaries = vectors.T
    top = boundaries[np.argmax(values)]
    np.savez(tmp_path / "sefa.npz", boundaries=boundaries, values=values, layers=np.array([2, 3, 4, 5]))
    d = import_sefa(tmp_path / "sefa.npz", k=3)
    assert d.space == "w" and d.source == "sefa" and d.vectors.shape == (3, 16) and d.layers == (2, 6)
    assert abs(float(d.vectors[0] @ top)) > 0.9999
    assert np.all(np.diff(d.explained) <= 0)
    np.save(tmp_path / "boundaries.npy", boundaries)
    assert import_sefa(tmp_path / "boundaries.npy", k=16).vectors.shape == (16, 16)
    # closed_form_factorization's factor.pt: eigenvectors in columns, read with the weights-only loader
    torch.save({"ckpt": "stylegan2.pt", "eigvec": torch.from_numpy(boundaries.T.copy())}, tmp_path / "factor.pt")
    np.testing.assert_allclose(import_sefa(tmp_path / "factor.pt", k=2).vectors, boundaries[:2], atol=1e-6)
    torch.save({"eigvec": [1, 2]}, tmp_path / "bad.pt")
    with pytest.raises(DirectionFileError, match="'eigvec' tensor"):
        import_sefa(tmp_path / "bad.pt")
    with pytest.raises(DirectionFileError, match="SeFa directions are read from"):
        import_sefa(tmp_path / "x.txt")


def test_export_npy_reimports_as_interfacegan(tmp_path: Path):
    d = _direction()
    out = export_npy(d, tmp_path / "smile.npy", row=1)
    back = import_file(out, "interfacegan")
    np.testing.assert_allclose(back.vectors[0], d.vectors[1], rtol=1e-6)


def test_mismatch_refusals_name_the_problem():
    d = _direction()
    check_compatible(d, _info(), SHA_A)  # same model: fine
    with pytest.raises(DirectionMismatch, match=r"has 16 values but this model's Z has 100"):
        check_compatible(d, _info(z_dim=100), SHA_A)
    with pytest.raises(DirectionMismatch, match=r"W space, which this model \(dcgan\) does not have"):
        check_compatible(_direction(space="w"), _info(), SHA_A)
    with pytest.raises(DirectionMismatch) as exc:
        check_compatible(d, _info(), SHA_B, "other.safetensors")
    msg = str(exc.value)
    assert "dcgan.safetensors" in msg and "other.safetensors" in msg and SHA_A[:12] in msg and SHA_B[:12] in msg
    check_compatible(d, _info(), SHA_B, allow_other_model=True)  # the explicit override
    with pytest.raises(DirectionMismatch):  # the override never covers a size mismatch
        check_compatible(d, _info(z_dim=8), SHA_B, allow_other_model=True)
    wplus = _direction(space="w+", vectors=np.ones((1, 4 * 8)), stddev=None, explained=None)
    check_compatible(wplus, _info(w_dim=8, num_ws=4), SHA_A)
    assert matches_model(d, _info(), SHA_B) == "other model"
    assert matches_model(d, _info(z_dim=3), SHA_A) == "mismatch"
    assert matches_model(_direction(model_sha256=""), _info(), SHA_A) == "any model"


def test_library_add_rename_delete(tmp_path: Path):
    lib = DirectionLibrary(tmp_path / "lib")
    assert lib.entries() == []
    p1 = lib.add(_direction())
    p2 = lib.add(_direction())  # same name: a second file, never an overwrite
    assert p1 != p2 and len(lib.entries()) == 2
    p3 = lib.rename(p2, "Big smile")
    assert not p2.exists() and load_direction(p3).name == "Big smile"
    (tmp_path / "lib" / "junk.lsdir").write_text("nope")
    names = sorted(d.name for _, d in lib.entries())
    assert names == ["Big smile", "Smiling"] and len(lib.errors) == 1 and "junk.lsdir" in lib.errors[0]
    lib.delete(p1)
    assert [d.name for _, d in lib.entries()] == ["Big smile"]
