"""Feature access and unit edits on every family with stages: DCGAN, a drop-in plugin, StyleGAN, StarGAN."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import studio
from conftest import ROOT, make_dcgan, shared_path
from studio.core.photo import image_latent
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.units import UnitMask, drop, insert, with_unit_edits
from studio.errors import RecipeError
from studio.model import registry as registry_mod
from studio.model.api import ModelInfo
from studio.model.modules import module_generator
from studio.model.registry import Registry
from studio.render.analysis import run_job
from studio.render.engine import Renderer
from studio.render.features import layer_activations, unit_statistics, unit_statistics_job


@pytest.fixture(scope="module")
def g():
    info = ModelInfo(family="dcgan", format="test", resolution=32, z_dim=16)
    return module_generator(make_dcgan(), info, model_id="tiny-features")


def seeds(*s: int) -> list[Recipe]:
    return [Recipe(ModelRef("m"), SeedLatent(v)) for v in s]


def staged(g, recipes, upto: int) -> torch.Tensor:
    ctx = g.context(recipes)
    x = None
    with torch.inference_mode():
        for stage in g.stages[:upto + 1]:
            x = stage(x, ctx)
    return x


def test_layer_activations_read_the_stage_and_share_the_render_cache(g):
    layer = g.stages[2].name
    acts = layer_activations(g, seeds(1, 2), layer)
    assert acts.shape == (2, 8, 16, 16) and acts.dtype == torch.float32
    assert torch.allclose(acts, staged(g, seeds(1, 2), 2))
    r = Renderer()
    assert torch.allclose(layer_activations(g, seeds(1), layer, r), acts[:1], atol=1e-6)
    assert r.run(g, seeds(1))[1] == 1  # the frame reuses the stages the feature view ran
    assert torch.equal(layer_activations(g, seeds(1), g.stages[1].name, r), staged(g, seeds(1), 1))
    with pytest.raises(RecipeError, match="no layer 'nope'"):
        layer_activations(g, seeds(1), "nope")


def test_layer_activations_show_the_recipes_unit_edits(g):
    layer = g.stages[1].name
    edited = [with_unit_edits(r, [drop(layer, [0, 5])]) for r in seeds(4)]
    acts = layer_activations(g, edited, layer, Renderer())
    plain = layer_activations(g, seeds(4), layer)
    assert acts[:, [0, 5]].abs().max() == 0 and plain[:, [0, 5]].abs().max() > 0
    keep = [i for i in range(acts.shape[1]) if i not in (0, 5)]
    assert torch.equal(acts[:, keep], plain[:, keep])
    later = layer_activations(g, edited, g.stages[2].name)
    assert not torch.allclose(later, layer_activations(g, seeds(4), g.stages[2].name))


def test_unit_statistics_match_the_activations(g):
    layer = g.stages[1].name
    job = unit_statistics_job(g, layer, list(range(10)), batch=4, sample_size=64)
    progress = []
    while True:
        try:
            progress.append(next(job))
        except StopIteration as stop:
            stats = stop.value
            break
    assert progress == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.9, 1.0])  # after each stage of each batch
    acts = layer_activations(g, seeds(*range(10)), layer).double()
    flat = acts.transpose(0, 1).reshape(acts.shape[1], -1).numpy()
    assert stats.units == 16 and stats.n_samples == 10 and stats.layer == layer
    assert np.allclose(stats.mean, flat.mean(1), atol=1e-5) and np.allclose(stats.std, flat.std(1), atol=1e-4)
    assert np.allclose(stats.max, flat.max(1), atol=1e-6)
    assert stats.samples.shape == (16, 64)
    nearest = np.abs(stats.samples[:, :, None] - flat[:, None, :]).min(2)  # each sample is a real value
    assert nearest.max() < 1e-5
    assert np.allclose(unit_statistics(g, layer, range(10)).mean, stats.mean, atol=1e-6)
    with pytest.raises(RecipeError, match="at least one sample"):
        run_job(unit_statistics_job(g, layer, []))


# -- other families ---------------------------------------------------------------------------------------


def check_drop_reruns_only_downstream(g, base: Recipe, k: int, units=(0, 1, 2)) -> None:
    """Dropping units at stage k changes the output, re-runs only stages k.. and shows in the features."""
    r = Renderer()
    full, ran = r.run(g, [base])
    assert ran == len(g.stages)
    edited = with_unit_edits(base, [drop(g.stages[k].name, units)])
    out, ran = r.run(g, [edited])
    assert ran == len(g.stages) - k and not torch.allclose(out, full, atol=1e-4)
    assert torch.equal(out, Renderer().run(g, [edited])[0])
    feats = layer_activations(g, [edited], g.stages[k].name, r)
    assert feats[:, list(units)].abs().max() == 0


def test_celeba_dropin_plugin_features_and_units(monkeypatch, tmp_path):
    checkpoint = shared_path("real_checkpoints", "celeba_dcgan32", "generator.pt")
    monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, str(ROOT / "examples" / "plugins"))
    monkeypatch.setattr(registry_mod, "user_plugin_dir", lambda: tmp_path / "no-user-plugins")
    registry_mod.reset_default_registry()
    try:
        g = studio.load(checkpoint, device="cpu")
    finally:
        registry_mod.reset_default_registry()
    shapes = [tuple(layer_activations(g, seeds(0), n).shape) for n in g.info.layer_names]
    assert shapes == [(1, 256, 4, 4), (1, 128, 4, 4), (1, 64, 8, 8), (1, 32, 16, 16), (1, 3, 32, 32)]
    base = Recipe(ModelRef(str(checkpoint)), SeedLatent(7))
    check_drop_reruns_only_downstream(g, base, 3, units=tuple(range(16)))
    m = np.zeros((32, 32), bool)
    m[:, :8] = True  # the left quarter
    out = Renderer().run(g, [with_unit_edits(base, [insert(g.stages[3].name, range(32), 3.0,
                                                           UnitMask.from_array(m))])])[0]
    diff = (out - Renderer().run(g, [base])[0]).abs().amax(dim=(0, 1, 2))  # per column
    assert diff[:8].min() > 0 and diff[10:].max() == 0  # one 4x4 stride-2 layer after: 1 pixel of spread


def test_stylegan_stages_edit_features_not_the_carried_rgb(tmp_path):
    from latent_studio_plugins.stylegan.save import save_stylegan
    from latent_studio_plugins.stylegan.testing import tiny_stylegan

    path = tmp_path / "tiny.safetensors"
    save_stylegan(path, tiny_stylegan(seed=1), name="tiny")
    g = Registry.discover(search_paths=[]).open(path)
    base = Recipe(ModelRef("tiny"), SeedLatent(3))
    k = 4
    stage = g.stages[k]
    acts = layer_activations(g, [base], stage.name)
    ctx = g.context([base])
    raw = g.run(ctx, stop=k + 1)
    assert torch.equal(acts, stage.features(raw)) and acts.shape[1] < raw.shape[1]
    check_drop_reruns_only_downstream(g, base, k)
    edited = with_unit_edits(base, [drop(stage.name, range(acts.shape[1]))])
    out = g.run(g.recipe_context([edited]), stop=k + 1)
    assert out[:, :acts.shape[1]].abs().max() == 0
    assert torch.equal(stage.preview(out), stage.preview(raw))  # the RGB so far is untouched


def test_stargan_blocks_take_unit_edits(tmp_path):
    from latent_studio_plugins.stargan.network import StarGANConfig, StarGANv1
    from studio.core.attributes import with_attributes

    torch.manual_seed(0)
    net = StarGANv1(StarGANConfig(8, 5, 2))
    path = tmp_path / "m" / "1000-G.ckpt"
    path.parent.mkdir()
    torch.save(net.state_dict(), path)
    (path.parent / "attributes.json").write_text(json.dumps({"attributes": [
        "Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"], "image_size": 32}))
    photo = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(photo)
    g = Registry.discover(search_paths=[]).open(path)
    base = with_attributes(Recipe(ModelRef(str(path)), image_latent(photo)), (0, 1, 0, 0, 1))
    names = [s.name for s in g.stages]
    assert tuple(names) == g.info.layer_names
    check_drop_reruns_only_downstream(g, base, names.index("res2"))
