"""`latent-studio convert IN --out X.safetensors`: StyleGAN checkpoints to our format, rendering identically."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latent_studio_plugins.stylegan.testing import tiny_stylegan, to_rosinality, write_nvlabs_pickle
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model.registry import Registry
from studio.render.engine import Renderer
from tests.conftest import shared_path
from conftest import run_cli as run


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])



def renders(registry: Registry, path: Path, seeds=(0, 7)) -> list[np.ndarray]:
    g = registry.open(path)
    out = []
    for s in seeds:
        for psi in (1.0, 0.6):
            frame = Renderer().render(g, Recipe(ModelRef(str(path)), SeedLatent(s), psi))
            assert frame.ok, frame.error
            out.append(frame.image)
    return out


def assert_converts_identically(capsys, registry: Registry, src: Path, dst: Path) -> str:
    code, out, err = run(capsys, "convert", src, "--out", dst)
    assert code == 0, err
    g = registry.open(dst)
    assert g.info.format == "Latent Studio safetensors"
    assert all(np.array_equal(a, b) for a, b in zip(renders(registry, src), renders(registry, dst)))
    return out


def test_nvlabs_and_rosinality_pickles_convert_to_identical_safetensors(capsys, registry, tmp_path):
    net = tiny_stylegan(seed=6)
    pkl = tmp_path / "network-snapshot-000010.pkl"
    write_nvlabs_pickle(pkl, net)
    out = assert_converts_identically(capsys, registry, pkl, tmp_path / "nv.safetensors")
    assert "stylegan2 32x32 from NVlabs network pickle" in out and "loads back identically" in out
    ros = tmp_path / "010000.pt"
    torch.save({"g_ema": to_rosinality(net), "latent_avg": net.mapping.w_avg.clone()}, ros)
    assert_converts_identically(capsys, registry, ros, tmp_path / "ros.safetensors")
    cond = tmp_path / "cond.pkl"
    write_nvlabs_pickle(cond, tiny_stylegan(c_dim=3, seed=2))
    assert_converts_identically(capsys, registry, cond, tmp_path / "cond.safetensors")
    assert registry.open(tmp_path / "cond.safetensors").info.c_dim == 3


def test_half_precision_halves_the_file(capsys, registry, tmp_path):
    pkl = tmp_path / "g.pkl"
    write_nvlabs_pickle(pkl, tiny_stylegan(seed=1))
    assert run(capsys, "convert", pkl, "--out", tmp_path / "full.safetensors")[0] == 0
    code, out, err = run(capsys, "convert", pkl, "--out", tmp_path / "half.safetensors", "--half")
    assert code == 0 and "fp16" in out, err
    size = {n: (tmp_path / f"{n}.safetensors").stat().st_size for n in ("full", "half")}
    assert size["half"] < 0.6 * size["full"]
    a, b = (renders(registry, tmp_path / n)[0].astype(int) for n in ("full.safetensors", "half.safetensors"))
    assert np.abs(a - b).mean() < 2


def test_refuses_to_overwrite_and_explains_bad_input_in_one_line(capsys, tmp_path, tiny_dcgan_path):
    pkl = tmp_path / "g.pkl"
    write_nvlabs_pickle(pkl, tiny_stylegan(seed=1))
    dst = tmp_path / "out.safetensors"
    dst.write_bytes(b"mine")
    code, _, err = run(capsys, "convert", pkl, "--out", dst)
    assert code != 0 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert dst.read_bytes() == b"mine"
    # --force replaces only a file the studio wrote
    code, _, err = run(capsys, "convert", pkl, "--out", dst, "--force")
    assert code == 2 and "refusing to overwrite" in err and len(err.strip().splitlines()) == 1
    assert dst.read_bytes() == b"mine"
    dst.unlink()
    assert run(capsys, "convert", pkl, "--out", dst)[0] == 0
    code, _, err = run(capsys, "convert", pkl, "--out", dst, "--force")
    assert code == 0, err
    cases = [
        (["convert", tiny_dcgan_path, "--out", tmp_path / "d.safetensors"], "reads StyleGAN2/3"),
        (["convert", pkl, "--to", "safetensors", "--out", tmp_path / "x.pt"], "writes a .safetensors file"),
        (["convert", tmp_path / "nope.pkl", "--out", tmp_path / "n.safetensors"], "nope.pkl"),
        (["convert", pkl, "--out", tmp_path / "missing" / "m.safetensors"], "does not exist"),
    ]
    for argv, what in cases:
        code, _, err = run(capsys, *argv)
        assert code != 0 and what in err and len(err.strip().splitlines()) == 1, err
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["g.pkl", "netG_epoch_3.pth", "out.safetensors"]  # no partial files


@pytest.mark.parametrize("parts", [
    ("stylegan2_rosinality", "010000.pt"),
    ("stylegan2_rosinality", "converted_g_ema_latent_avg.pt"),
    ("stylegan2ada_nvlabs", "uncond", "network-snapshot-000000.pkl"),
    ("stylegan2ada_nvlabs", "cond", "network-snapshot-000000.pkl"),
    ("stylegan3_nvlabs", "stylegan3-t", "network-snapshot-000000.pkl"),
    ("stylegan3_nvlabs", "stylegan3-r", "network-snapshot-000000.pkl"),
])
def test_shared_fixtures_convert_identically(capsys, registry, tmp_path, parts):
    src = shared_path("fixtures", *parts)
    assert_converts_identically(capsys, registry, src, tmp_path / "converted.safetensors")
