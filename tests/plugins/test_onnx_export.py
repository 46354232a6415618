"""ONNX export of our torch families: round trips within 1e-4, per-stage caching, and a CLI that writes
nothing when it fails."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from conftest import shared_path  # noqa: E402
from latent_studio_plugins.onnx.export import ExportError, export_generator  # noqa: E402
from studio.cli import main  # noqa: E402
from PIL import Image  # noqa: E402
from studio.core.attributes import with_attributes  # noqa: E402
from studio.core.photo import image_latent  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.errors import CheckpointError, RecipeError  # noqa: E402
from studio.model.api import Generator, ModelInfo  # noqa: E402
from studio.model.fast_convt import AutoConvTranspose2d  # noqa: E402
from studio.model.registry import Registry  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.shared
def test_fixture_dcgan_round_trip_within_1e4(registry, tmp_path):
    folder = shared_path("fixtures", "dcgan_pytorch_examples")
    torch_g = registry.open(folder / "netG_epoch_0.pth")
    report = export_generator(torch_g, tmp_path / "out")
    assert report.max_abs_error <= 1e-4
    z = torch.from_numpy(np.load(folder / "z.npy")).reshape(4, -1)
    ref = np.load(folder / "out.npy")
    for opened in ("model.onnx", "manifest.json"):
        g = registry.open(tmp_path / "out" / opened)
        assert g.info.family == "onnx" and len(g.stages) == len(torch_g.stages)
        assert np.abs(g.generate(z).numpy() - ref).max() <= 1e-4
    # the whole-model graph alone (no manifest beside it) opens as a foreign one-graph generator
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tmp_path / "out" / "model.onnx", alone / "dcgan.onnx")
    g1 = registry.open(alone / "dcgan.onnx")
    assert len(g1.stages) == 1 and "[-1, 1] detected" in g1.info.format
    assert np.abs(g1.generate(z).numpy() - ref).max() <= 1e-4


def test_tiny_dcgan_round_trip_stages_and_cache(registry, tiny_dcgan_path, tmp_path):
    torch_g = registry.open(tiny_dcgan_path)
    convts = [m for m in torch_g._modules[0].modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert convts and all(type(m) is AutoConvTranspose2d for m in convts)  # the fast path is installed
    report = export_generator(torch_g, tmp_path / "tiny")
    assert all(type(m) is AutoConvTranspose2d for m in convts)  # ... and export did not remove it
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    assert manifest["opset"] == 18 and manifest["verified"]["max_abs_error"] == report.max_abs_error
    assert [s["name"] for s in manifest["stages"]] == list(torch_g.info.layer_names)

    g = registry.open(tmp_path / "tiny" / "model.onnx")
    assert g.info.layer_names == torch_g.info.layer_names and "features" in g.info.capabilities
    z = torch.from_numpy(np.stack([torch_g.latent(SeedLatent(s)) for s in range(6)]))
    assert torch.abs(g.generate(z) - torch_g.generate(z)).max() <= 1e-4  # batch 6: the batch axis is dynamic

    r = Renderer()
    recipe = Recipe(ModelRef(str(tmp_path / "tiny" / "model.onnx")), SeedLatent(7))
    first, again = r.render(g, recipe), r.render(g, recipe)
    assert first.ok and (first.stages_run, again.stages_run) == (len(g.stages), 0)
    assert np.array_equal(first.image, again.image)
    torch_frame = Renderer().render(torch_g, recipe).image
    assert np.abs(first.image.astype(int) - torch_frame.astype(int)).max() <= 1


def test_export_refuses_what_it_cannot_match(registry, tiny_dcgan_path, tmp_path):
    g = registry.open(tiny_dcgan_path)
    # float32 ONNX Runtime and torch kernels sum in different orders: they never agree to 1e-10
    with pytest.raises(ExportError, match="above the tolerance"):
        export_generator(g, tmp_path / "strict", tolerance=1e-10)
    assert not (tmp_path / "strict").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.shared
def test_stargan_v1_round_trip_on_fixture_inputs_and_recipes(registry, tmp_path):
    folder = shared_path("fixtures", "stargan_yunjey")
    torch_g = registry.open(folder / "1000-G.ckpt")
    report = export_generator(torch_g, tmp_path / "sg")
    assert report.max_abs_error <= 1e-4
    g = registry.open(tmp_path / "sg" / "model.onnx")
    assert (g.info.family, g.info.attributes, g.info.resolution) == ("onnx", torch_g.info.attributes, 128)
    assert "translate" in g.info.capabilities and g.exclusive_groups == torch_g.exclusive_groups
    x, c = np.load(folder / "x.npy"), np.load(folder / "c.npy")
    assert np.abs(g.translate(x, c).numpy() - np.load(folder / "out.npy")).max() <= 1e-4
    x2 = torch.rand(3, 3, 32, 48) * 2 - 1  # height, width and batch are all dynamic
    assert torch.abs(g.translate(x2, [0, 1, 0, 1, 1]) - torch_g.translate(x2, [0, 1, 0, 1, 1])).max() <= 1e-4

    photo = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(photo)
    recipe = with_attributes(Recipe(ModelRef(str(photo)), image_latent(photo)), (0, 1, 0, 0, 1))
    r = Renderer()
    first, again = r.render(g, recipe), r.render(g, recipe)
    assert first.ok and (first.stages_run, again.stages_run) == (len(g.stages), 0)
    toggled = r.render(g, with_attributes(recipe, (1, 0, 0, 0, 1)))
    assert toggled.stages_run == len(g.stages) and not np.array_equal(toggled.image, first.image)
    assert np.abs(first.image.astype(int) - Renderer().render(torch_g, recipe).image.astype(int)).max() <= 1
    with pytest.raises(RecipeError, match="translates a photo"):
        g.context([Recipe(ModelRef(""), SeedLatent(1))])


def test_stargan_v2_round_trip_latent_and_reference_guided(registry, tmp_path):
    from studio.core.photo import with_style_source
    from test_stargan_v2 import make_nets, save_nets_ema

    from latent_studio_plugins.stargan.network_v2 import StarGANv2Config

    cfg = StarGANv2Config(img_size=32, style_dim=16, latent_dim=8, num_domains=3, w_hpf=0.0, max_conv_dim=32,
                          dim_in=8)
    torch_g = registry.open(save_nets_ema(make_nets(cfg, seed=3), tmp_path / "m" / "010000_nets_ema.ckpt"))
    report = export_generator(torch_g, tmp_path / "v2")
    assert report.max_abs_error <= 1e-4 and len(report.per_graph_error) == 4
    g = registry.open(tmp_path / "v2" / "mapping.onnx")
    assert g.info.attributes == torch_g.info.attributes and g.exclusive_groups == torch_g.exclusive_groups
    assert g.providers and g.model_id != ""
    x, ref = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    labels = torch.tensor([[0.0, 1.0, 0.0], [0.3, 0.0, 0.7]])  # a toggle and a blend of domains
    z = torch.randn(2, 8)
    assert torch.abs(g.translate(x, labels, z=z) - torch_g.translate(x, labels, z=z)).max() <= 1e-4
    by_ref = g.translate(x, labels, reference=ref) - torch_g.translate(x, labels, reference=ref)
    assert torch.abs(by_ref).max() <= 1e-4

    photo = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(photo)
    recipe = Recipe(ModelRef(str(photo)), image_latent(photo))
    recipe = with_style_source(with_attributes(recipe, (0, 1, 0)), seed=4)
    r = Renderer()
    first = r.render(g, recipe)
    assert first.ok and first.stages_run == 2
    toggled = r.render(g, with_attributes(recipe, (0, 0, 1)))
    assert toggled.stages_run == 1 and not np.array_equal(toggled.image, first.image)  # the decoder alone
    assert np.abs(first.image.astype(int) - Renderer().render(torch_g, recipe).image.astype(int)).max() <= 1


def test_unexportable_stages_are_refused_with_a_reason(tmp_path):
    class Custom:
        name = "custom"

        def inputs(self, ctx):
            return b""

        def __call__(self, x, ctx):
            return torch.tanh(ctx.z.reshape(-1, 3, 2, 2))

    g = Generator(ModelInfo(family="mine", format="test", resolution=2, z_dim=12), [Custom()])
    with pytest.raises(ExportError, match="not plain torch modules"):
        export_generator(g, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_convert_writes_a_folder_that_opens(capsys, registry, tiny_dcgan_path, tmp_path):
    out_dir = tmp_path / "conv"
    code, out, err = run(capsys, "convert", tiny_dcgan_path, "--to", "onnx", "--out", out_dir)
    assert code == 0, err
    assert "max abs error vs torch" in out
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [f"stage_{i:02d}.onnx" for i in range(4)] + ["model.onnx", "manifest.json"])
    assert registry.open(out_dir / "manifest.json").info.z_dim == 16


def test_cli_convert_writes_nothing_on_failure(capsys, tiny_dcgan_path, tmp_path):
    bad_ckpt = tmp_path / "broken.pth"
    bad_ckpt.write_bytes(tiny_dcgan_path.read_bytes()[:300])
    conv = ["convert", tiny_dcgan_path, "--to", "onnx", "--out"]
    cases = [
        ([*conv, tmp_path / "a", "--tolerance", "1e-10"], "tolerance"),  # never met in float32
        ([*conv, tmp_path / "n", "--tolerance", "-1"], "tolerance"),
        (["convert", bad_ckpt, "--to", "onnx", "--out", tmp_path / "b"], "broken.pth"),
        (["convert", tiny_dcgan_path, "--to", "onnx", "--out", tmp_path / "missing" / "c"], "does not exist"),
    ]
    for argv, what in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and what in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.pth", "netG_epoch_3.pth"]


def test_cli_convert_keeps_an_existing_folder_without_force(capsys, tiny_dcgan_path, tmp_path):
    out_dir = tmp_path / "mine"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "convert", tiny_dcgan_path, "--to", "onnx", "--out", out_dir)
    assert code == 2 and "already exists" in err
    assert [p.name for p in out_dir.iterdir()] == ["keep.txt"]
    # --force never removes a folder holding files the studio did not write: it names them instead
    code, _, err = run(capsys, "convert", tiny_dcgan_path, "--to", "onnx", "--out", out_dir, "--force")
    assert code == 2 and "refusing to replace" in err and "keep.txt" in err and len(err.splitlines()) == 1
    assert [p.name for p in out_dir.iterdir()] == ["keep.txt"] and (out_dir / "keep.txt").read_text() == "mine"
    # an empty folder is filled without --force; an earlier convert's folder is replaced with it
    (out_dir / "keep.txt").unlink()
    code, _, err = run(capsys, "convert", tiny_dcgan_path, "--to", "onnx", "--out", out_dir)
    assert code == 0, err
    first = sorted(p.name for p in out_dir.iterdir())
    assert "manifest.json" in first
    code, _, err = run(capsys, "convert", tiny_dcgan_path, "--to", "onnx", "--out", out_dir, "--force")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == first
    assert leftovers(tmp_path) == []


def test_manifest_with_missing_stage_is_a_clear_error(registry, tiny_dcgan_path, tmp_path):
    export_generator(registry.open(tiny_dcgan_path), tmp_path / "x")
    (tmp_path / "x" / "stage_02.onnx").unlink()
    with pytest.raises(CheckpointError, match="stage_02.onnx, which is missing"):
        registry.open(tmp_path / "x" / "model.onnx")
