"""The conditional drop-in of docs/plugins.md (examples/plugins/mnist_cgan.py): loaded from the plugin path,
it renders what the network's own forward gives for labels, through generate and through recipes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.core.class_edits import class_blend
from studio.core.recipe import ModelRef, Recipe, SeedLatent, class_condition
from studio.model.registry import Registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("mnist_cgan_example", EXAMPLES / "mnist_cgan.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    net = mod.CondGenerator().eval()
    path = tmp_path / "cgan_G.pth"
    torch.save(net.state_dict(), path)
    return path, net


def test_conditional_dropin_matches_its_forward(checkpoint):
    path, net = checkpoint
    g = Registry.discover(search_paths=[EXAMPLES]).open(path)
    assert g.plugin_name == "MNIST cGAN (one-hot concatenated)" and g.info.c_dim == 10
    assert g.info.parts()[0].names[7] == "7"
    z = g.latents(range(4))
    labels = torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        want = net(z, labels)
    assert torch.allclose(g.generate(z, c=labels), want, atol=1e-6)  # class indices, as forward takes them
    assert torch.allclose(g.generate(z, c=torch.nn.functional.one_hot(labels, 10).float()), want, atol=1e-6)
    with pytest.raises(Exception, match="class labels must be 0-9"):
        g.generate(z, c=torch.tensor([0, 1, 2, 10]))
    r = g.context([Recipe(ModelRef(""), SeedLatent(2), condition=class_condition(3, 10))])
    assert torch.allclose(g.run(r), g.generate(g.latents([2]), c=torch.tensor([3])), atol=1e-6)
    blend = class_blend({3: 0.5, 8: 0.5}, 10)
    half = g.run(g.context([Recipe(ModelRef(""), SeedLatent(2), condition=blend)]))
    ends = [g.generate(g.latents([2]), c=torch.tensor([k])) for k in (3, 8)]
    assert all((half - e).abs().max() > 1e-3 for e in ends)
