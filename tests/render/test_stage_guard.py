"""Engine correctness: a stage never mutates a cached activation, and a plugin is checked at load.

The drop-in below is what docs/plugins.md suggests for a network whose forward does more than call its
children in order: blocks passed with `blocks=`, here each starting with an in-place LeakyReLU, so each
block writes into the activation the stage before it returned (and the renderer cached).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.units import scale, with_unit_edits
from studio.errors import CheckpointError
from studio.model.api import Generator
from studio.model.registry import Registry
from studio.render.engine import Renderer, to_uint8
from studio.render.features import layer_activations

DROPIN = '''
import torch
from torch import nn

from studio.model.api import ModelInfo
from studio.model.modules import module_generator

MARK = "inplace_dropin.marker"
RESOLUTION = {resolution}


def network():
    torch.manual_seed(0)
    return nn.ModuleDict({{
        "b0": nn.ConvTranspose2d(8, 16, 4, 1, 0),
        "b1": nn.Sequential(nn.LeakyReLU(0.2, inplace=True), nn.ConvTranspose2d(16, 8, 4, 2, 1)),
        "b2": nn.Sequential(nn.LeakyReLU(0.2, inplace=True), nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh()),
    }})


class Plugin:
    name = "{name}"
    formats = "the in-place test network"

    def sniff(self, probe):
        sd = probe.state_dict()
        return 1.0 if sd is not None and MARK in sd else 0.0

    def load(self, probe, device):
        net = network()
        net.load_state_dict({{k: v for k, v in probe.state_dict().items() if k != MARK}})
        info = ModelInfo(family="inplace", format="test", resolution=RESOLUTION, channels=3, z_dim=8)
        {body}
        return module_generator(net, info, device=device, model_id=probe.sha256, blocks=list(net.items()))


plugin = Plugin()
'''


def write_dropin(folder: Path, name: str = "inplace_dropin", resolution: int = 16,
                 body: str = "pass") -> Path:
    """The plugin file in `folder` and a checkpoint it reads; returns the checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(DROPIN.format(name=name, resolution=resolution,
                                                                     body=body)))
    ns: dict = {}
    exec(compile(DROPIN.format(name=name, resolution=resolution, body=body), "dropin", "exec"), ns)
    sd = {k: v.contiguous() for k, v in ns["network"]().state_dict().items()}
    sd[ns["MARK"]] = torch.zeros(1)
    path = folder.parent / f"{name}.pt"
    torch.save(sd, path)
    return path


def open_dropin(tmp_path: Path, **kw) -> Generator:
    ckpt = write_dropin(tmp_path / "plugins", **kw)
    return Registry.discover(search_paths=[tmp_path / "plugins"]).open(ckpt)


def reference(g: Generator, seed: int) -> list[torch.Tensor]:
    """Each block's output computed by hand from a fresh copy of z, no engine and no cache."""
    net = g._modules[0]
    x = torch.from_numpy(g.latent(SeedLatent(seed))).reshape(1, 8, 1, 1)
    outs = []
    with torch.inference_mode():
        for name in ("b0", "b1", "b2"):
            x = net[name](x.clone())
            outs.append(x.clone())
    return outs


def recipe(seed: int = 3) -> Recipe:
    return Recipe(ModelRef("inplace.pt"), SeedLatent(seed))


def test_inplace_first_block_renders_and_shows_features_as_a_fresh_render(tmp_path):
    g = open_dropin(tmp_path)
    want = reference(g, 3)
    assert (want[0] < 0).any()  # the LeakyReLU has something to change in the cached activation
    r = Renderer()
    full = r.render(g, recipe())
    assert full.ok and full.stages_run == 3
    for layer, ref in zip(("b0", "b1"), want):  # read from the cache the render filled
        assert torch.equal(layer_activations(g, [recipe()], layer, renderer=r), ref)
    again = r.render(g, recipe())
    assert again.stages_run == 0 and np.array_equal(again.image, full.image)
    # a unit edit at the last layer re-renders from the cached b1 output, whose block wrote into b0's
    edited = with_unit_edits(recipe(), [scale("b2", [0], 0.5)])
    late = r.render(g, edited)
    assert late.stages_run == 1
    fresh_g = open_dropin(tmp_path / "again")
    fresh = Renderer().render(fresh_g, edited)
    assert np.array_equal(late.image, fresh.image)
    assert np.array_equal(full.image, to_uint8(want[2])[0])
    assert torch.equal(layer_activations(g, [recipe()], "b0", renderer=r), want[0])
    assert g._writes_input() == {1: True, 2: True}  # seen at load, by the registry's check


def test_the_guard_is_what_keeps_the_cache_right(tmp_path, monkeypatch):
    """Without the guard the same steps corrupt the cached b0 activation (the case is real)."""
    g = open_dropin(tmp_path)
    monkeypatch.setattr(Generator, "_stage_input", lambda self, i, x: (x, None))
    r = Renderer()
    r.render(g, recipe())
    assert not torch.equal(layer_activations(g, [recipe()], "b0", renderer=r), reference(g, 3)[0])


def test_a_generator_built_without_the_registry_is_guarded_from_its_first_render(tmp_path):
    ns: dict = {}
    exec(compile(DROPIN.format(name="x", resolution=16, body="pass"), "dropin", "exec"), ns)
    from studio.model.api import ModelInfo
    from studio.model.modules import module_generator

    net = ns["network"]()
    g = module_generator(net, ModelInfo("inplace", "test", 16, z_dim=8), blocks=list(net.items()))
    r = Renderer()
    first = r.render(g, recipe(5))
    want = reference(g, 5)
    assert np.array_equal(first.image, to_uint8(want[2])[0])
    assert torch.equal(layer_activations(g, [recipe(5)], "b0", renderer=r), want[0])
    assert torch.equal(layer_activations(g, [recipe(5)], "b1", renderer=r), want[1])


def test_stages_that_leave_their_input_alone_are_not_copied(tiny_dcgan_path):
    g = Registry.discover(search_paths=[]).open(tiny_dcgan_path)
    assert g._writes_input() and not any(g._writes_input().values())


# -- the load-time check ----------------------------------------------------------------------------------
def test_a_plugin_stating_the_wrong_resolution_is_refused_at_load_by_name(tmp_path):
    with pytest.raises(CheckpointError) as err:
        open_dropin(tmp_path, name="mydropin", resolution=64)
    msg = str(err.value)
    assert "plugin 'mydropin'" in msg and "stage 'b2'" in msg
    assert "returned 1x3x16x16 but the model says 3x64x64" in msg


def test_a_stage_that_raises_is_named(tmp_path):
    body = 'net["b1"][1] = nn.ConvTranspose2d(5, 8, 4, 2, 1)  # expects 5 channels, gets 16'
    with pytest.raises(CheckpointError) as err:
        open_dropin(tmp_path, name="brokenstage", body=body)
    msg = str(err.value)
    assert "plugin 'brokenstage'" in msg and "stage 'b1' failed on a sample: RuntimeError" in msg


def test_non_finite_output_is_refused(tmp_path):
    body = 'torch.nn.init.constant_(net["b2"][1].bias, float("nan"))'
    with pytest.raises(CheckpointError, match="plugin 'nandropin': stage 'b2' returned NaN"):
        open_dropin(tmp_path, name="nandropin", body=body)
