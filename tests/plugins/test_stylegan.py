"""StyleGAN family on tiny random networks: file layouts, map/synthesize, recipes, incremental renders."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan, to_rosinality, write_nvlabs_pickle
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.errors import CheckpointError, RecipeError
from studio.model.registry import Registry
from studio.render.engine import Renderer


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


@pytest.fixture(scope="module")
def net():
    return tiny_stylegan(seed=1)


@pytest.fixture
def gen(registry, net, tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_stylegan(path, net, name="tiny")
    return registry.open(path)


def _direct(net, z, c=None, psi=1.0, noise="const"):
    with torch.no_grad():
        return net(z, c, psi, noise)


def test_every_layout_loads_to_the_same_network(registry, net, tmp_path):
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(5))
    ref = _direct(net, z, psi=0.7)
    sd = to_rosinality(net)
    avg = net.mapping.w_avg.clone()
    ns = argparse.Namespace(size=32, latent=16, n_mlp=2, channel_multiplier=2)
    files = {
        "train.pt": ({"g": sd, "d": {}, "g_ema": sd, "g_optim": {}, "d_optim": {}, "args": ns,
                      "ada_aug_p": 0.0}, None),
        "converted.pt": ({"g_ema": sd, "latent_avg": avg}, None),
        "bare.pt": (sd, None),
    }
    formats = {}
    for name, (obj, _) in files.items():
        torch.save(obj, tmp_path / name)
    write_nvlabs_pickle(tmp_path / "snap.pkl", net)
    save_stylegan(tmp_path / "ours.safetensors", net)
    save_stylegan(tmp_path / "half.safetensors", net, half=True)
    for name in ["converted.pt", "snap.pkl", "ours.safetensors"]:
        g = registry.open(tmp_path / name)
        formats[name] = g.info.format
        assert (g.info.family, g.info.resolution, g.info.num_ws, g.info.w_dim) == ("stylegan2", 32, 8, 16)
        assert torch.allclose(g.generate(z, 0.7), ref, atol=1e-5), name
    assert len(set(formats.values())) == 3
    # Training checkpoints and bare state_dicts carry no w_avg: psi=1 matches, truncation uses an estimate.
    for name in ["train.pt", "bare.pt"]:
        g = registry.open(tmp_path / name)
        assert torch.allclose(g.generate(z), _direct(net, z), atol=1e-5), name
        assert g.info.format.startswith("rosinality")
        assert torch.allclose(g.w_avg, net.mapping.w_avg, atol=0.1)  # both are means of mapped samples
    half = registry.open(tmp_path / "half.safetensors")
    assert (half.generate(z, 0.7) - ref).abs().max() < 0.05


@pytest.mark.parametrize("protocol", [3, 4])  # Python 3.7 wrote the 2020-21 official pickles with protocol 3
def test_conditional_nvlabs_pickle_uses_the_class(registry, tmp_path, protocol):
    net = tiny_stylegan(c_dim=3, seed=2)
    write_nvlabs_pickle(tmp_path / "cond.pkl", net, protocol=protocol)
    g = registry.open(tmp_path / "cond.pkl")
    assert g.info.c_dim == 3
    z = torch.randn(3, 16)
    c = torch.eye(3)
    out = g.generate(z, c=c)
    assert torch.allclose(out, _direct(net, z, c), atol=1e-5)
    assert (out - g.generate(z, c=c[[1, 2, 0]])).abs().max() > 1e-2  # the class changes the image


def test_map_and_synthesize(gen, net):
    z = torch.randn(2, 16)
    ws = gen.map(z)
    assert ws.shape == (2, 8, 16)
    assert torch.equal(ws[:, 0], ws[:, 7])  # one w broadcast to every style input
    t = gen.map(z, truncation=0.5, truncation_cutoff=3)
    avg = gen.w_avg
    assert torch.allclose(t[:, :3], avg + 0.5 * (ws[:, :3] - avg), atol=1e-6)
    assert torch.equal(t[:, 3:], ws[:, 3:])
    assert torch.allclose(gen.map(z, truncation=0.0), avg.expand(2, 8, 16))
    img = gen.synthesize(ws)
    assert img.shape == (2, 3, 32, 32)
    assert torch.equal(img, gen.generate(z))
    assert torch.allclose(img, _direct(net, z), atol=1e-6)
    none = gen.synthesize(ws, noise="none")
    assert (none - img).abs().max() > 1e-3
    r1, r2 = gen.synthesize(ws, noise="random"), gen.synthesize(ws, noise="random")
    assert (r1 - r2).abs().max() > 1e-4
    with pytest.raises(RecipeError, match="noise mode"):
        gen.synthesize(ws, noise="loud")
    with pytest.raises(RecipeError, match="shape"):
        gen.synthesize(ws[:, :4])
    assert gen.info.capabilities == {"walk", "style_mix", "features"}
    assert gen.style_resolutions() == [4, 4, 8, 8, 16, 16, 32, 32]


def _recipe(seed=3, **kw) -> Recipe:
    return Recipe(ModelRef("tiny"), SeedLatent(seed), **kw)


def test_recipe_truncation_and_walks_act_in_w(gen):
    base = _recipe(truncation=0.6)
    z = torch.from_numpy(gen.latent(SeedLatent(3)))[None]
    ctx = gen.context([base])
    assert torch.allclose(ctx.ws, gen.map(z, truncation=0.6), atol=1e-6)
    d = tuple(float(v) for v in np.linspace(-1, 1, 16))
    walked = gen.context([base.with_walk("pca:0", d, 2.0, space="w", layers=(2, 5))]).ws
    delta = walked - ctx.ws
    assert torch.allclose(delta[0, 2:5], 2.0 * torch.tensor(d).expand(3, 16), atol=1e-5)
    assert delta[0, :2].abs().max() == 0 and delta[0, 5:].abs().max() == 0
    zwalk = gen.context([base.with_walk("z", d, 1.0, space="z")]).ws
    assert torch.allclose(zwalk, gen.map(z + torch.tensor(d), truncation=0.6), atol=1e-5)
    with pytest.raises(RecipeError, match="layers"):
        gen.context([base.with_walk("bad", d, 1.0, space="w", layers=(6, 12))])
    with pytest.raises(RecipeError, match="values"):
        gen.context([base.with_walk("bad", d[:5], 1.0, space="w")])


def test_changing_late_style_inputs_reruns_only_late_stages(gen):
    r = Renderer()
    base = _recipe()
    full = r.render(gen, base)
    assert full.ok and full.stages_run == len(gen.stages) == 9
    assert r.render(gen, base).stages_run == 0  # everything cached
    d = tuple(float(v) for v in np.random.RandomState(0).randn(16))
    n = gen.info.num_ws
    fine = base.with_walk("fine", d, 3.0, space="w", layers=(n - 4, n))
    inc = r.render(gen, fine)
    first = next(i for i, s in enumerate(gen.stages) if n - 4 in getattr(s, "rows", ()))
    assert inc.stages_run == len(gen.stages) - first == 4
    fresh = Renderer().render(gen, fine)
    # Each stage's output carries the RGB sum so far: the last cached one is a faithful low-res preview.
    ctx = gen.context([fine])
    x = None
    for stage in gen.stages[:-1]:
        x = stage(x, ctx)
    assert stage.features(x).shape[1] == gen.net.cfg.channels[-1]
    final = gen.stages[-1](x, ctx)  # the last ToRGB adds onto the carried preview
    last_rgb = gen.net.synthesis.b32.torgb(stage.features(x), ctx.ws[:, 7])
    assert torch.allclose(final - stage.preview(x), last_rgb, atol=1e-5)
    assert fresh.stages_run == 9
    assert np.array_equal(inc.image, fresh.image)
    assert np.abs(inc.image.astype(int) - full.image.astype(int)).max() > 0  # the edit did something
    coarse = base.with_walk("coarse", d, 3.0, space="w", layers=(0, 1))
    assert r.render(gen, coarse).stages_run == 8  # only the const input is reused
    assert r.render(gen, base.with_truncation(0.5)).stages_run == 8
    noisy = r.render(gen, Recipe(ModelRef("tiny"), SeedLatent(3), noise="random"))
    assert noisy.ok and noisy.stages_run == 8  # the noisy stages run; the const input is shared
    again = r.render(gen, Recipe(ModelRef("tiny"), SeedLatent(3), noise="random"))
    assert again.stages_run == 0 and np.array_equal(again.image, noisy.image)  # seeded: the same pixels
    other = r.render(gen, Recipe(ModelRef("tiny"), SeedLatent(3), noise="random", noise_seed=1))
    assert other.stages_run == 8 and not np.array_equal(other.image, noisy.image)


def test_batched_context_matches_single(gen):
    recipes = [_recipe(1, truncation=0.5), _recipe(2), _recipe(3, truncation=0.8)]
    out, _ = Renderer().run(gen, recipes)
    for i, rec in enumerate(recipes):
        single, _ = Renderer().run(gen, [rec])
        assert torch.allclose(out[i], single[0], atol=1e-5)
    with pytest.raises(RecipeError, match="noise"):
        gen.context([_recipe(1), Recipe(ModelRef("tiny"), SeedLatent(2), noise="none")])


def test_architectures_resnet_and_orig_run(tmp_path, registry):
    for arch in ("resnet", "orig"):
        net = tiny_stylegan(seed=4, architecture=arch)
        path = tmp_path / f"{arch}.safetensors"
        save_stylegan(path, net)
        g = registry.open(path)
        z = torch.randn(2, 16)
        assert torch.allclose(g.generate(z), _direct(net, z), atol=1e-5)
        r = Renderer()
        r.render(g, _recipe())
        n = g.info.num_ws
        fine = _recipe().with_walk("f", (0.5,) * 16, 1.0, "w", (n - 1, n))
        assert r.render(g, fine).stages_run < len(g.stages)


def test_bad_files_give_clear_errors(registry, net, tmp_path):
    sd = to_rosinality(net)
    del sd["to_rgbs.1.conv.weight"]
    torch.save({"g_ema": sd}, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="to_rgbs.1.conv.weight"):
        registry.open(tmp_path / "broken.pt")
    write_nvlabs_pickle(tmp_path / "snap.pkl", net)
    data = (tmp_path / "snap.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        registry.open(tmp_path / "cut.pkl")


def test_style_mixing_edit(gen):
    from studio.core.style_edits import Mix, with_mix

    base = _recipe(3, truncation=0.8)
    mixed = with_mix(base, "mix:B", (3, 8), seed=9)
    assert Recipe.from_json(mixed.to_json()) == mixed
    za = torch.from_numpy(gen.latent(SeedLatent(3)))[None]
    zb = torch.from_numpy(gen.latent(SeedLatent(9)))[None]
    want = torch.cat([gen.map(za, truncation=0.8)[:, :3], gen.map(zb, truncation=0.8)[:, 3:]], dim=1)
    assert torch.allclose(gen.context([mixed]).ws, want, atol=1e-6)
    half = with_mix(base, "mix:B", (3, 8), seed=9, amount=0.5)
    ws0 = gen.context([base]).ws
    assert torch.allclose(gen.context([half]).ws, torch.cat([ws0[:, :3], (ws0[:, 3:] + want[:, 3:]) / 2], 1),
                          atol=1e-5)
    assert with_mix(mixed, "mix:B", (3, 8), seed=9, amount=0) == base
    r = Renderer()
    r.render(gen, base)
    frame = r.render(gen, with_mix(base, "mix:B", (5, 8), seed=9))  # rows 5.. are read from stage 6 on
    assert frame.ok and frame.stages_run == 3
    with pytest.raises(RecipeError, match="either a seed"):
        Mix("m", (0, 2))
    from studio.core.style_edits import with_transform

    with pytest.raises(RecipeError, match="StyleGAN3"):
        gen.context([with_transform(base, (0.1, 0.0), 5)])
    assert not {"translate", "transform"} & gen.info.capabilities
    with pytest.raises(RecipeError, match="outside"):
        gen.context([with_mix(base, "m", (4, 20), seed=1)])


def test_sefa_directions_are_the_strongest_style_edits(net):
    from latent_studio_plugins.stylegan.directions import affine_weights, sefa_directions

    fine = sefa_directions(net, k=4, layers=(5, 8))
    assert fine.vectors.shape == (4, 16) and fine.space == "w"
    assert np.allclose(fine.vectors @ fine.vectors.T, np.eye(4), atol=1e-5)
    a = affine_weights(net, 5, 8)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    gains = np.linalg.norm(a @ fine.vectors.T, axis=0)
    assert np.all(np.diff(gains) <= 1e-9)  # strongest first
    rand = np.random.RandomState(0).randn(200, 16)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    assert gains[0] >= np.linalg.norm(a @ rand.T, axis=0).max() - 1e-9  # no direction moves these styles more
    coarse = sefa_directions(net, k=1, layers=(0, 2))
    assert abs(float(coarse.vectors[0] @ fine.vectors[0])) < 0.99  # the layer range matters
