"""StyleGAN loaders reproduce the official code's reference outputs (../shared/fixtures; skip when absent)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import shared_path
from studio.model.registry import Registry

pytestmark = pytest.mark.shared

# The manifests' hint is "~1e-5 abs" in float32. Images reach |x| ~ 19 here, where float32 spacing is ~2e-6;
# the rosinality mixing reference itself is 8e-6 away from a float64 evaluation, so it gets a little slack.
NVLABS_TOL = 1e-5
ROSINALITY_TOL = 2e-5


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def _err(out: torch.Tensor, ref: np.ndarray) -> float:
    out = out.detach().cpu().numpy()
    assert out.shape == ref.shape
    return float(np.abs(out - ref).max())


@pytest.mark.parametrize("file", ["010000.pt", "converted_g_ema_latent_avg.pt"])
def test_rosinality(registry, file):
    folder = shared_path("fixtures", "stylegan2_rosinality")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert file in {c["file"] for c in manifest["checkpoints"]}
    g = registry.open(folder / file)
    assert (g.info.resolution, g.info.num_ws, g.info.w_dim) == (32, manifest["constructor"]["n_latent"], 64)
    ld = {name: torch.from_numpy(np.load(folder / name)) for name in ("z.npy", "z_b.npy", "mean_latent.npy")}
    mean = ld["mean_latent.npy"][0]
    if file.startswith("converted"):
        assert torch.equal(g.w_avg, mean)  # latent_avg is read from the file
    else:
        g.w_avg.copy_(mean)  # training checkpoints hold none; the reference used generate.py's mean_latent
    z, zb = ld["z.npy"], ld["z_b.npy"]
    ref = {p.stem: np.load(p) for p in folder.glob("*.npy")}
    assert _err(g.map(z), ref["w_psi1"]) <= ROSINALITY_TOL
    assert _err(g.map(z, truncation=0.7), ref["w_psi07"]) <= ROSINALITY_TOL
    assert _err(g.generate(z), ref["out_psi1"]) <= ROSINALITY_TOL
    assert _err(g.generate(z, truncation=0.7), ref["out_psi07"]) <= ROSINALITY_TOL
    mixed = torch.cat([g.map(z)[:, :3], g.map(zb)[:, 3:]], dim=1)  # inject_index=3
    assert _err(g.synthesize(mixed), ref["out_mix_inject3"]) <= ROSINALITY_TOL


@pytest.mark.parametrize("variant", ["uncond", "cond"])
def test_nvlabs_stylegan2_ada(registry, variant):
    folder = shared_path("fixtures", "stylegan2ada_nvlabs", variant)
    manifest = json.loads((folder.parent / "manifest.json").read_text())["variants"][variant]
    g = registry.open(folder / manifest["checkpoint"]["file"].split("/")[-1])
    kw = manifest["G_ema"]
    info = g.info
    want = (kw["num_ws"], kw["z_dim"], kw["w_dim"], kw["c_dim"])
    assert (info.num_ws, info.z_dim, info.w_dim, info.c_dim) == want
    ref = {p.stem: np.load(p) for p in folder.glob("*.npy")}
    z, zb = torch.from_numpy(ref["z"]), torch.from_numpy(ref["z_b"])
    c = torch.from_numpy(ref["c"]) if "c" in ref else None
    assert _err(g.map(z, c), ref["w_psi1"]) <= NVLABS_TOL
    assert _err(g.map(z, c, truncation=0.7), ref["w_psi07"]) <= NVLABS_TOL
    assert _err(g.generate(z, 1.0, c), ref["out_psi1"]) <= NVLABS_TOL
    assert _err(g.generate(z, 0.7, c), ref["out_psi07"]) <= NVLABS_TOL
    assert _err(g.generate(z, 1.0, c, noise="none"), ref["out_psi1_noise_none"]) <= NVLABS_TOL
    ws_mix = torch.cat([g.map(z, c)[:, :4], g.map(zb, c)[:, 4:]], dim=1)
    assert _err(ws_mix, ref["ws_mix"]) <= NVLABS_TOL
    assert _err(g.synthesize(torch.from_numpy(ref["ws_mix"])), ref["out_mix"]) <= NVLABS_TOL
    # The const noise buffers matter: without them the image is clearly different.
    assert _err(g.generate(z, 1.0, c, noise="none"), ref["out_psi1"]) > 1e-2


@pytest.mark.parametrize("variant", ["stylegan3-t", "stylegan3-r"])
def test_nvlabs_stylegan3(registry, variant, tmp_path):
    from studio.model.wspace import input_transform
    from latent_studio_plugins.stylegan.save import save_stylegan
    from studio.render.engine import Renderer

    folder = shared_path("fixtures", "stylegan3_nvlabs", variant)
    manifest = json.loads((folder.parent / "manifest.json").read_text())["variants"][variant]
    g = registry.open(folder / "network-snapshot-000000.pkl")
    kw = manifest["G_ema"]
    info = g.info
    want = ("stylegan3", kw["num_ws"], kw["z_dim"], kw["w_dim"])
    assert (info.family, info.num_ws, info.z_dim, info.w_dim) == want
    ref = {p.stem: np.load(p) for p in folder.glob("*.npy")}
    z, zb = torch.from_numpy(ref["z"]), torch.from_numpy(ref["z_b"])
    cut = manifest["mix_cutoff"]
    assert _err(g.map(z), ref["w_psi1"]) <= NVLABS_TOL
    assert _err(g.map(z, truncation=0.7), ref["w_psi07"]) <= NVLABS_TOL
    assert _err(g.generate(z), ref["out_psi1"]) <= NVLABS_TOL
    assert _err(g.generate(z, 0.7), ref["out_psi07"]) <= NVLABS_TOL
    assert _err(torch.cat([g.map(z)[:, :cut], g.map(zb)[:, cut:]], dim=1), ref["ws_mix"]) <= NVLABS_TOL
    assert _err(g.synthesize(torch.from_numpy(ref["ws_mix"])), ref["out_mix"]) <= NVLABS_TOL
    # The input transform: gen_images.py's inverse make_transform, passed per call (the file is untouched).
    t = input_transform(translate=(0.1, -0.05), angle=10)
    assert np.abs(t.numpy() - ref["transform_inv"]).max() <= 1e-6
    assert _err(g.generate(z, transform=t), ref["out_psi1_transform"]) <= NVLABS_TOL
    # ... and as a recipe edit (what the translate / rotate sliders produce), through the cached renderer.
    from studio.core.style_edits import with_transform
    from studio.core.recipe import ModelRef, Recipe, VectorLatent

    assert "transform" in g.info.capabilities and "translate" not in g.info.capabilities
    one = Recipe(ModelRef("sg3"), VectorLatent(tuple(ref["z"][1].tolist())))
    moved = with_transform(one, (0.1, -0.05), 10)
    assert Recipe.from_json(moved.to_json()) == moved
    out, _ = Renderer().run(g, [moved])
    assert _err(out[0], ref["out_psi1_transform"][1]) <= NVLABS_TOL
    # Batched with an unmoved recipe (an export of an animated translate): each keeps its own transform.
    still = Recipe(ModelRef("sg3"), VectorLatent(tuple(ref["z"][2].tolist())))
    out, _ = Renderer().run(g, [moved, still])
    assert _err(out[0], ref["out_psi1_transform"][1]) <= NVLABS_TOL
    assert _err(out[1], ref["out_psi1"][2]) <= NVLABS_TOL
    assert _err(g.generate(z), ref["out_psi1"]) <= NVLABS_TOL
    # Our own format round-trips the rebuilt network exactly.
    save_stylegan(tmp_path / "sg3.safetensors", g.net)
    again = registry.open(tmp_path / "sg3.safetensors")
    assert torch.equal(again.generate(z), g.generate(z))
    # One stage per layer: a change to the last style input re-runs only the last layer.
    from studio.core.recipe import ModelRef, Recipe, SeedLatent

    r = Renderer()
    base = Recipe(ModelRef("sg3"), SeedLatent(1))
    assert r.render(g, base).stages_run == len(g.stages)
    n = g.info.num_ws
    edited = base.with_walk("fine", (0.3,) * g.info.w_dim, 1.0, space="w", layers=(n - 1, n))
    inc = r.render(g, edited)
    assert inc.stages_run == 1
    assert np.array_equal(inc.image, Renderer().render(g, edited).image)
