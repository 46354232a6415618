"""ONNX family: generators from any exporter open, walk and export; broken or non-generator files fail
clearly."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from latent_studio_plugins.onnx import plugin as onnx_plugin  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.errors import CheckpointError  # noqa: E402
from studio.model.probe import Probe  # noqa: E402
from studio.model.registry import Registry  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402


class CondGenerator(nn.Module):
    """Not one of our families: a conditional MLP+deconv generator with a [0, 1] (sigmoid) output."""

    def __init__(self, z_dim: int = 8, classes: int = 4):
        super().__init__()
        self.fc = nn.Linear(z_dim + classes, 16 * 4 * 4)
        self.up1 = nn.ConvTranspose2d(16, 8, 4, 2, 1)
        self.up2 = nn.ConvTranspose2d(8, 3, 4, 2, 1)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(torch.cat([z, label], 1))).view(-1, 16, 4, 4)
        return torch.sigmoid(self.up2(torch.relu(self.up1(h))))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 10)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z)


class FlatImage(nn.Module):
    """Output (N, 3, 64): the right channels, the wrong rank."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3 * 64)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(z)).view(-1, 3, 64)


def export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str]) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), dynamo=False, opset_version=18, input_names=inputs,
                          output_names=outputs, dynamic_axes={n: {0: "n"} for n in inputs + outputs})
    return path


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


@pytest.fixture
def cond_net() -> CondGenerator:
    torch.manual_seed(3)
    return CondGenerator().eval()


@pytest.fixture
def cond_onnx(tmp_path: Path, cond_net: CondGenerator) -> Path:
    return export(cond_net, (torch.randn(2, 8), torch.zeros(2, 4)), tmp_path / "foreign.onnx",
                  ["z", "label"], ["rgb"])


def test_foreign_generator_opens_with_detected_range_and_matches_torch(registry, cond_onnx, cond_net):
    g = registry.open(cond_onnx)
    i = g.info
    assert (i.family, i.z_dim, i.c_dim, i.resolution, i.channels) == ("onnx", 8, 4, 16, 3)
    assert "[0, 1] detected" in i.format
    assert "CPUExecutionProvider" in g.providers
    z = torch.randn(3, 8)
    c = torch.eye(4)[[0, 2, 3]]
    with torch.no_grad():
        ref = cond_net(z, c) * 2 - 1  # the studio works in [-1, 1]
    out = g.generate(z, c=c)
    assert out.shape == (3, 3, 16, 16)
    assert torch.abs(out - ref).max() < 1e-5
    assert torch.abs(g.generate(z, c=torch.eye(4)[[1, 1, 1]]) - out).max() > 1e-3  # the label matters


def test_walk_changes_pixels_and_matches_the_edited_latent(registry, cond_onnx, cond_net):
    g = registry.open(cond_onnx)
    r = Renderer()
    base = Recipe(ModelRef(str(cond_onnx)), SeedLatent(5), condition=(0.0, 1.0, 0.0, 0.0))
    d = np.zeros(8, np.float32)
    d[2] = 1.0
    walked = base.with_walk("axis:2", tuple(d.tolist()), 3.0)
    f0, f1 = r.render(g, base), r.render(g, walked)
    assert f0.ok and f1.ok, (f0.error, f1.error)
    assert np.abs(f0.image.astype(int) - f1.image.astype(int)).max() > 5
    z = torch.from_numpy(g.edited_z(walked))[None]
    with torch.no_grad():
        ref = ((cond_net(z, torch.tensor([base.condition])) * 2 - 1).clamp(-1, 1) + 1) * 127.5
    assert np.abs(f1.image.astype(float) - ref[0].permute(1, 2, 0).numpy()).max() <= 1.0


def test_render_batch_exports_distinct_frames(registry, cond_onnx):
    g = registry.open(cond_onnx)
    ref = ModelRef(str(cond_onnx))
    recipes = [Recipe(ref, SeedLatent(s), condition=(1.0, 0.0, 0.0, 0.0)) for s in range(5)]
    frames = Renderer().render_batch(g, recipes, batch_size=2)
    assert frames.shape == (5, 16, 16, 3) and frames.dtype == np.uint8
    assert len({f.tobytes() for f in frames}) == 5
    one = Renderer().render(g, recipes[3]).image
    assert np.abs(frames[3].astype(int) - one.astype(int)).max() <= 1  # batching changes nothing


def test_sidecar_declares_range_prior_and_class_count(registry, tmp_path):
    class IndexGen(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(3, 8)
            self.fc = nn.Linear(8, 3 * 8 * 8)

        def forward(self, z, cls):
            return torch.tanh(self.fc(z + self.emb(cls))).view(-1, 3, 8, 8) * 0.5 + 0.5

    path = export(IndexGen(), (torch.randn(2, 8), torch.zeros(2, dtype=torch.long)), tmp_path / "idx.onnx",
                  ["latent", "cls"], ["img"])
    with pytest.raises(CheckpointError, match="num_classes"):
        registry.open(path)
    (tmp_path / "idx.onnx.json").write_text(json.dumps({"range": [0, 1], "prior": "uniform", "num_classes": 3,
                                                        "name": "indexed"}))
    g = registry.open(path)
    assert (g.info.prior, g.info.c_dim, g.info.name) == ("uniform", 3, "indexed")
    assert "[0, 1] declared" in g.info.format
    z = torch.zeros(1, 8)
    a, b = g.generate(z, c=torch.tensor([[1.0, 0, 0]])), g.generate(z, c=torch.tensor([[0, 0, 1.0]]))
    assert torch.abs(a - b).max() > 1e-3
    (tmp_path / "idx.onnx.json").write_text(json.dumps({"range": [1, 0], "num_classes": 3}))
    with pytest.raises(CheckpointError, match="range must be two increasing numbers"):
        registry.open(path)


def test_text_file_renamed_onnx_is_not_sniffed(registry, tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n" * 10)
    assert onnx_plugin.sniff(Probe(path)) == 0.0
    with pytest.raises(CheckpointError, match="not a generator checkpoint"):
        registry.open(path)


def test_truncated_onnx_is_a_clear_error(registry, cond_onnx, tmp_path):
    data = cond_onnx.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert onnx_plugin.sniff(Probe(path)) > 0  # still looks like ONNX: the load must say what is wrong
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        registry.open(path)


@pytest.mark.parametrize("module,shape,what", [
    (Classifier(), (2, 8), "no image-like output"),
    (FlatImage(), (2, 8), "no image-like output"),
])
def test_non_generator_graphs_are_refused(registry, tmp_path, module, shape, what):
    path = export(module, (torch.randn(*shape),), tmp_path / "other.onnx", ["z"], ["out"])
    with pytest.raises(CheckpointError, match=what) as err:
        registry.open(path)
    assert "out (" in str(err.value)  # names what the graph gives instead


def test_image_input_graph_is_not_taken_for_a_generator(registry, tmp_path):
    """An image-to-image net (input (N, 3, 8, 8)) has no latent input."""
    path = export(nn.Conv2d(3, 3, 3, padding=1), (torch.randn(1, 3, 8, 8),), tmp_path / "filter.onnx",
                  ["image"], ["out"])
    with pytest.raises(CheckpointError, match="no latent input"):
        registry.open(path)


def test_grey_0_255_output_is_detected_and_rescaled(registry, tmp_path):
    class Grey(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 8 * 8)

        def forward(self, z):
            return (torch.sigmoid(self.fc(z)) * 255).view(-1, 1, 8, 8)

    torch.manual_seed(1)
    net = Grey().eval()
    path = export(net, (torch.randn(2, 6),), tmp_path / "grey.onnx", ["z"], ["img"])
    g = registry.open(path)
    assert (g.info.channels, g.info.resolution) == (1, 8) and "[0, 255] detected" in g.info.format
    z = torch.randn(2, 6)
    with torch.no_grad():
        assert torch.abs(g.generate(z) - (net(z) / 127.5 - 1)).max() < 1e-5
    frame = Renderer().render(g, Recipe(ModelRef(str(path)), SeedLatent(0)))
    assert frame.ok and frame.image.shape == (8, 8, 3)
    assert np.array_equal(frame.image[..., 0], frame.image[..., 2])  # grey shown as RGB
