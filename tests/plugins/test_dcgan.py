"""DCGAN family: conformance with the official code's outputs, and every supported file layout."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import make_dcgan, shared_path
from latent_studio_plugins.dcgan.save import save_dcgan
from studio.model.registry import Registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


@pytest.mark.shared
def test_conformance_with_pytorch_examples_fixture(registry):
    folder = shared_path("fixtures", "dcgan_pytorch_examples")
    manifest = json.loads((folder / "manifest.json").read_text())
    g = registry.open(folder / manifest["checkpoint"]["file"])
    assert (g.info.family, g.info.resolution, g.info.z_dim, g.info.channels) == ("dcgan", 64, 100, 3)
    z = np.load(folder / "z.npy")
    out = g.generate(torch.from_numpy(z).reshape(len(z), -1)).numpy()
    ref = np.load(folder / "out.npy")
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-5
    # The train-mode reference differs clearly: the comparison above would catch BatchNorm left in train mode.
    assert np.abs(out - np.load(folder / "out_train_mode.npy")).max() > 1e-2


def _direct(net: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(z.reshape(len(z), -1, 1, 1))


def _sd(net: torch.nn.Module, prefix: str) -> dict:
    return {prefix + k: v for k, v in net.state_dict().items()}


LAYOUTS = {
    "pytorch-examples": lambda net, p: torch.save(_sd(net, "main."), p),
    "huggan": lambda net, p: torch.save(_sd(net, "model."), p),
    "bare-sequential": lambda net, p: torch.save(_sd(net, ""), p),
    "data-parallel": lambda net, p: torch.save(_sd(net, "module.main."), p),
    "container-netG": lambda net, p: torch.save({"netG": _sd(net, "main."), "netD": {"x": torch.zeros(1)},
                                                 "epoch": 5}, p),
    "container-state_dict": lambda net, p: torch.save({"state_dict": _sd(net, "module.main.")}, p),
    "legacy-serialization": lambda net, p: torch.save(_sd(net, "main."), p,
                                                      _use_new_zipfile_serialization=False),
    "plain-safetensors": lambda net, p: __import__("safetensors.torch").torch.save_file(
        {k: v.contiguous() for k, v in _sd(net, "model.").items()}, str(p)),
    "studio-safetensors": lambda net, p: save_dcgan(p, net, name="mine"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_give_the_same_images_as_the_torch_module(registry, tmp_path, layout):
    net = make_dcgan(z_dim=12, ngf=8, seed=3)
    path = tmp_path / ("g.safetensors" if "safetensors" in layout else "g.pth")
    LAYOUTS[layout](net, path)
    g = registry.open(path)
    assert (g.info.family, g.info.resolution, g.info.z_dim) == ("dcgan", 32, 12)
    z = g.latents(range(5))
    assert torch.allclose(g.generate(z), _direct(net, z), atol=1e-6, rtol=0)


@pytest.mark.parametrize("depth, ngf, channels, z_dim", [
    (4, 8, 3, 16),   # 32x32 RGB
    (5, 4, 1, 20),   # 64x64 grey
    (6, 2, 3, 8),    # 128x128 RGB
    (3, 16, 1, 5),   # 16x16 grey
])
def test_depths_widths_and_channels(registry, tmp_path, depth, ngf, channels, z_dim):
    net = make_dcgan(z_dim=z_dim, ngf=ngf, channels=channels, depth=depth, seed=depth)
    path = tmp_path / "netG.pth"
    torch.save(_sd(net, "main."), path)
    g = registry.open(path)
    res = 4 * 2 ** (depth - 1)
    assert (g.info.resolution, g.info.channels, g.info.z_dim) == (res, channels, z_dim)
    assert len(g.stages) == depth and len(g.info.layer_names) == depth
    z = g.latents([7, 8])
    out = g.generate(z)
    assert out.shape == (2, channels, res, res)
    assert torch.allclose(out, _direct(net, z), atol=1e-6, rtol=0)


def test_studio_safetensors_fp16_is_close_to_fp32_and_half_the_size(registry, tmp_path):
    net = make_dcgan(z_dim=16, ngf=16, seed=5)
    p32, p16 = tmp_path / "g32.safetensors", tmp_path / "g16.safetensors"
    save_dcgan(p32, net, prior="uniform", name="faces")
    save_dcgan(p16, net, prior="uniform", name="faces", half=True)
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    g32, g16 = registry.open(p32), registry.open(p16)
    assert g32.info.prior == g16.info.prior == "uniform" and g16.info.name == "faces"
    assert g32.info.format == "Latent Studio safetensors"
    z = g32.latents(range(8))
    assert z.abs().max() <= 1.0  # the stored prior is used for seeds
    a, b = g32.generate(z), g16.generate(z)
    assert torch.allclose(a, _direct(net, z), atol=1e-6, rtol=0)
    err = (a - b).abs()
    assert 0 < err.max() < 2e-2 and err.mean() < 2e-3  # fp16 weights: visibly identical, not bit-identical
    assert g16.stages[0].module[0].weight.dtype == torch.float32  # computed in fp32 on any device


def test_non_dcgan_state_dicts_are_not_sniffed(registry, tmp_path):
    from studio.model.probe import Probe
    from latent_studio_plugins.dcgan import plugin

    net = make_dcgan()
    cases = {
        "output of 2 channels": {
            "main.0.weight": torch.zeros(16, 8, 4, 4), "main.2.weight": torch.zeros(8, 2, 4, 4)},
        "bn after the last conv": {**_sd(net, "main."), "main.13.weight": torch.zeros(3),
                                   "main.13.running_mean": torch.zeros(3)},
        "a missing layer": {k: v for k, v in _sd(net, "main.").items() if not k.startswith("main.3.")},
        "mixed prefixes": {**_sd(net, "main."), "model.0.weight": torch.zeros(1)},
    }
    for what, sd in cases.items():
        p = tmp_path / "x.pth"
        torch.save(sd, p)
        assert plugin.sniff(Probe(p)) == 0.0, what
