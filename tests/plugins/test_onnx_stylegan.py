"""StyleGAN2 and 3 to ONNX (mapping + synthesis graphs): round trips within 1e-4 and W-space recipes (and
StyleGAN3's input transform) that render like the torch model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from conftest import shared_path  # noqa: E402
from latent_studio_plugins.onnx.export import export_generator  # noqa: E402
from latent_studio_plugins.stylegan.save import save_stylegan  # noqa: E402
from latent_studio_plugins.stylegan.testing import tiny_stylegan  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent, Walk  # noqa: E402
from studio.core.style_edits import Mix  # noqa: E402
from studio.errors import RecipeError  # noqa: E402
from studio.model.registry import Registry  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


@pytest.fixture(scope="module")
def exported(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sg2")
    save_stylegan(folder / "tiny.safetensors", tiny_stylegan(c_dim=3, seed=1), name="tiny")
    g = registry.open(folder / "tiny.safetensors")
    report = export_generator(g, folder / "onnx")
    return g, report


def test_tiny_stylegan2_round_trip_within_1e4(registry, exported):
    torch_g, report = exported
    assert report.max_abs_error <= 1e-4
    assert sorted(report.per_graph_error) == ["mapping.onnx", "synthesis.onnx"]
    manifest = json.loads((report.folder / "manifest.json").read_text())
    assert manifest["kind"] == "stylegan" and len(manifest["w_avg"]) == torch_g.info.w_dim
    for opened in ("manifest.json", "mapping.onnx"):
        g = registry.open(report.folder / opened)
        i, t = g.info, torch_g.info
        assert (i.family, i.z_dim, i.w_dim, i.num_ws, i.c_dim, i.resolution) == \
            ("onnx", t.z_dim, t.w_dim, t.num_ws, t.c_dim, t.resolution)
    z = torch.randn(4, t.z_dim, generator=torch.Generator().manual_seed(5))
    c = torch.eye(3)[[0, 1, 2, 1]]
    for psi in (1.0, 0.6):
        ws_ref, ws = torch_g.map(z, c, psi), g.map(z, c, psi)
        assert (ws - ws_ref).abs().max() <= 1e-4
        assert (g.synthesize(ws_ref) - torch_g.synthesize(ws_ref)).abs().max() <= 1e-4
    assert (g.generate(z, 0.7, c) - torch_g.generate(z, 0.7, c)).abs().max() <= 1e-4
    with pytest.raises(RecipeError, match="constant noise"):
        g.synthesize(ws_ref, noise="random")


def test_recipes_with_truncation_w_walks_and_mixing_match_torch(registry, exported):
    torch_g, report = exported
    g = registry.open(report.folder / "manifest.json")
    d = tuple(float(v) for v in np.random.default_rng(2).standard_normal(torch_g.info.w_dim))
    recipe = Recipe(ModelRef(""), SeedLatent(7), truncation=0.7, condition=(0.0, 1.0, 0.0),
                    edits=(Walk("w", d, 0.8, space="w", layers=(0, 4)), Mix("mix:B", (4, 8), seed=3)))
    r = Renderer()
    got, ref = r.run(g, [recipe])[0], r.run(torch_g, [recipe])[0]
    assert (got - ref).abs().max() <= 1e-4
    plain = r.run(g, [Recipe(ModelRef(""), SeedLatent(7), condition=(0.0, 1.0, 0.0))])[0]
    assert (plain - got).abs().max() > 1e-2  # the edits act


@pytest.mark.shared
def test_nvlabs_fixture_round_trip_within_1e4(registry, tmp_path):
    folder = shared_path("fixtures", "stylegan2ada_nvlabs", "uncond")
    torch_g = registry.open(folder / "network-snapshot-000000.pkl")
    report = export_generator(torch_g, tmp_path / "onnx")
    assert report.max_abs_error <= 1e-4
    g = registry.open(tmp_path / "onnx" / "manifest.json")
    z = torch.from_numpy(np.load(folder / "z.npy"))
    assert np.abs(g.map(z).numpy() - np.load(folder / "w_psi1.npy")).max() <= 1e-4
    assert np.abs(g.map(z, truncation=0.7).numpy() - np.load(folder / "w_psi07.npy")).max() <= 1e-4
    assert np.abs(g.generate(z).numpy() - np.load(folder / "out_psi1.npy")).max() <= 1e-4
    assert np.abs(g.generate(z, 0.7).numpy() - np.load(folder / "out_psi07.npy")).max() <= 1e-4


@pytest.mark.shared
def test_stylegan3_fixture_round_trip_with_input_transform(registry, tmp_path):
    from studio.model.wspace import input_transform
    from studio.core.recipe import VectorLatent
    from studio.core.style_edits import with_transform

    folder = shared_path("fixtures", "stylegan3_nvlabs", "stylegan3-t")
    torch_g = registry.open(folder / "network-snapshot-000000.pkl")
    report = export_generator(torch_g, tmp_path / "onnx")
    assert report.max_abs_error <= 1e-4
    g = registry.open(tmp_path / "onnx" / "manifest.json")
    assert "transform" in g.info.capabilities and g.style_resolutions() == torch_g.style_resolutions()
    ref = {p.stem: np.load(p) for p in folder.glob("*.npy")}
    z = torch.from_numpy(ref["z"])
    assert np.abs(g.generate(z).numpy() - ref["out_psi1"]).max() <= 1e-4
    assert np.abs(g.generate(z, 0.7).numpy() - ref["out_psi07"]).max() <= 1e-4
    t = input_transform(translate=(0.1, -0.05), angle=10)
    assert np.abs(g.generate(z, transform=t).numpy() - ref["out_psi1_transform"]).max() <= 1e-4
    # the translate / rotate edit through the renderer, batched with an unmoved recipe
    moved = with_transform(Recipe(ModelRef(""), VectorLatent(tuple(ref["z"][1].tolist()))), (0.1, -0.05), 10)
    still = Recipe(ModelRef(""), VectorLatent(tuple(ref["z"][2].tolist())))
    out, _ = Renderer().run(g, [moved, still])
    assert np.abs(out[0].numpy() - ref["out_psi1_transform"][1]).max() <= 1e-4
    assert np.abs(out[1].numpy() - ref["out_psi1"][2]).max() <= 1e-4
