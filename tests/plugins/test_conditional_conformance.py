"""Class-conditional generators against the official reference outputs: eriklindernoren cgan / acgan / infogan
and pytorch-pretrained-biggan (../shared fixtures; each call as the manifest records it)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import shared_path
from studio.model.registry import Registry

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def _erik(name: str, file: str) -> np.ndarray:
    return np.load(shared_path("fixtures", "eriklindernoren_pytorch_gan", name, file))


def _tolerance() -> float:
    text = json.loads(shared_path("fixtures", "eriklindernoren_pytorch_gan", "manifest.json").read_text())
    assert "1e-6" in text["tolerance_hint"]
    return 1e-5  # "expect ~1e-6": float sums in another order, still four orders below one wrong detail


@pytest.mark.parametrize("name,family", [("cgan", "cgan"), ("acgan", "acgan")])
def test_label_embedding_generators_reproduce_the_references(registry, name, family):
    """generator(z, labels) with LongTensor labels, eval and train-mode BatchNorm (batch statistics)."""
    g = registry.open(shared_path("fixtures", "eriklindernoren_pytorch_gan", name, "generator.pth"))
    assert g.plugin_name == "Conditional GAN" and g.info.family == family
    assert (g.info.z_dim, g.info.c_dim) == (8, 4)
    z, labels = _erik(name, "z.npy"), torch.from_numpy(_erik(name, "labels.npy"))
    assert labels.dtype == torch.int64
    out = g.generate(z, c=labels).numpy()
    assert np.abs(out - _erik(name, "out_eval.npy")).max() < _tolerance()
    train = g.choose(batchnorm="train")
    assert train.model_id != g.model_id
    train_out = train.generate(z, c=labels).numpy()
    assert np.abs(train_out - _erik(name, "out_train_mode.npy")).max() < _tolerance()
    # one-hot vectors are the same classes: the embedding is read as c @ label_emb.weight
    onehot = torch.nn.functional.one_hot(labels, 4).float()
    assert np.abs(g.generate(z, c=onehot).numpy() - out).max() == 0.0
    assert np.abs(out - g.generate(z, c=torch.roll(labels, 1)).numpy()).max() > 1e-3  # the class matters


def test_cgan_embedding_order_is_a_choice_that_changes_the_image(registry):
    g = registry.open(shared_path("fixtures", "eriklindernoren_pytorch_gan", "cgan", "generator.pth"))
    emb = {c.name: c for c in g.info.choices}["embedding"]
    assert emb.value == "label first" and emb.source.startswith("assumed")
    z, labels = _erik("cgan", "z.npy"), torch.from_numpy(_erik("cgan", "labels.npy"))
    last = g.choose(embedding="label last").generate(z, c=labels).numpy()
    assert np.abs(last - _erik("cgan", "out_eval.npy")).max() > 1e-3
    acgan = registry.open(shared_path("fixtures", "eriklindernoren_pytorch_gan", "acgan", "generator.pth"))
    assert {c.name: c for c in acgan.info.choices}["embedding"].source.startswith("from the file")


def test_infogan_with_its_split_reproduces_the_references():
    """generator(z, labels_onehot, code): the file does not say how its 14 inputs split, so the DCGAN family
    opens it as z=14 and this family reads it once the split 8+4+2 is given."""
    from latent_studio_plugins.cgan import plugin
    from studio.model.probe import Probe

    path = shared_path("fixtures", "eriklindernoren_pytorch_gan", "infogan", "generator.pth")
    assert plugin.sniff(Probe(path)) == 0.0
    g = plugin.load(Probe(path), torch.device("cpu"), inputs="8+4+2")
    assert g.info.family == "infogan" and (g.info.z_dim, g.info.c_dim) == (8, 6)
    assert [(p.kind, p.size) for p in g.info.parts()] == [("classes", 4), ("continuous", 2)]
    z, onehot, code = (_erik("infogan", f) for f in ("z.npy", "labels_onehot.npy", "code.npy"))
    c = (torch.from_numpy(onehot), torch.from_numpy(code))
    assert np.abs(g.generate(z, c=c).numpy() - _erik("infogan", "out_eval.npy")).max() < _tolerance()
    train = g.choose(batchnorm="train").generate(z, c=c).numpy()
    assert np.abs(train - _erik("infogan", "out_train_mode.npy")).max() < _tolerance()
    wrong = plugin.load(Probe(path), torch.device("cpu"), inputs="8+2+4").generate(z, c=np.concatenate(
        [onehot[:, :2], code, onehot[:, 2:]], 1))
    assert np.abs(wrong.numpy() - _erik("infogan", "out_eval.npy")).max() > 1e-3  # other order: not the same


def _biggan(file: str) -> np.ndarray:
    return np.load(shared_path("fixtures", "biggan_hf", file))


BIGGAN_CALLS = [("z_trunc04.npy", "class_onehot.npy", 0.4, "out_eval_trunc04.npy"),
                ("z_trunc10.npy", "class_onehot.npy", 1.0, "out_eval_trunc10.npy"),
                ("z_trunc04.npy", "class_interp.npy", 0.4, "out_eval_interp_trunc04.npy"),
                ("z_trunc0415.npy", "class_onehot.npy", 0.415, "out_eval_trunc0415.npy"),
                ("z_trunc058.npy", "class_onehot.npy", 0.58, "out_eval_trunc058.npy")]


@pytest.fixture(scope="module")
def biggan(registry):
    return registry.open(shared_path("fixtures", "biggan_hf", "biggan-tiny-32", "pytorch_model.bin"))


def test_biggan_manifest_lists_the_calls_we_reproduce():
    m = json.loads(shared_path("fixtures", "biggan_hf", "manifest.json").read_text())
    listed = {o["file"] for o in m["outputs"]}
    assert listed == {c[3] for c in BIGGAN_CALLS} | {"out_readme_trainmode_trunc04.npy"}
    assert "5e-5" in m["tolerance_hint"]


@pytest.mark.parametrize("z,c,t,ref", BIGGAN_CALLS)
def test_biggan_eval_outputs(biggan, z, c, t, ref):
    """model(z, class_vector, truncation=t) in eval mode (stored u, v; standing stats picked by t)."""
    assert biggan.plugin_name == "BigGAN" and biggan.info.c_dim == 10 and biggan.info.prior == "truncnorm"
    out = biggan.generate(_biggan(z), c=torch.from_numpy(_biggan(c)), truncation=t).numpy()
    assert np.abs(out - _biggan(ref)).max() < 5e-5


def test_biggan_readme_train_mode_is_a_choice(biggan):
    sn = {c.name: c for c in biggan.info.choices}["spectral_norm"]
    readme = biggan.choose(spectral_norm=sn.values[1])
    onehot = torch.from_numpy(_biggan("class_onehot.npy"))
    out = readme.generate(_biggan("z_trunc04.npy"), c=onehot, truncation=0.4)
    assert np.abs(out.numpy() - _biggan("out_readme_trainmode_trunc04.npy")).max() < 5e-5
    assert np.abs(out.numpy() - _biggan("out_eval_trunc04.npy")).max() > 0.1


def test_biggan_recipes_render_what_the_official_call_gives(biggan):
    """A recipe (seed, truncation, class) renders model(truncation * truncnorm(seed), one_hot, truncation)."""
    from studio.core.recipe import ModelRef, Recipe, SeedLatent, class_condition
    from studio.render.engine import Renderer

    r = Recipe(ModelRef("", biggan.model_id), SeedLatent(5), truncation=0.415,
               condition=class_condition(3, 10))
    z = 0.415 * biggan.latents([5])
    assert float(biggan.latents(range(64)).abs().max()) <= 2.0  # the truncated normal of the prior
    direct = biggan.generate(z, c=torch.tensor([3]), truncation=0.415)
    frame = Renderer().render(biggan, r)
    assert frame.ok
    expected = ((direct[0].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255)
    assert np.abs(frame.image.astype(np.float32) - expected).max() <= 1.0
    bad = Renderer().render(biggan, Recipe(ModelRef(""), SeedLatent(5), truncation=1.5))
    assert not bad.ok and "truncation must be in (0, 1]" in bad.error


def test_biggan_per_layer_class_changes_only_from_its_layers_on(biggan):
    """A LayerClass edit on the later blocks keeps the outputs of gen_z and the early blocks, and changes the
    image."""
    from studio.core.class_edits import class_blend, with_layer_class
    from studio.core.recipe import ModelRef, Recipe, SeedLatent, class_condition

    base = Recipe(ModelRef(""), SeedLatent(1), truncation=0.4, condition=class_condition(0, 10))
    names = biggan.info.class_layers
    assert names[0] == "gen_z" and len(names) == 7
    edited = with_layer_class(base, (3, len(names)), class_condition(7, 10))
    a, b = biggan.context([base]), biggan.context([edited])
    outs_a = [x for _, x in biggan.steps(a)]
    outs_b = [x for _, x in biggan.steps(b)]
    first_changed = biggan.info.layer_names.index(names[3])
    for i in range(first_changed):
        assert torch.equal(outs_a[i], outs_b[i]), biggan.info.layer_names[i]
    assert (outs_a[-1] - outs_b[-1]).abs().max() > 1e-3
    whole = biggan.run(biggan.context([Recipe(ModelRef(""), SeedLatent(1), truncation=0.4,
                                              condition=class_condition(7, 10))]))
    assert (whole - outs_b[-1]).abs().max() > 1e-4  # not the same as switching every layer
    # a blend is linear in the class vector: the fixture's own 0.5/0.5 mixes
    assert class_blend({0: 0.5, 3: 0.5}, 10) == tuple(_biggan("class_interp.npy")[0].tolist())


def test_biggan_stages_run_on_a_bare_context_as_tools_run_them(biggan):
    """PCA (GANSpace) runs the first stage on z samples alone: truncation 1 and no class, not a KeyError."""
    from studio.model.api import StageContext

    z = biggan.latents(range(3))
    out = biggan.stages[0](None, StageContext(z=z))
    assert out.shape == (3, 64, 4, 4)
    full = biggan.stages[0](None, biggan._context(z, torch.zeros(3, 10), [1.0] * 3))
    assert torch.equal(out, full)


def test_infogan_split_from_a_sidecar_opens_through_the_registry(registry, tmp_path):
    """An infogan.json beside the file (infogan.py's options) makes the family claim it over the DCGAN one."""
    from latent_studio_plugins.cgan import plugin
    from studio.model.probe import Probe

    fixture = shared_path("fixtures", "eriklindernoren_pytorch_gan", "infogan", "generator.pth")
    link = tmp_path / "generator.pth"
    link.symlink_to(fixture)  # read in place, beside our own sidecar
    (tmp_path / "infogan.json").write_text(json.dumps({"latent_dim": 8, "n_classes": 4, "code_dim": 2}))
    assert plugin.sniff(Probe(link)) == 0.95
    g = registry.open(link)
    assert g.plugin_name == "Conditional GAN" and g.info.family == "infogan"
    assert {c.name: c for c in g.info.choices}["inputs"].source == "from infogan.json"
    z, onehot, code = (_erik("infogan", f) for f in ("z.npy", "labels_onehot.npy", "code.npy"))
    out = g.generate(z, c=(torch.from_numpy(onehot), torch.from_numpy(code))).numpy()
    assert np.abs(out - _erik("infogan", "out_eval.npy")).max() < _tolerance()
    (tmp_path / "infogan.json").write_text(json.dumps({"latent_dim": 9, "n_classes": 4, "code_dim": 2}))
    assert plugin.sniff(Probe(link)) == 0.0  # 15 is not its 14 inputs: not claimed
    with pytest.raises(Exception, match="infogan.json"):
        plugin.load(Probe(link), torch.device("cpu"))


@pytest.mark.parametrize("config,message", [
    (None, "has no config.json beside it"),
    ("{not json", "config.json"),
    ('{"layers": 3}', "is not a BigGAN config (it has no 'layers' list)"),
    ('{"layers": [[true, "wide", 2]]}', "is not a BigGAN config"),
    ('{"layers": [[false, 16, 16]], "num_classes": 1000, "z_dim": 16, "channel_width": 4}',
     "does not match config.json: embeddings.weight has shape (16, 10)"),
    ('{"layers": [[false, 16, 16]], "num_classes": 10, "z_dim": 16, "channel_width": 4}',
     "does not match config.json: generator.layers.1.bn_0.offset.weight_orig is not in the network"),
])
def test_biggan_with_a_wrong_or_missing_config_is_one_clear_sentence(registry, tmp_path, config, message):
    from studio.errors import CheckpointError

    weights = shared_path("fixtures", "biggan_hf", "biggan-tiny-32", "pytorch_model.bin")
    (tmp_path / "pytorch_model.bin").symlink_to(weights)
    if config is not None:
        (tmp_path / "config.json").write_text(config)
    with pytest.raises(CheckpointError) as err:
        registry.open(tmp_path / "pytorch_model.bin")
    text = str(err.value)
    assert message in text and "\n" not in text and "Traceback" not in text
