"""StarGAN v2: nets_ema checkpoints of our own in the official key layout (with and without the later
`hpf.filter` buffer), latent- and reference-guided synthesis, domain toggles through recipes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latent_studio_plugins.stargan.network_v2 import PARTS, StarGANv2Config, build
from studio.core.attributes import with_attributes
from studio.core.latents import seed_to_z
from studio.core.photo import StyleSource, image_latent, latent_tensor, with_style_source
from studio.core.recipe import ModelRef, Recipe
from studio.errors import RecipeError
from studio.model.probe import Probe
from studio.model.registry import Registry
from studio.render.engine import Renderer


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def make_nets(cfg: StarGANv2Config, seed: int = 0):
    torch.manual_seed(seed)
    nets = build(cfg)
    with torch.no_grad():  # non-trivial norms and biases, so a misplaced one shows
        for net in nets:
            for name, p in net.named_parameters():
                if p.ndim == 1:
                    p.add_(torch.randn_like(p) * 0.2)
    return [n.eval() for n in nets]


def save_nets_ema(nets, path: Path, hpf_filter: float | None = None) -> Path:
    """torch.save({generator, mapping_network, style_encoder}) as the official CheckpointIO writes it."""
    out = {name: net.state_dict() for name, net in zip(PARTS, nets)}
    if hpf_filter is not None:  # later official versions register the high-pass filter as a buffer
        out["generator"]["hpf.filter"] = torch.tensor([[-1, -1, -1], [-1, 8.0, -1], [-1, -1, -1]]) / hpf_filter
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return path


CFG = StarGANv2Config(img_size=32, style_dim=16, latent_dim=8, num_domains=3, w_hpf=0.0, max_conv_dim=32, dim_in=8)


@pytest.mark.parametrize("variant, w_hpf, saved_filter", [
    ("afhq-like", 0.0, None), ("celeba_hq 2020 (no hpf.filter)", 1.0, None), ("celeba_hq later", 2.0, 2.0)])
def test_nets_ema_loads_and_translates_like_the_networks(registry, tmp_path, variant, w_hpf, saved_filter):
    cfg = StarGANv2Config(32, 16, 8, 2, w_hpf, 32, 8)
    nets = make_nets(cfg, seed=1)
    g = registry.open(save_nets_ema(nets, tmp_path / "100000_nets_ema.ckpt", saved_filter))
    assert g.info.attributes == ("female", "male") and g.info.resolution == 32
    assert ("without FAN" in g.info.format) == (w_hpf > 0)
    assert len(g.generator.encode) == (4 if w_hpf else 3)
    dcgan = next(p for p in registry.plugins if p.name == "DCGAN")
    assert dcgan.sniff(Probe(tmp_path / "100000_nets_ema.ckpt")) == 0
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = torch.randn(2, 8)
    gen, mapping, encoder = nets
    with torch.no_grad():
        want = gen(x, mapping(z)[torch.arange(2), torch.tensor([1, 0])])
        want_ref = gen(x, encoder(x.flip(0))[:, 1])
    got = g.translate(x, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), z=z)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(g.translate(x, [0.0, 1.0], reference=x.flip(0)), want_ref, atol=1e-6)


def test_domain_values_blend_styles_linearly(registry, tmp_path):
    nets = make_nets(CFG)
    g = registry.open(save_nets_ema(nets, tmp_path / "1_nets_ema.ckpt"))
    z = torch.randn(1, 8)
    s = [g.style(torch.eye(3)[d:d + 1], z=z) for d in range(3)]
    blend = g.style(torch.tensor([[0.25, 0.0, 1.5]]), z=z)
    assert torch.allclose(blend, 0.25 * s[0] + 1.5 * s[2], atol=1e-5)


@pytest.fixture
def v2_and_photos(registry, tmp_path):
    nets = make_nets(CFG, seed=2)
    path = save_nets_ema(nets, tmp_path / "m" / "050000_nets_ema.ckpt")
    (path.parent / "attributes.json").write_text(json.dumps(["cat", "dog", "fox"]))
    rng = np.random.default_rng(0)
    photos = []
    for i in range(2):
        p = tmp_path / f"p{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(p)
        photos.append(p)
    return registry.open(path), nets, photos


def test_recipes_toggle_domains_rerunning_only_the_decoder(v2_and_photos):
    g, nets, (photo, ref_photo) = v2_and_photos
    assert g.info.attributes == ("cat", "dog", "fox") and g.exclusive_groups == ((0, 1, 2),)
    assert tuple(g.run(g.example_context()).shape) == (1, 3, 32, 32)
    base = Recipe(ModelRef("m"), image_latent(photo))
    dog = with_style_source(with_attributes(base, (0, 1, 0)), seed=5)
    renderer = Renderer()
    out, ran = renderer.run(g, [dog])
    assert ran == len(g.stages)
    x = latent_tensor(dog.latent, 32)
    gen, mapping, encoder = nets
    with torch.no_grad():
        want = gen(x, mapping(torch.from_numpy(seed_to_z(5, 8, "normal"))[None])[:, 1])
    assert torch.allclose(out, want, atol=1e-6)
    decoder = sum(1 for s in g.stages if s.name.startswith("dec")) + 1  # decoder blocks and to_rgb
    assert renderer.run(g, [with_attributes(dog, (0, 0, 1))])[1] == decoder  # the photo's encoding is cached
    assert renderer.run(g, [with_style_source(dog, seed=6)])[1] == decoder
    referenced = with_style_source(dog, reference=image_latent(ref_photo))
    out_ref, _ = renderer.run(g, [referenced])
    with torch.no_grad():
        want_ref = gen(x, encoder(latent_tensor(image_latent(ref_photo), 32))[:, 1])
    assert torch.allclose(out_ref, want_ref, atol=1e-6)
    back = Recipe.from_json(referenced.to_json())
    assert back == referenced and isinstance(back.edits[-1], StyleSource)
    # No domain set: the first one, not an all-zero style.
    first = renderer.run(g, [with_attributes(dog, (1, 0, 0))])[0]
    assert torch.allclose(renderer.run(g, [with_style_source(base, seed=5)])[0], first)


def test_v2_errors_are_clear(v2_and_photos):
    g, _, _ = v2_and_photos
    with pytest.raises(RecipeError, match="takes 3 domain values per image"):
        g.translate(torch.zeros(1, 3, 32, 32), [1, 0])
    with pytest.raises(RecipeError, match="reference images must be shaped"):
        g.translate(torch.zeros(1, 3, 32, 32), [1, 0, 0], reference=torch.zeros(1, 3, 16, 16))
    with pytest.raises(RecipeError, match="multiples of 2"):
        g.translate(torch.zeros(1, 3, 31, 32), [1, 0, 0])
    with pytest.raises(RecipeError):
        StyleSource(-1)
    with pytest.raises(RecipeError):
        StyleSource(0, "ref.png", crop=(0.5, 0.5))
