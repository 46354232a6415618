"""Direction spaces: InterFaceGAN / GANSpace naming and the shape decide the space of an import, an
ambiguous one must be chosen, a mismatched one is refused with a message, and old files keep their meaning."""
from __future__ import annotations

import numpy as np
import pytest

from studio.core.direction_library import (DirectionFileError, DirectionMismatch, SavedDirection, apply_direction, check_compatible,
                                           import_ganspace, import_interfacegan, import_sefa, load_direction,
                                           save_direction)
from studio.core.direction_spaces import AmbiguousDirectionSpace, ModelDims, infer_space, name_hint
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model.api import ModelInfo

SAME = ModelDims(z_dim=64, w_dim=64, num_ws=8)  # the rosinality / NVlabs fixtures: z and w of one size


def _unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(1, n)).astype(np.float32)
    return v / np.linalg.norm(v)


def test_name_hints_follow_interfacegan_and_ganspace():
    assert name_hint("stylegan_ffhq_age_w_boundary.npy") == "w"
    assert name_hint("stylegan_ffhq_age_wp_boundary.npy") == "w+"
    assert name_hint("pggan_celebahq_smile_boundary.npy") is None
    assert name_hint("StyleGAN2-ffhq_style_ipca_c80_n1000000_w.npz") == "w"
    assert name_hint("smile_z_boundary.npy") == "z"


def test_w_and_wp_boundaries_import_into_their_spaces(tmp_path):
    np.save(tmp_path / "ffhq_age_w_boundary.npy", _unit(64))
    np.save(tmp_path / "ffhq_age_wp_boundary.npy", _unit(8 * 64).reshape(1, 8, 64))
    w = import_interfacegan(tmp_path / "ffhq_age_w_boundary.npy", dims=SAME)
    wp = import_interfacegan(tmp_path / "ffhq_age_wp_boundary.npy", dims=SAME)
    assert (w.space, w.dim) == ("w", 64)
    assert (wp.space, wp.dim, wp.walk_space()) == ("w+", 512, "w")


def test_flat_wp_boundary_with_rows_left_at_zero_keeps_its_row_range(tmp_path):
    rows = np.zeros((8, 64), np.float32)
    rows[2:5] = np.random.default_rng(1).normal(size=(3, 64))
    np.save(tmp_path / "hair_wp_boundary.npy", rows.reshape(1, -1))
    d = import_interfacegan(tmp_path / "hair_wp_boundary.npy", dims=SAME)
    assert d.space == "w+" and d.layers == (2, 5) and d.describe_space() == "W+ rows 2-4"


def test_unnamed_boundary_of_the_shared_size_is_ambiguous_and_a_choice_resolves_it(tmp_path):
    np.save(tmp_path / "smile_boundary.npy", _unit(64))
    with pytest.raises(AmbiguousDirectionSpace) as exc:
        import_interfacegan(tmp_path / "smile_boundary.npy", dims=SAME)
    assert exc.value.options == ["z", "w"] and "choose" in str(exc.value)
    assert import_interfacegan(tmp_path / "smile_boundary.npy", "w", dims=SAME).space == "w"
    # a size only one space has needs no choice
    assert import_interfacegan(tmp_path / "smile_boundary.npy", dims=ModelDims(128, 64, 8)).space == "w"


def test_a_boundary_made_for_another_model_is_refused_with_its_sizes(tmp_path):
    np.save(tmp_path / "ffhq_age_wp_boundary.npy", _unit(18 * 512))
    with pytest.raises(DirectionMismatch, match=r"9216 values and this model's W\+ has 512"):
        import_interfacegan(tmp_path / "ffhq_age_wp_boundary.npy", dims=SAME)
    np.save(tmp_path / "age_w_boundary.npy", _unit(64))
    with pytest.raises(DirectionMismatch, match="no W space"):
        import_interfacegan(tmp_path / "age_w_boundary.npy", dims=ModelDims(64))
    with pytest.raises(DirectionMismatch, match="Z was chosen, but the direction has 64 values"):
        import_interfacegan(tmp_path / "age_w_boundary.npy", "z", dims=ModelDims(100))
    np.save(tmp_path / "smile_boundary.npy", _unit(64))
    with pytest.raises(DirectionMismatch, match=r"fits none of this model's spaces \(Z 100\)"):
        import_interfacegan(tmp_path / "smile_boundary.npy", dims=ModelDims(100))


def test_ganspace_components_keep_their_w_tag_and_sefa_checks_w(tmp_path):
    comp = np.random.default_rng(2).normal(size=(5, 1, 64)).astype(np.float32)
    np.savez(tmp_path / "comps_w.npz", lat_comp=comp, lat_stdev=np.ones(5, np.float32))
    assert import_ganspace(tmp_path / "comps_w.npz", dims=SAME).space == "w"
    np.savez(tmp_path / "comps.npz", lat_comp=comp, lat_stdev=np.ones(5, np.float32))
    with pytest.raises(AmbiguousDirectionSpace):
        import_ganspace(tmp_path / "comps.npz", dims=SAME)
    np.save(tmp_path / "sefa.npy", comp[:, 0])
    with pytest.raises(DirectionMismatch, match="W has 32"):
        import_sefa(tmp_path / "sefa.npy", dims=ModelDims(64, 32, 8))


def test_without_a_model_imports_mean_what_they_meant_before(tmp_path):
    np.save(tmp_path / "smile_boundary.npy", _unit(64))
    assert import_interfacegan(tmp_path / "smile_boundary.npy").space == "z"
    assert infer_space("x.npy", (8, 64), None) == "w+"


def test_old_library_files_load_with_their_space(tmp_path):
    old = SavedDirection("old", _unit(64), "w", "user", layers=(0, 4))
    d = load_direction(save_direction(old, tmp_path / "old"))
    assert (d.space, d.layers) == ("w", (0, 4))


def _info(**kw) -> ModelInfo:
    base = dict(family="StyleGAN", format="t", resolution=32, z_dim=64, w_dim=64, num_ws=8,
                layer_names=("b4", "b8"))
    return ModelInfo(**{**base, **kw})


def test_applying_a_direction_of_the_wrong_space_or_size_is_refused():
    r = Recipe(ModelRef("m"), SeedLatent(1))
    wp = SavedDirection("wp", _unit(512), "w+")
    walked = apply_direction(r, wp, 0, 2.0, _info())
    assert walked.edits[0].space == "w" and len(walked.edits[0].direction) == 512
    with pytest.raises(DirectionMismatch, match="does not have"):
        apply_direction(r, SavedDirection("w", _unit(64), "w"), 0, 1.0, _info(w_dim=0, num_ws=0, family="DCGAN"))
    with pytest.raises(DirectionMismatch, match=r"has 512 values but this model's W\+ has 1024"):
        apply_direction(r, wp, 0, 1.0, _info(num_ws=16))
    act = SavedDirection("a", _unit(32), "act:b8")
    assert act.describe_space() == "activations of b8"
    with pytest.raises(DirectionMismatch, match="no latent walk moves"):
        check_compatible(act, _info(), "")
    with pytest.raises(DirectionMismatch, match="does not have"):
        check_compatible(SavedDirection("a", _unit(32), "act:b64"), _info(), "")


def test_a_boundary_kept_as_pt_or_npz_imports_like_the_npy(tmp_path):
    import torch

    v = _unit(8 * 64).reshape(1, 8, 64)
    torch.save(torch.from_numpy(v), tmp_path / "age_wp_boundary.pt")
    np.savez(tmp_path / "age_w_boundary.npz", boundary=v[:, 0], other=np.zeros(3))
    wp = import_interfacegan(tmp_path / "age_wp_boundary.pt", dims=SAME)
    assert (wp.space, wp.dim) == ("w+", 512)
    np.testing.assert_allclose(wp.vectors[0], v.reshape(-1) / np.linalg.norm(v), rtol=1e-5)
    assert import_interfacegan(tmp_path / "age_w_boundary.npz", dims=SAME).space == "w"
    torch.save({"a": torch.ones(3), "b": torch.ones(3)}, tmp_path / "two.pt")
    with pytest.raises(DirectionFileError, match="holds a, b; a boundary file holds one array"):
        import_interfacegan(tmp_path / "two.pt", dims=SAME)
    import pickle

    (tmp_path / "code.pt").write_bytes(pickle.dumps(print))
    with pytest.raises(DirectionFileError, match="could not be read safely"):
        import_interfacegan(tmp_path / "code.pt", dims=SAME)
