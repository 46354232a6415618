"""Labellers as plugins: found like generator plugins (entry points, drop-in files), torch and ONNX classifiers,
and the example drop-in fitting a direction on the real CelebA DCGAN without the ToyFaces model."""
from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import studio
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model import labellers as L
from studio.model import registry as registry_mod
from studio.render.analysis import evaluate_fit_job, fit_attribute_job, run_job
from studio.render.engine import Renderer
from tests.conftest import ROOT, shared_path

EXAMPLES = ROOT / "examples" / "plugins"


@pytest.fixture
def plugin_path(monkeypatch, tmp_path):
    """Point the drop-in search at given folders (no user folder); discovery is redone for each test."""
    def use(*folders: Path) -> None:
        monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, ":".join(str(f) for f in folders))
        registry_mod.reset_default_registry()
        L.reset_labellers()

    monkeypatch.setattr(registry_mod, "user_plugin_dir", lambda: tmp_path / "no-user-plugins")
    yield use
    registry_mod.reset_default_registry()
    L.reset_labellers()


@pytest.fixture
def celeba(plugin_path):
    checkpoint = shared_path("real_checkpoints", "celeba_dcgan32", "generator.pt")
    plugin_path(EXAMPLES)
    return studio.load(checkpoint, device="cpu")


def test_the_toyfaces_model_is_an_entry_point_labeller_like_a_third_party_one(plugin_path, tmp_path):
    plugin_path(tmp_path)
    found = L.discover_labellers([])
    toy = [x for x in found.labellers if x.name == "ToyFaces attribute model"]
    assert toy and Path(toy[0].origin).name == "toyfaces_attributes.safetensors"  # where it was loaded from
    assert toy[0].input_size == 64 and "Eyeglasses" in toy[0].attributes and found.problems == []


def test_a_drop_in_labeller_file_is_found_and_a_broken_one_is_reported_not_fatal(plugin_path, tmp_path):
    (tmp_path / "bright.py").write_text(textwrap.dedent("""
        import numpy as np
        from studio.model.labellers import Labeller
        labeller = Labeller("Bright", ("Bright",), lambda im: {"Bright": im.mean(axis=(1, 2, 3)) / 255})
    """))
    (tmp_path / "broken.py").write_text("raise RuntimeError('no weights here')\n")
    plugin_path(tmp_path)
    found = L.default_labellers()
    assert "Bright" in [x.name for x in found.labellers]
    assert any("broken.py" in p and "no weights here" in p for p in found.problems)
    # the generator registry does not count a labeller file as a broken generator plugin
    reg = registry_mod.Registry.discover()
    assert not any("bright.py" in p for p in reg.problems)


def test_the_example_labeller_fits_a_direction_on_the_real_celeba_dcgan(celeba):
    """No ToyFaces model: the example's tone scores label 600 samples; the fitted boundary separates held-out
    samples far above chance, and walking it raises the score on fresh seeds."""
    offered = L.available_labellers(celeba.info)
    assert [x.name for x in offered] == ["CelebA tones"]
    lab = offered[0]
    fitted = run_job(fit_attribute_job(celeba, Renderer(), lab, "Light_Hair", 600, space="z"))
    fit = fitted.fit
    chance = max(fit.n_positive, fit.n_train + fit.n_test - fit.n_positive) / (fit.n_train + fit.n_test)
    assert fit.test_accuracy > chance + 0.15, (fit.test_accuracy, chance)
    ev = run_job(evaluate_fit_job(celeba, Renderer(), lab, fitted, seeds=range(12)))
    assert ev.walk.change("Light_Hair") > 0.4
    curve = ev.walk.curve("Light_Hair")
    assert curve[-1] > curve[len(curve) // 2] > curve[0]
    assert set(ev.others()) == {"Light_Background", "Fair_Skin", "Warm_Skin"}


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 4, 4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _train_on_celeba(g, n: int = 384, steps: int = 150) -> tuple[TinyNet, np.ndarray, np.ndarray]:
    """A tiny classifier of the example's Light_Background label, trained on the DCGAN's own images."""
    from studio.model.labellers import to_nchw

    example = registry_mod.dropin_module(EXAMPLES / "celeba_tones_labeller.py")
    base = Recipe(ModelRef("", g.model_id), SeedLatent(0))
    images = Renderer().render_batch(g, [base.with_seed(s) for s in range(n)], 128)
    y = (example.predict(images)["Light_Background"] > 0.5).astype(np.float32)
    torch.manual_seed(0)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), 3e-2)
    x, t = torch.from_numpy(to_nchw(images)), torch.from_numpy(y)[:, None]
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(net(x), t).backward()
        opt.step()
    return net, images, y


def test_a_torch_classifier_in_a_drop_in_is_loaded_with_weights_only_and_fits(celeba, plugin_path, tmp_path):
    net, images, y = _train_on_celeba(celeba)
    torch.save(net.state_dict(), tmp_path / "bg.pt")
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "bg_classifier.py").write_text(textwrap.dedent(f"""
        from torch import nn
        from studio.model.labellers import torch_labeller

        class TinyNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 4, 4, 4), nn.ReLU(), nn.Flatten(),
                                          nn.Linear(4 * 8 * 8, 1))
            def forward(self, x):
                return self.body(x)

        labeller = torch_labeller({str(tmp_path / 'bg.pt')!r}, TinyNet(), ["Light_Background"], "BG net", 32,
                                  applies_to=lambda info: info.family == "celeba-dcgan32")
    """))
    plugin_path(EXAMPLES, folder)
    lab = L.find_labeller(celeba.info, "BG net")
    agree = float(((lab.score(images)["Light_Background"] > 0.5) == (y > 0.5)).mean())
    assert agree > 0.85  # it learnt the label it was trained on
    fitted = run_job(fit_attribute_job(celeba, Renderer(), lab, "Light_Background", 300, space="z"))
    assert fitted.fit.test_accuracy > 0.7


def test_a_torch_labeller_refuses_a_pickle_that_would_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"body.0.weight": Evil()}, protocol=2))
    with pytest.raises(L.LabellerError, match="cannot load evil.pt"):
        L.torch_labeller(tmp_path / "evil.pt", TinyNet(), ["X"], "Evil", 32)
    with pytest.raises(L.LabellerError, match="no weights file"):
        L.torch_labeller(tmp_path / "missing.pt", TinyNet(), ["X"], "Missing", 32)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy exporter, chosen for needing no onnxscript
def test_an_onnx_classifier_is_a_labeller_matching_its_torch_original(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    torch.manual_seed(1)
    net = TinyNet().eval()
    path = tmp_path / "clf.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), str(path), input_names=["x"], output_names=["logit"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)
    lab = L.onnx_labeller(path, ["Thing"], "ONNX thing")
    assert lab.input_size == 32
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)  # resized to 32
    got = lab.score(images)["Thing"]
    x = torch.from_numpy(L.to_nchw(L.resize_images(images, 32)))
    want = torch.sigmoid(net(x)).detach().numpy().reshape(-1)
    assert np.allclose(got, want, atol=1e-5)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(L.LabellerError, match="cannot read junk.onnx as an ONNX model"):
        L.onnx_labeller(tmp_path / "junk.onnx", ["Thing"])


def test_unusable_scores_from_a_labeller_are_one_clear_error():
    images = np.zeros((3, 8, 8, 3), np.uint8)
    missing = L.Labeller("Forgetful", ("A", "B"), lambda im: {"A": np.zeros(len(im))})
    with pytest.raises(L.LabellerError, match="Forgetful returned no score for 'B'"):
        missing.score(images)
    nan = L.Labeller("Broken", ("A",), lambda im: {"A": np.full(len(im), np.nan)})
    with pytest.raises(L.LabellerError, match="not probabilities"):
        nan.score(images)
    short = L.Labeller("Short", ("A",), lambda im: {"A": np.zeros(1)})
    with pytest.raises(L.LabellerError, match="returned 1 scores of 'A' for 3 images"):
        short.score(images)
