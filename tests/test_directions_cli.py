"""`directions import|apply` on the StyleGAN fixtures (z and w of one size): InterFaceGAN's W and W+
boundaries land in W and W+, an unnamed one needs --space, and a direction made for another model is refused
by the engine's check, in one line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, shared_path
from studio.core.direction_library import load_direction
from studio.core.recipe import ModelRef, Recipe, SeedLatent

FIXTURES = {  # path under fixtures, (w_dim, num_ws) from their manifests
    "rosinality": (("stylegan2_rosinality", "010000.pt"), (64, 8)),
    "ada": (("stylegan2ada_nvlabs", "uncond", "network-snapshot-000000.pkl"), (64, 8)),
    "sg3": (("stylegan3_nvlabs", "stylegan3-t", "network-snapshot-000000.pkl"), (32, 16)),
}


def _unit(shape, seed=0):
    v = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_interfacegan_w_and_wp_boundaries_import_into_their_spaces(name, tmp_path, capsys):
    parts, (w_dim, num_ws) = FIXTURES[name]
    model = shared_path("fixtures", *parts)
    np.save(tmp_path / "toy_age_w_boundary.npy", _unit((1, w_dim)))
    np.save(tmp_path / "toy_age_wp_boundary.npy", _unit((1, num_ws, w_dim)))
    for stem, space, dim in (("toy_age_w_boundary", "w", w_dim), ("toy_age_wp_boundary", "w+", w_dim * num_ws)):
        code, out, err = run_cli(capsys, "directions", "import", tmp_path / f"{stem}.npy", "--model", model,
                                 "--out", tmp_path / f"{stem}.lsdir", "--device", "cpu")
        assert code == 0, err
        d = load_direction(tmp_path / f"{stem}.lsdir")
        assert (d.space, d.dim, d.source) == (space, dim, "interfacegan")
        assert d.model_sha256  # tied to the fixture it was imported for
    # z and w have the same size: a boundary whose name says nothing must be told its space
    np.save(tmp_path / "smile_boundary.npy", _unit((1, w_dim)))
    code, _, err = run_cli(capsys, "directions", "import", tmp_path / "smile_boundary.npy", "--model", model,
                           "--out", tmp_path / "smile.lsdir", "--device", "cpu")
    assert code == 2 and "--space z or --space w" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "smile.lsdir").exists()
    code, _, err = run_cli(capsys, "directions", "import", tmp_path / "smile_boundary.npy", "--model", model,
                           "--space", "w", "--out", tmp_path / "smile.lsdir", "--device", "cpu")
    assert code == 0 and load_direction(tmp_path / "smile.lsdir").space == "w"


@pytest.mark.shared
def test_a_wp_direction_walks_its_rows_and_a_mismatched_one_is_refused(tmp_path, capsys):
    ada = shared_path("fixtures", *FIXTURES["ada"][0])
    sg3 = shared_path("fixtures", *FIXTURES["sg3"][0])
    rows = np.zeros((8, 64), np.float32)
    rows[0:2] = _unit((2, 64), 3)
    np.save(tmp_path / "hair_wp_boundary.npy", rows.reshape(1, -1))
    assert run_cli(capsys, "directions", "import", tmp_path / "hair_wp_boundary.npy", "--model", ada,
                   "--out", tmp_path / "hair.lsdir", "--device", "cpu")[0] == 0
    d = load_direction(tmp_path / "hair.lsdir")
    assert d.layers == (0, 2)
    (tmp_path / "r.json").write_text(Recipe(ModelRef(str(ada)), SeedLatent(3)).to_json())
    code, _, err = run_cli(capsys, "directions", "apply", tmp_path / "r.json", tmp_path / "hair.lsdir",
                           "--model", ada, "--amount", "2", "--out", tmp_path / "walked.json", "--device", "cpu")
    assert code == 0, err
    walk = json.loads((tmp_path / "walked.json").read_text())["edits"][0]
    assert walk["space"] == "w" and walk["layers"] == [0, 2] and len(walk["direction"]) == 512
    # on StyleGAN3 (16 x 32 style inputs: also 512 values) it is another model's, and its rows are not these
    bad = ("directions", "apply", tmp_path / "r.json", tmp_path / "hair.lsdir", "--model", sg3, "--amount", "2",
           "--out", tmp_path / "bad.json", "--device", "cpu")
    code, _, err = run_cli(capsys, *bad, "--other-model")
    assert code == 2 and "W+ direction of 8 style inputs of 64 values; this model has 16 of 32" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "bad.json").exists()
    # a W boundary of ada's 64 values on StyleGAN3's 32-value W: refused by size
    np.save(tmp_path / "age_w_boundary.npy", _unit((1, 64)))
    code, _, err = run_cli(capsys, "directions", "import", tmp_path / "age_w_boundary.npy", "--model", sg3,
                           "--out", tmp_path / "age.lsdir", "--device", "cpu")
    assert code == 2 and "64 values and this model's W has 32" in err


def test_the_kind_is_guessed_from_the_file(tmp_path):
    import torch

    from studio.cli.directions import guess_kind

    np.savez(tmp_path / "g.npz", lat_comp=np.ones((2, 1, 4)), lat_stdev=np.ones(2))
    np.savez(tmp_path / "s.npz", boundaries=np.ones((2, 4)))
    np.savez(tmp_path / "b.npz", boundary=np.ones((1, 4)))
    torch.save({"ckpt": "x", "eigvec": torch.ones(4, 2)}, tmp_path / "s.pt")
    torch.save(torch.ones(1, 4), tmp_path / "b.pt")
    got = {p: guess_kind(tmp_path / p) for p in ("g.npz", "s.npz", "b.npz", "s.pt", "b.pt", "x.npy")}
    assert got == {"g.npz": "ganspace", "s.npz": "sefa", "b.npz": "interfacegan", "s.pt": "sefa",
                   "b.pt": "interfacegan", "x.npy": "interfacegan"}
