"""The bring-your-own-architecture example: examples/plugins/celeba_dcgan32.py on the real CelebA checkpoint.

Checks it against an independent re-implementation of the architecture as its README describes it, that
its samples are statistically face-like (a check shown to fail for wrongly built networks), and that
walks and caching work on it exactly as on a built-in family.
"""
from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import studio
from conftest import ROOT, make_dcgan, shared_path
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model import registry as registry_mod
from studio.model.probe import Probe
from studio.render.engine import Renderer, to_uint8

EXAMPLES = ROOT / "examples" / "plugins"
BLOCKS = [f"generator_deconv.{i}" for i in range(5)]


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return shared_path("real_checkpoints", "celeba_dcgan32", "generator.pt")


@pytest.fixture
def example_on_plugin_path(monkeypatch, tmp_path):
    monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, str(EXAMPLES))
    monkeypatch.setattr(registry_mod, "user_plugin_dir", lambda: tmp_path / "no-user-plugins")
    registry_mod.reset_default_registry()
    yield
    registry_mod.reset_default_registry()


@pytest.fixture
def gen(example_on_plugin_path, checkpoint):
    return studio.load(checkpoint, device="cpu")


def example_module():
    spec = importlib.util.spec_from_file_location("celeba_dcgan32_under_test", EXAMPLES / "celeba_dcgan32.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def readme_reference(sd: dict, z: torch.Tensor) -> torch.Tensor:
    """The architecture exactly as ../shared/real_checkpoints/celeba_dcgan32/README.md states it, written
    independently of the example (functional ops, BatchNorm on running statistics)."""
    def bn(x, i):
        p = f"generator_deconv.{i}.1."
        return F.batch_norm(x, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"],
                            sd[p + "bias"], training=False, eps=1e-5)

    w = lambda i: sd[f"generator_deconv.{i}.0.weight"]  # noqa: E731
    x = z.reshape(-1, 100, 1, 1)
    x = bn(F.conv_transpose2d(x, w(0), stride=1, padding=0), 0)                 # no activation
    x = F.leaky_relu(bn(F.conv2d(x, w(1), stride=1, padding=1), 1), 0.2)
    x = F.leaky_relu(bn(F.conv_transpose2d(x, w(2), stride=2, padding=1), 2), 0.2)
    x = F.leaky_relu(bn(F.conv_transpose2d(x, w(3), stride=2, padding=1), 3), 0.2)
    return torch.tanh(F.conv_transpose2d(x, w(4), sd["generator_deconv.4.0.bias"], stride=2, padding=1))


def looks_like_faces(x: torch.Tensor) -> bool:
    """Statistics of many aligned face crops: the mean image has a bright, skin-toned (R > G > B), left-right
    symmetric centre against a darker border, and samples differ from each other by a natural amount."""
    m = x.mean(0).numpy()
    lum = m.mean(0)
    border = np.concatenate([lum[:3].ravel(), lum[-3:].ravel(), lum[:, :3].ravel(), lum[:, -3:].ravel()])
    centre_contrast = lum[10:24, 10:22].mean() - border.mean()
    r, g, b = m[:, 10:24, 10:22].mean(axis=(1, 2))
    symmetry = np.corrcoef(m.ravel(), m[:, :, ::-1].ravel())[0, 1]
    spread = float(x.std(0).mean())
    return bool(centre_contrast > 0.2 and r > g > b and r - b > 0.3 and symmetry > 0.8
                and 0.25 < spread < 0.5)


@pytest.mark.shared
def test_example_loads_the_real_checkpoint_through_the_plugin_path(gen, checkpoint):
    assert gen.info.family == "celeba-dcgan32" and gen.info.prior == "uniform" and gen.info.z_dim == 100
    assert [s.name for s in gen.stages] == BLOCKS and list(gen.info.layer_names) == BLOCKS
    z = gen.latents(range(64))
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.99  # seeds follow the uniform prior
    x = gen.generate(z)
    assert x.shape == (64, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert (x - readme_reference(sd, z)).abs().max() <= 1e-5
    assert looks_like_faces(x)
    # Eval mode: one image at a time (as the studio renders) equals the same image in a batch.
    one_by_one = torch.cat([gen.generate(z[i:i + 1]) for i in range(8)])
    assert (one_by_one - x[:8]).abs().max() <= 1e-5


@pytest.mark.shared
def test_face_check_rejects_wrongly_built_networks(checkpoint):
    """The checks above would fail for the usual mistakes in a user's plugin."""
    net = example_module().FaceGenerator()
    net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    net.eval()
    z = torch.from_numpy(np.stack([np.random.RandomState(s).uniform(-1, 1, 100) for s in range(64)])).float()

    def variant(act: type[torch.nn.Module] | None) -> torch.nn.Module:
        broken = copy.deepcopy(net)
        for block in broken.generator_deconv:
            for i, m in enumerate(block):
                if isinstance(m, torch.nn.LeakyReLU):
                    block[i] = act() if act is not None else torch.nn.Identity()
        return broken

    with torch.no_grad():
        assert looks_like_faces(net(z))
        assert not looks_like_faces(variant(torch.nn.ReLU)(z))        # ReLU instead of LeakyReLU(0.2)
        assert not looks_like_faces(variant(None)(z))                 # activations left out
        assert not looks_like_faces(example_module().FaceGenerator().eval()(z))  # weights not loaded
        assert not looks_like_faces(torch.rand(64, 3, 32, 32) * 2 - 1)  # noise
        train_mode = copy.deepcopy(net).train()                        # BatchNorm left in train mode
        single = torch.cat([train_mode(z[i:i + 1]) for i in range(8)])
        assert (single - net(z[:8])).abs().max() > 0.1


@pytest.mark.shared
def test_walks_and_caching_work_on_the_example(gen, checkpoint):
    r = Renderer()
    recipe = Recipe(ModelRef(str(checkpoint)), SeedLatent(5))
    first = r.render(gen, recipe)
    assert first.ok and first.stages_run == 5 and first.image.shape == (32, 32, 3)
    again = r.render(gen, recipe)
    assert again.stages_run == 0 and np.array_equal(again.image, first.image)
    direction = np.random.RandomState(0).randn(100)
    direction /= np.linalg.norm(direction)
    walked = recipe.with_walk("random:0", tuple(direction), 3.0)
    moved = r.render(gen, walked)
    assert moved.ok and moved.stages_run == 5
    assert np.abs(moved.image.astype(int) - first.image.astype(int)).mean() > 5  # a visible change
    z = gen.latents([5]) + 3.0 * torch.from_numpy(direction).float()
    assert np.array_equal(moved.image, to_uint8(gen.generate(z))[0])
    assert r.render(gen, walked).stages_run == 0


def test_example_sniffs_by_keys_and_shapes(tmp_path):
    plugin = example_module().plugin
    dcgan = tmp_path / "netG.pth"
    torch.save({f"main.{k}": v for k, v in make_dcgan().state_dict().items()}, dcgan)
    assert plugin.sniff(Probe(dcgan)) == 0.0
    sd = {k: torch.zeros(s) for k, s in example_module()._expected_shapes().items()}
    right = tmp_path / "right.pt"
    torch.save(sd, right)
    assert plugin.sniff(Probe(right)) == 1.0
    wrong = tmp_path / "wider.pt"
    torch.save({**sd, "generator_deconv.0.0.weight": torch.zeros(128, 256, 4, 4)}, wrong)  # z of 128
    assert plugin.sniff(Probe(wrong)) == 0.0
    text = tmp_path / "notes.pt"
    text.write_text("not weights")
    assert plugin.sniff(Probe(text)) == 0.0
