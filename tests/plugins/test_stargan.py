"""StarGAN v1: conformance with the official outputs, checkpoint layouts, the label sidecar, and recipes
of a photo plus attribute labels rendered through the studio's Renderer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_path
from latent_studio_plugins.stargan.network import StarGANConfig, StarGANv1
from studio.core.attributes import Attributes, with_attributes
from studio.core.photo import image_latent, open_photo, photo_tensor
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.errors import CheckpointError, RecipeError
from studio.model.registry import Registry
from studio.render.engine import Renderer


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def make_net(cfg: StarGANConfig = StarGANConfig(8, 5, 2), seed: int = 0) -> StarGANv1:
    """Random weights with non-trivial InstanceNorm affine parameters and running buffers."""
    torch.manual_seed(seed)
    net = StarGANv1(cfg)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith(("weight", "bias")) and t.ndim == 1:
                t.add_(torch.randn_like(t) * 0.2)
            elif name.endswith("running_mean"):
                t.normal_(0, 0.1)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
    return net


def save_ckpt(net: StarGANv1, path: Path, prefix: str = "", drop_nbt: bool = False, **kw) -> Path:
    sd = {prefix + k: v for k, v in net.state_dict().items() if not (drop_nbt and "num_batches" in k)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path, **kw)
    return path


def direct(net: StarGANv1, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x, c)


def test_conformance_with_yunjey_fixture(registry):
    folder = shared_path("fixtures", "stargan_yunjey")
    manifest = json.loads((folder / "manifest.json").read_text())
    g = registry.open(folder / manifest["checkpoint"]["file"])
    kw = manifest["constructor"]["kwargs"]
    assert g.info.family == "stargan" and g.info.z_dim == 0
    assert g.info.attributes == ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
    assert g.net.cfg == StarGANConfig(kw["conv_dim"], kw["c_dim"], kw["repeat_num"])
    assert {"attributes", "translate", "features"} <= g.info.capabilities
    x, c = np.load(folder / "x.npy"), np.load(folder / "c.npy")
    out = g.translate(x, c).numpy()
    ref = np.load(folder / "out.npy")
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-5  # fp32 floor: the official float64 result is itself 4.6e-6 away
    # Running statistics would give a clearly different image: per-sample statistics are what is checked.
    assert np.abs(out - np.load(folder / "out_eval_mode.npy")).max() > 1e-2
    # ...and the running buffers were loaded too: switching to them reproduces the eval-mode reference.
    g.net.use_running_stats(True)
    try:
        assert np.abs(g.translate(x, c).numpy() - np.load(folder / "out_eval_mode.npy")).max() <= 1e-5
    finally:
        g.net.use_running_stats(False)


LAYOUTS = {
    "state_dict": {},
    "data-parallel": {"prefix": "module."},
    "pytorch-0.4.0 (no num_batches_tracked)": {"drop_nbt": True},
    "legacy-serialization": {"_use_new_zipfile_serialization": False},
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_load_and_match_the_network(registry, tmp_path, layout):
    cfg = StarGANConfig(conv_dim=12, c_dim=3, repeat_num=3)
    net = make_net(cfg, seed=3)
    path = save_ckpt(net, tmp_path / "200000-G.ckpt", **LAYOUTS[layout])
    g = registry.open(path)
    assert g.net.cfg == cfg
    assert g.info.attributes == ("label_1", "label_2", "label_3")  # no sidecar, not the CelebA 5
    assert g.info.layer_names == ("input", "down1", "down2", "res1", "res2", "res3", "up1", "up2", "output")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = torch.tensor([[1.0, 0, 1], [0, 0.5, 0]])
    assert torch.allclose(g.translate(x, c), direct(net, x, c), atol=1e-6)


def test_sidecar_names_size_and_groups(registry, tmp_path):
    net = make_net(StarGANConfig(8, 4, 1))
    path = save_ckpt(net, tmp_path / "a" / "10-G.ckpt")
    (path.parent / "attributes.txt").write_text("# hair first\nBlack_Hair\nBlond_Hair\n\nEyeglasses  # glasses\nSmiling\n")
    g = registry.open(path)
    assert g.info.attributes == ("Black_Hair", "Blond_Hair", "Eyeglasses", "Smiling")
    assert g.exclusive_groups == ((0, 1),) and g.info.resolution == 128
    assert "attributes.txt" in g.info.format
    # JSON wins over the text file, and carries the image size and extra exclusive groups.
    (path.parent / "attributes.json").write_text(json.dumps(
        {"attributes": ["happy", "sad", "angry", "Male"], "image_size": 64, "exclusive": [["happy", "sad", "angry"]]}))
    g = registry.open(path)
    assert g.info.attributes == ("happy", "sad", "angry", "Male")
    assert g.exclusive_groups == ((0, 1, 2),) and g.info.resolution == 64


def test_image_size_from_the_official_folder_name(registry, tmp_path):
    path = save_ckpt(make_net(), tmp_path / "stargan_celeba_256" / "models" / "200000-G.ckpt")
    assert registry.open(path).info.resolution == 256


@pytest.mark.parametrize("content, message", [
    (["Black_Hair", "Male"], "names 2 attributes but 10-G.ckpt takes 5 labels"),
    ("{not json", "attributes.json next to the checkpoint is damaged: not valid JSON"),
    ({"attributes": ["a", "b", "c", "d", "e"], "image_size": 4096},
     "claims an image size of 4096, over the limit of 1024"),
    ({"attributes": ["a", "b", "c", "d", "e"], "image_size": 130}, "multiple of 4"),
    (["a", "b", "c", "a", "e"], "names an attribute twice"),
    ({"attributes": ["a", "b", "c", "d", "e"], "exclusive": [["a", "zz"]]}, "unknown attributes ['zz']"),
])
def test_bad_sidecars_are_named(registry, tmp_path, content, message):
    path = save_ckpt(make_net(), tmp_path / "10-G.ckpt")
    (tmp_path / "attributes.json").write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(CheckpointError, match=message.replace("[", r"\[").replace("]", r"\]")):
        registry.open(path)


def test_discriminator_file_points_to_the_generator(registry, tmp_path):
    sd = {"main.0.weight": torch.randn(8, 3, 4, 4), "main.0.bias": torch.zeros(8),
          "main.2.weight": torch.randn(16, 8, 4, 4), "main.2.bias": torch.zeros(16),
          "conv1.weight": torch.randn(1, 16, 3, 3), "conv2.weight": torch.randn(5, 16, 4, 4)}
    torch.save(sd, tmp_path / "1000-D.ckpt")
    with pytest.raises(CheckpointError, match=r"discriminator.*1000-G\.ckpt"):
        registry.open(tmp_path / "1000-D.ckpt")


def test_families_do_not_claim_each_other(registry, tmp_path, tiny_dcgan_path):
    from studio.model.probe import Probe

    stargan = save_ckpt(make_net(), tmp_path / "1-G.ckpt")
    by_name = {p.name: p for p in registry.plugins}
    assert by_name["DCGAN"].sniff(Probe(stargan)) == 0
    assert by_name["StarGAN"].sniff(Probe(tiny_dcgan_path)) == 0


@pytest.fixture
def model_and_photo(registry, tmp_path):
    net = make_net()
    path = save_ckpt(net, tmp_path / "m" / "1000-G.ckpt")
    (path.parent / "attributes.json").write_text(json.dumps({"attributes": [
        "Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"], "image_size": 32}))
    rng = np.random.default_rng(0)
    photo = tmp_path / "face.png"
    Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(photo)
    return registry.open(path), net, photo


def test_recipe_renders_the_translation_and_caches_stages(model_and_photo):
    g, net, photo = model_and_photo
    base = Recipe(ModelRef("m.ckpt", g.model_id), image_latent(photo))
    blond = with_attributes(base, (0, 1, 0, 0, 1))
    renderer = Renderer()
    out, ran = renderer.run(g, [blond])
    assert ran == len(g.stages)
    x = photo_tensor(open_photo(photo), (0.5, 0.5, 1.0), 32)
    want = direct(net, x, torch.tensor([[0.0, 1, 0, 0, 1]]))
    assert torch.allclose(out, want, atol=1e-6)
    assert renderer.run(g, [blond])[1] == 0  # same photo and labels: every stage from the cache
    frame = renderer.render(g, with_attributes(base, (0, 1, 0, 1, 1)))  # a toggle re-runs the network
    assert frame.ok and frame.stages_run == len(g.stages) and frame.image.shape == (32, 32, 3)
    moved = Recipe(base.model, image_latent(photo, (0.5, 0.4, 0.8)), edits=blond.edits)
    assert not torch.allclose(renderer.run(g, [moved])[0], out)  # the crop is part of the key
    # A saved recipe parses and renders the same pixels without the plugin having registered anything.
    back = Recipe.from_json(blond.to_json())
    assert back == blond and isinstance(back.edits[0], Attributes)
    assert np.array_equal(Renderer().render(g, back).image, renderer.render(g, blond).image)


def test_recipe_problems_come_back_as_messages(model_and_photo):
    g, _, photo = model_and_photo
    renderer = Renderer()
    seed = Recipe(ModelRef("m.ckpt"), SeedLatent(3))
    assert "translates a photo" in renderer.render(g, seed).error
    base = Recipe(ModelRef("m.ckpt"), image_latent(photo))
    assert "sets 3 attribute values but this model has 5" in renderer.render(
        g, with_attributes(base, (1, 0, 0))).error
    Image.new("RGB", (40, 40), "red").save(photo)  # edited after the recipe was made
    assert "has changed since this recipe was made" in renderer.render(g, with_attributes(base, (1, 0, 0, 0, 0))).error
    photo.unlink()
    assert "missing" in renderer.render(g, base).error
    with pytest.raises(RecipeError, match="multiples of 4"):
        g.translate(torch.zeros(1, 3, 30, 32), [0, 0, 0, 0, 0])
    with pytest.raises(RecipeError, match="takes 5 labels"):
        g.translate(torch.zeros(1, 3, 32, 32), [0, 1])
    with pytest.raises(RecipeError, match="translate"):
        g.generate(torch.zeros(1, 0))


def test_features_are_readable_per_block(model_and_photo):
    g, net, photo = model_and_photo
    recipe = with_attributes(Recipe(ModelRef("m.ckpt"), image_latent(photo)), (1, 0, 0, 1, 0))
    ctx = g.context([recipe])
    shapes = {}
    x = None
    with torch.inference_mode():
        for stage in g.stages:
            x = stage(x, ctx)
            shapes[stage.name] = tuple(x.shape)
    assert shapes["down2"] == (1, 32, 8, 8) and shapes["res2"] == (1, 32, 8, 8) and shapes["output"] == (1, 3, 32, 32)
    assert tuple(g.run(g.example_context()).shape) == (1, 3, 32, 32)  # what `info` probes shapes with
