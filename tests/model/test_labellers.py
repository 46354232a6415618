"""Labellers know their domain: the ToyFaces attribute model only for models trained on ToyFaces."""
from __future__ import annotations

import numpy as np
import pytest

import studio
from studio.bundled import attribute_model_path, demo_checkpoints
from studio.model import labellers as L
from studio.model import registry as registry_mod
from tests.conftest import ROOT, shared_path

TOYFACES_MODEL = attribute_model_path()


@pytest.fixture
def clean_registry():
    saved = list(L._registered)
    L.reset_labellers()
    yield
    L._registered[:] = saved
    L.reset_labellers()


def test_the_toyfaces_labeller_is_offered_for_every_bundled_demo_and_scores_its_faces(clean_registry):
    demos = demo_checkpoints()
    assert len(demos) >= 3
    for path in demos:
        g = studio.load(path, device="cpu")
        found = L.available_labellers(g.info)
        assert [x.name for x in found] == ["ToyFaces attribute model"], path.name
    from studio.demo import toyfaces

    faces = toyfaces.sample(64, 99)
    scores = found[0].predict(faces.images)
    agree = np.mean([((scores[a] > 0.5) == faces.binary[:, i].astype(bool)).mean()
                     for i, a in enumerate(found[0].attributes)])
    assert agree > 0.95  # it reads ToyFaces


def test_a_real_celeba_model_is_offered_no_toyfaces_labeller_but_a_plugin_labeller_for_faces(
        monkeypatch, tmp_path, clean_registry):
    checkpoint = shared_path("real_checkpoints", "celeba_dcgan32", "generator.pt")
    monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, str(ROOT / "examples" / "plugins"))
    monkeypatch.setattr(registry_mod, "user_plugin_dir", lambda: tmp_path / "no-user-plugins")
    registry_mod.reset_default_registry()
    try:
        g = studio.load(checkpoint, device="cpu")
    finally:
        registry_mod.reset_default_registry()
    assert not L.trained_on_toyfaces(g.info)
    monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, str(tmp_path / "no-plugins"))  # without the example labeller
    L.reset_labellers()
    assert L.available_labellers(g.info) == []
    brightness = L.Labeller("Bright faces", ("Bright",), lambda im: {"Bright": im.mean(axis=(1, 2, 3)) / 255},
                            lambda info: info.resolution == 32, "CelebA 32 px")
    L.register_labeller(brightness)
    assert [x.name for x in L.available_labellers(g.info)] == ["Bright faces"]
    demo = studio.load(demo_checkpoints()[0], device="cpu")  # 64 px: not its domain
    assert [x.name for x in L.available_labellers(demo.info)] == ["ToyFaces attribute model"]


def test_a_labeller_whose_check_fails_is_left_out(clean_registry, monkeypatch, tmp_path):
    monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, str(tmp_path))
    from studio.model.api import ModelInfo

    def broken(info):
        raise RuntimeError("bug in a plugin")

    L.register_labeller(L.Labeller("Broken", ("X",), lambda im: {}, broken))
    assert [x.name for x in L.available_labellers(ModelInfo("dcgan", "test", 64, name="DCGAN ToyFaces 64"))] \
        == ["ToyFaces attribute model"]
