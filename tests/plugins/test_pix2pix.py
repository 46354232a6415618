"""pix2pix / CycleGAN (junyanz): conformance with the official outputs in every mode the fixtures record,
legacy files, a CycleGAN pair's directions and cycle, photo recipes through the Renderer, and unit drops
that stay where they are made."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_path
from studio.core.photo import image_latent, open_photo, photo_tensor
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.units import UnitMask, drop, with_unit_edits
from studio.errors import RecipeError
from studio.model.registry import Registry
from studio.render.engine import Renderer


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def _manifest(name: str) -> tuple[Path, dict]:
    folder = shared_path("fixtures", name)
    return folder, json.loads((folder / "manifest.json").read_text())


@pytest.mark.parametrize("variant", ["unet_128", "unet_256"])
def test_pix2pix_conformance_in_every_official_mode(registry, variant):
    folder, manifest = _manifest("pix2pix_junyanz")
    v = manifest["variants"][variant]
    g = registry.open(folder / v["checkpoint"]["file"])
    assert g.info.family == "pix2pix" and g.info.z_dim == 0 and "translate" in g.info.capabilities
    assert variant in g.info.format and "batch norm" in g.info.format
    choices = {c.name: c for c in g.info.choices}
    assert choices["mode"].value == "as trained" and "official default" in choices["mode"].source
    assert choices["dropout"].value == "on" and choices["dropout"].source.startswith("assumed")
    x = np.load(folder / v["folder"] / v["inputs"][0]["file"])
    masks = [np.load(folder / v["folder"] / m["file"]) for m in v["dropout_masks"]]
    assert len(masks) == v["constructor"]["num_dropout"]
    refs = {o["file"]: np.load(folder / v["folder"] / o["file"]) for o in v["outputs"]}
    got = {
        "out_testpy_default.npy": g.translate(x, dropout_masks=masks),  # test.py: train BN + dropout
        "out_bn_train_no_dropout.npy": g.translate(x, dropout=False),
        "out_eval.npy": g.translate(x, mode="eval"),  # test.py --eval
    }
    for name, ref in refs.items():
        out = got[name].numpy()
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= 1e-5, name
    # the modes differ clearly, so each comparison above checks its own mode
    assert np.abs(got["out_eval.npy"].numpy() - refs["out_testpy_default.npy"]).max() > 0.1
    assert np.abs(got["out_bn_train_no_dropout.npy"].numpy() - refs["out_testpy_default.npy"]).max() > 0.1
    # the model's own setting: "eval" picked is test.py --eval; dropout off is the deterministic train mode
    assert np.abs(g.choose(mode="eval").translate(x).numpy() - refs["out_eval.npy"]).max() <= 1e-5
    off = g.choose(dropout="off")
    assert np.abs(off.translate(x).numpy() - refs["out_bn_train_no_dropout.npy"]).max() <= 1e-5
    # the default runs with dropout from a seed: repeatable, and another seed draws another result
    a, b = g.translate(x), g.translate(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, g.choose(dropout_seed="7").translate(x))
    with pytest.raises(RecipeError, match="dropout masks"):
        g.translate(x, dropout_masks=masks[:1])


@pytest.mark.parametrize("variant, folder_name", [("resnet_9blocks", "resnet_9blocks"), ("resnet_6blocks", "resnet_6blocks"),
                                                  ("resnet_9blocks", "legacy_torch03"),
                                                  ("resnet_9blocks", "legacy_track_running_stats")])
def test_cyclegan_conformance_and_legacy_instance_norm_keys(registry, variant, folder_name):
    folder, manifest = _manifest("cyclegan_junyanz")
    v = manifest["variants"][variant]
    g = registry.open(folder / folder_name / "latest_net_G_A.pth")
    assert g.info.family == "cyclegan" and variant in g.info.format and "instance norm" in g.info.format
    assert g.info.choices == ()  # instance norm without running stats, no dropout: nothing the mode changes
    x = np.load(folder / manifest["inputs"][0]["file"])
    ref = np.load(folder / v["folder"] / v["outputs"][0]["file"])
    out = g.translate(x).numpy()
    assert out.shape == ref.shape and np.abs(out - ref).max() <= 1e-5
    assert torch.equal(g.translate(x, mode="eval"), g.translate(x))  # identical in both modes, as official
    assert g.info.layer_names == ("input", "down1", "down2", *[f"res{i + 1}" for i in range(
        int(variant.split("_")[1][0]))], "up1", "up2", "output")
    # a batch of two is two independent images (per-image statistics)
    assert torch.allclose(g.translate(x[1:]), g.translate(x)[1:], atol=1e-5)


def test_wrong_inputs_are_named(registry):
    folder, _ = _manifest("cyclegan_junyanz")
    g = registry.open(folder / "resnet_6blocks" / "latest_net_G_A.pth")
    with pytest.raises(RecipeError, match="multiples of 4"):
        g.translate(torch.zeros(1, 3, 30, 32))
    with pytest.raises(RecipeError, match=r"\(N, 3, H, W\)"):
        g.translate(torch.zeros(1, 1, 32, 32))
    with pytest.raises(RecipeError, match="takes no labels"):
        g.translate(torch.zeros(1, 3, 32, 32), [1, 0])
    with pytest.raises(RecipeError, match="translate"):
        g.generate(torch.zeros(1, 0))
    assert "translates a photo" in Renderer().render(g, Recipe(ModelRef("m"), SeedLatent(1))).error


def _perturbed_copy(src: Path, dst: Path, seed: int) -> dict:
    """Another generator of the same layout (a CycleGAN's G_B): the file's weights plus seeded noise."""
    from studio.model.safeload import load_torch

    sd = load_torch(src)
    gen = torch.Generator().manual_seed(seed)
    sd = {k: v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v for k, v in sd.items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, dst)
    return sd


@pytest.fixture
def cycle_pair(tmp_path):
    folder, _ = _manifest("cyclegan_junyanz")
    src = folder / "resnet_6blocks" / "latest_net_G_A.pth"
    a = tmp_path / "horse2zebra" / "latest_net_G_A.pth"
    b = tmp_path / "horse2zebra" / "latest_net_G_B.pth"
    _perturbed_copy(src, a, 1)
    _perturbed_copy(src, b, 2)
    return a, b


def test_cyclegan_pair_offers_the_reverse_and_the_cycle(registry, cycle_pair):
    a, b = cycle_pair
    g = registry.open(a)
    direction = {c.name: c for c in g.info.choices}["direction"]
    assert direction.value == "A->B" and direction.values == ("A->B", "B->A", "A->B->A")
    alone_a, alone_b = registry.open(b).choose(direction="A->B"), registry.open(b)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    fwd = g.translate(x)
    rev = g.choose(direction="B->A")
    assert rev.model_id != g.model_id and torch.equal(rev.translate(x), alone_b.translate(x))
    assert torch.equal(alone_a.translate(x), fwd)  # opened from G_B, A->B is G_A
    cyc = g.choose(direction="A->B->A")
    assert cyc.info.layer_names[0] == "G_A.input" and cyc.info.layer_names[-1] == "G_B.output"
    assert torch.allclose(cyc.translate(x), alone_b.translate(fwd), atol=1e-6)  # G_B(G_A(x))
    b.write_bytes(b.read_bytes()[:1000])  # a damaged G_B: G_A still opens, and says why there is no pair
    g = registry.open(a)
    assert g.info.choices == () and "latest_net_G_B.pth beside it is not a matching generator" in g.info.format
    assert torch.equal(g.translate(x), fwd)


@pytest.fixture
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    p = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(p)
    return p


def test_photo_recipes_render_and_cache(registry, photo):
    folder, _ = _manifest("pix2pix_junyanz")
    g = registry.open(folder / "unet_256" / "latest_net_G.pth")  # grayscale: 1 channel in, 1 out
    recipe = Recipe(ModelRef("m", g.model_id), image_latent(photo))
    renderer = Renderer()
    out, ran = renderer.run(g, [recipe])
    assert ran == len(g.stages) and out.shape == (1, 1, 256, 256)
    x = photo_tensor(open_photo(photo), (0.5, 0.5, 1.0), 256)
    gray = (x * torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1, keepdim=True)
    assert torch.allclose(out, g.translate(gray), atol=1e-6)
    assert renderer.run(g, [recipe])[1] == 0
    frame = renderer.render(g, recipe)
    assert frame.ok and frame.image.shape == (256, 256, 3)


def _changed_rows_cols(a: torch.Tensor, b: torch.Tensor, tol: float) -> np.ndarray:
    return ((a - b).abs().amax(1)[0] > tol).numpy()


def test_masked_unit_drop_changes_only_its_receptive_field(registry, photo):
    """A drop on res3 of a 6-block CycleGAN inside the top-left quarter: pixels farther than the network's
    receptive field from it stay as they were, those inside change."""
    folder, _ = _manifest("cyclegan_junyanz")
    g = registry.open(folder / "resnet_6blocks" / "latest_net_G_A.pth")
    base = Recipe(ModelRef("m", g.model_id), image_latent(photo))
    renderer = Renderer()
    plain = renderer.run(g, [base])[0]
    side = plain.shape[-1]  # 256
    grid = np.zeros((32, 32), bool)
    grid[:8, :8] = True  # the top-left quarter of each side: 64x64 px, 16x16 cells at res3 (64x64)
    edit = drop("res3", range(32), UnitMask.from_array(grid))
    edited = renderer.run(g, [with_unit_edits(base, [edit])])[0]
    changed = _changed_rows_cols(edited, plain, 1e-5)
    # Radius of what one res3 output cell reaches, in output pixels: res4-res6 (two 3x3 convs each) at
    # quarter size, the two 3x3 transposed convs, the last 7x7 conv; doubled for the reflection padding.
    reach = 2 * (4 * (3 * 2) + 2 * 2 + 1 + 3)
    edge = side // 4
    outside = np.ones_like(changed)
    outside[:edge + reach, :edge + reach] = False
    assert outside.sum() > 0.5 * side * side
    assert not changed[outside].any()
    assert changed[:edge, :edge].mean() > 0.9  # the dropped area itself changes
    # Without the statistics kept at the photo's values, InstanceNorm would spread it everywhere:
    from latent_studio_plugins.pix2pix.generator import PINNED

    ctx = g.recipe_context([with_unit_edits(base, [edit])])
    del ctx.extras[PINNED]
    leaked = g.run(ctx)
    assert _changed_rows_cols(leaked, plain, 1e-5)[outside].mean() > 0.5


def test_translate_cli_runs_a_translator_without_labels(registry, tmp_path, photo, capsys):
    from studio.cli import main
    from studio.render.engine import to_uint8

    folder, _ = _manifest("pix2pix_junyanz")
    ckpt = folder / "unet_128" / "latest_net_G.pth"
    (tmp_path / "in").mkdir()
    photo.rename(tmp_path / "in" / "p.png")
    assert main(["translate", str(tmp_path / "in"), "--model", str(ckpt), "--out", str(tmp_path / "out"),
                 "--pick", "mode=eval"]) == 0
    assert "translated 1 photo" in capsys.readouterr().out
    got = np.asarray(Image.open(tmp_path / "out" / "p.png"))
    x = photo_tensor(open_photo(tmp_path / "in" / "p.png"), (0.5, 0.5, 1.0), 128)
    want = to_uint8(registry.open(ckpt).translate(x, mode="eval"))[0]
    assert np.array_equal(got, want)
    assert main(["translate", str(tmp_path / "in"), "--model", str(ckpt), "--out", str(tmp_path / "o2"),
                 "--set", "Blond_Hair=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("this model takes no labels, so --set Blond_Hair=... has nothing to set")
    assert len(err.splitlines()) == 1


def test_a_discriminator_points_to_its_generator(registry, tmp_path):
    from torch import nn

    layers = [nn.Conv2d(6, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8),
              nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 4, 1, 1)]
    torch.save({f"model.{k}": v for k, v in nn.Sequential(*layers).state_dict().items()},
               tmp_path / "latest_net_D_A.pth")
    from studio.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"discriminator; open the generator \(latest_net_G_A\.pth\)"):
        registry.open(tmp_path / "latest_net_D_A.pth")


def test_families_do_not_claim_each_other(registry, tiny_dcgan_path):
    from studio.model.probe import Probe

    folder, _ = _manifest("cyclegan_junyanz")
    by_name = {p.name: p for p in registry.plugins}
    assert by_name["pix2pix-cyclegan"].sniff(Probe(tiny_dcgan_path)) == 0
    stargan = shared_path("fixtures", "stargan_yunjey")
    for ckpt in stargan.glob("*.ckpt"):
        assert by_name["pix2pix-cyclegan"].sniff(Probe(ckpt)) == 0
    probe = Probe(folder / "resnet_9blocks" / "latest_net_G_A.pth")
    assert [n for n, p in by_name.items() if p.sniff(probe) > 0] == ["pix2pix-cyclegan"]
