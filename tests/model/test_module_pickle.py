"""Whole-module pickles (torch.save(model)): rebuilt from torch.nn built-ins without running anything in them."""
from __future__ import annotations

import json
import os
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from conftest import shared_path
from studio.errors import CheckpointError
from studio.model.registry import Registry

CASES = {  # file: (input, reference output)
    "netG_full.pth": ("z_nz100.npy", "out_netG_full_eval.npy"),
    "gan.pkl": ("z_nz32.npy", "out_gan_pkl_G_eval.npy"),
    "netG_models.pth": ("z_nz32.npy", "out_netG_models_eval.npy"),
    "generator_sequential.pth": ("z16.npy", "out_sequential_eval.npy"),
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


@pytest.mark.shared
@pytest.mark.parametrize("name", list(CASES))
def test_conformance_with_whole_module_fixtures(registry, name):
    folder = shared_path("fixtures", "whole_module_pickles")
    manifest = json.loads((folder / "manifest.json").read_text())["files_described"][name]
    zfile, ref_file = CASES[name]
    assert manifest["inputs"][0]["file"] == zfile and manifest["outputs"][0]["file"] == ref_file
    g = registry.open(folder / name)
    z = torch.from_numpy(np.load(folder / zfile)).reshape(-1, g.info.z_dim)
    ref = np.load(folder / ref_file)
    out = g.generate(z).numpy()
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-5  # manifest: ~1e-6 for a correct reimplementation
    assert g.info.family == "torch-module"
    custom = manifest["class_module"] != "torch.nn (built-ins only)"
    # the inferred forward of the user's class is said, never silent
    assert bool(g.info.choices) == custom
    if custom:
        assert g.info.choices[0].source.startswith("assumed") and "Generator" in g.info.choices[0].source


@pytest.mark.shared
def test_pickled_attributes_are_read_not_defaulted():
    """generator_sequential.pth: eps 1e-3 / momentum 0.2, slope 0.1, reflect padding, output_padding 1."""
    from studio.model.module_pickle import build_module, read_module_pickle

    net = build_module(read_module_pickle(shared_path("fixtures", "whole_module_pickles",
                                                      "generator_sequential.pth")).root)
    assert (net[2].eps, net[2].momentum) == (1e-3, 0.2)
    assert net[3].negative_slope == 0.1 and net[11].negative_slope == 0.2
    assert net[8].padding_mode == "reflect" and net[12].output_padding == (1, 1)
    assert net[5].affine and not net[5].track_running_stats and net[10].p == 0.3


@pytest.mark.shared
def test_the_discriminator_beside_the_generator_is_not_taken(registry):
    g = registry.open(shared_path("fixtures", "whole_module_pickles", "gan.pkl"))
    assert "item [0]" in g.info.format and g.info.resolution == 64


def _saved_in(module_name: str, cls: type, tmp_path, *args) -> object:
    mod = types.ModuleType(module_name)
    cls.__module__ = module_name
    setattr(mod, cls.__name__, cls)
    sys.modules[module_name] = mod
    try:
        path = tmp_path / f"{cls.__name__}.pth"
        torch.save(cls(*args), path)
    finally:
        del sys.modules[module_name]
    return path


class TwoPart(nn.Module):
    """A custom class whose forward (a reshape between two children) is not in the file."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 16)
        self.up = nn.ConvTranspose2d(1, 3, 4, 2, 1)

    def forward(self, z):
        return self.up(self.fc(z).view(-1, 1, 4, 4))


def test_a_custom_forward_is_refused_with_the_class_and_the_next_step(registry, tmp_path):
    path = _saved_in("my_models", TwoPart, tmp_path)
    with pytest.raises(CheckpointError) as err:
        registry.open(path)
    msg = str(err.value)
    assert "my_models.TwoPart" in msg and "latent-studio plugin new TwoPart.pth" in msg
    assert msg.count(". ") == 0 and "allow" not in msg.lower() and "safe_globals" not in msg


class _Marker:
    """What a hostile file pickles: unpickling it calls the reduce, which writes the marker."""

    def __init__(self, path: str, how: str):
        self.path, self.how = path, how

    def __reduce__(self):
        if self.how == "system":
            return (os.system, (f"touch {self.path}",))
        if self.how == "open":
            return (open, (self.path, "w"))
        return (exec, (f"open({self.path!r}, 'w').write('ran')",))


@pytest.mark.parametrize("how", ["system", "open", "exec"])
def test_a_hostile_whole_module_pickle_runs_nothing(registry, tmp_path, how):
    """torch.save of a real module with a payload beside it: refused, and the marker proves nothing ran
    (neither torch's loader nor the module reader, which reads this file since it names torch.nn classes)."""
    from studio.model.module_pickle import read_module_pickle

    marker = tmp_path / "marker"
    path = tmp_path / "netG.pth"
    net = nn.Sequential(nn.ConvTranspose2d(8, 3, 4, 1, 0), nn.Tanh())
    net.payload = _Marker(str(marker), how)  # pickled inside the module's own __dict__
    torch.save(net, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError) as err:
        registry.open(path)
    assert "refusing to execute" in str(err.value) and "allow" not in str(err.value).lower()
    with pytest.raises(CheckpointError, match="not plain weights"):
        read_module_pickle(path)
    assert not marker.exists()


def test_the_marker_payload_is_live(tmp_path):
    """The same payload does run under a full unpickle: the test above would see it if the reader ran it."""
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"x": _Marker(str(marker), "open")}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_builtins_only_file_made_here_loads_and_matches(registry, tmp_path):
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(10, 8 * 4 * 4), nn.Unflatten(1, (8, 4, 4)), nn.BatchNorm2d(8, eps=1e-3),
                        nn.ELU(0.5), nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(8, 1, 3, padding=1),
                        nn.Tanh())
    with torch.no_grad():
        net[2].running_mean.normal_(0, 0.5)
        net[2].running_var.uniform_(0.5, 2)
    path = tmp_path / "g.pth"
    torch.save(net, path)
    g = registry.open(path)
    assert (g.info.resolution, g.info.channels, g.info.z_dim) == (8, 1, 10)
    z = g.latents(range(3))
    with torch.no_grad():
        assert torch.allclose(g.generate(z), net.eval()(z), atol=1e-6, rtol=0)


def test_cut_and_corrupt_module_pickles_are_one_clear_sentence(registry, tmp_path):
    net = nn.Sequential(nn.ConvTranspose2d(4, 3, 4, 1, 0), nn.Tanh())
    good = tmp_path / "g.pth"
    torch.save(net, good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pth") as err:
        registry.open(cut)
    assert "\n" not in str(err.value)


def test_plugin_new_on_a_hostile_pickle_refuses_and_runs_nothing(tmp_path, capsys):
    from studio.cli import main

    marker = tmp_path / "marker"
    path = tmp_path / "netG.pth"
    net = nn.Sequential(nn.ConvTranspose2d(8, 3, 4, 1, 0), nn.Tanh())
    net.payload = _Marker(str(marker), "system")
    torch.save(net, path)
    assert main(["plugin", "new", str(path), "--out", str(tmp_path / "x.py")]) == 2
    err = capsys.readouterr().err
    assert "refusing to execute" in err and err.count("\n") == 1
    assert not marker.exists() and not (tmp_path / "x.py").exists()


def test_quoted_errors_are_clipped_at_a_word_boundary():
    from studio.errors import clipped

    text = "weights do not fit the inferred layout because " + "averyveryverylongword " * 20
    short = clipped(text, 100)
    assert len(short) <= 100 and short.endswith("...")
    assert text.startswith(short[:-3]) and text[len(short) - 3] == " "  # the cut falls between words
    assert clipped("first line\nsecond line") == "first line"


def test_a_module_tree_nested_past_reason_is_one_sentence(registry, tmp_path):
    deep: nn.Module = nn.Sequential(nn.ConvTranspose2d(4, 3, 4), nn.Tanh())
    for _ in range(3000):
        deep = nn.Sequential(deep)
    path = tmp_path / "deep.pth"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        torch.save(deep, path)
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(CheckpointError, match="deep.pth holds a pickled module tree nested too deeply"):
        registry.open(path)
