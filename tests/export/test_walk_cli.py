"""`walk --space w` and `walk --loop-noise`: real exports whose frames match their sidecar recipes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.cli import main
from studio.core.recipe import SeedLatent, VectorLatent
from studio.core.wspace import WLatent
from studio.export.sidecar import read_sidecar, sidecar_path
from studio.export.writers import frame_name
from studio.render.engine import ModelCache, Renderer


def _frames(folder: Path, n: int) -> np.ndarray:
    out = []
    for i in range(n):
        with Image.open(folder / frame_name(i, n)) as im:
            out.append(np.asarray(im.convert("RGB")))
    return np.stack(out)


def _check_against_sidecar(ckpt: Path, out: Path, n: int) -> list:
    """Every PNG is bit-exact to rendering its sidecar recipe on its own; returns the recipes."""
    _, recipes = read_sidecar(sidecar_path(out))
    assert len(recipes) == n
    g = ModelCache(torch.device("cpu")).get(ckpt)
    again = np.stack([Renderer().render(g, r).image for r in recipes])
    assert np.array_equal(_frames(out, n), again)
    return recipes


def test_walk_in_w_space_writes_w_latents(tmp_path, capsys):
    ckpt = tmp_path / "sg.safetensors"
    save_stylegan(ckpt, tiny_stylegan(seed=2), name="tiny")
    out = tmp_path / "wframes"
    assert main(["walk", str(ckpt), "--from-seed", "1", "--to-seed", "2", "--frames", "6", "--space", "w",
                 "--lerp", "--out", str(out)]) == 0
    recipes = _check_against_sidecar(ckpt, out, 6)
    assert recipes[0].latent == SeedLatent(1) and recipes[-1].latent == SeedLatent(2)
    assert all(isinstance(r.latent, WLatent) for r in recipes[1:-1])


def test_walk_loop_noise_around_one_seed(tiny_dcgan_safetensors, tmp_path, capsys):
    out = tmp_path / "loop"
    assert main(["walk", str(tiny_dcgan_safetensors), "--from-seed", "4", "--loop-noise", "0.3",
                 "--frames", "10", "--out", str(out)]) == 0
    assert "10 frames" in capsys.readouterr().out
    recipes = _check_against_sidecar(tiny_dcgan_safetensors, out, 10)
    assert all(isinstance(r.latent, VectorLatent) for r in recipes)
    g = ModelCache(torch.device("cpu")).get(tiny_dcgan_safetensors)
    assert np.allclose(g.edited_z(recipes[0]), g.latent(SeedLatent(4)), atol=1e-6)  # starts on the seed


@pytest.mark.parametrize("args, fragment", [
    (["--from-seed", "1", "--to-seed", "2", "--space", "w"], "needs a model with a W space"),
    (["--from-seed", "1"], "give --to-seed, or --loop-noise"),
    (["--from-seed", "1", "--loop-noise", "1.5"], "at most 1"),
])
def test_walk_errors_are_one_line(tiny_dcgan_safetensors, tmp_path, capsys, args, fragment):
    code = main(["walk", str(tiny_dcgan_safetensors), *args, "--out", str(tmp_path / "x.gif")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()


def test_walk_on_onnx_runtime_matches_torch_frames(tiny_dcgan_safetensors, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the ONNX twin's folder
    args = ["walk", str(tiny_dcgan_safetensors), "--from-seed", "1", "--to-seed", "2", "--frames", "6"]
    assert main([*args, "--out", str(tmp_path / "torch")]) == 0
    assert main([*args, "--backend", "onnx", "--batch", "3", "--out", str(tmp_path / "onnx")]) == 0
    capsys.readouterr()
    a, b = _frames(tmp_path / "torch", 6), _frames(tmp_path / "onnx", 6)
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1  # same frames, other runtime
