"""Backend choice: torch or ONNX Runtime per model hash and batch size, timed once and remembered."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.model.api import Generator, ModelInfo  # noqa: E402
from studio.model.registry import Registry  # noqa: E402
from studio.render import backend as backend_mod  # noqa: E402
from studio.render.backend import BackendChooser, describe  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def test_auto_times_both_picks_the_faster_and_remembers(registry, tiny_dcgan_path, tmp_path, monkeypatch):
    g = registry.open(tiny_dcgan_path)
    chooser = BackendChooser(tmp_path / "cache", repeats=3)
    choice = chooser.choose(g, 4)
    assert choice.onnx_ms is not None and choice.torch_ms > 0
    assert choice.backend == ("onnx" if choice.onnx_ms < backend_mod.MARGIN * choice.torch_ms else "torch")
    used = chooser.generator_for(g, 4)
    assert (used is g) == (choice.backend == "torch")
    twin = chooser.twin(g)
    assert twin is not None and describe(twin).startswith("ONNX Runtime") and describe(g) == "torch (cpu)"
    assert twin.model_id == g.model_id  # recipes name the checkpoint, whichever runtime renders it
    renderer = Renderer()
    recipe = Recipe(ModelRef(""), SeedLatent(1))
    assert renderer.run(g, [recipe])[1] == len(g.stages)
    assert renderer.run(twin, [recipe])[1] == len(twin.stages)  # cached activations of runtimes never mix
    z = torch.from_numpy(np.stack([g.latent(SeedLatent(s)) for s in range(4)]))
    assert torch.abs(twin.generate(z) - g.generate(z)).max() <= 1e-4

    # a new session reads the choice back instead of timing again
    monkeypatch.setattr(backend_mod, "time_run", lambda *a, **k: pytest.fail("timed again"))
    again = BackendChooser(tmp_path / "cache")
    assert again.choose(g, 4) == choice


def test_slower_runtime_is_not_chosen(registry, tiny_dcgan_path, tmp_path, monkeypatch):
    g = registry.open(tiny_dcgan_path)
    chooser = BackendChooser(tmp_path / "cache")
    twin = chooser.twin(g)
    monkeypatch.setattr(backend_mod, "time_run", lambda m, batch, repeats=5: 3.0 if m is twin else 2.0)
    assert chooser.choose(g, 1).backend == "torch" and chooser.generator_for(g, 1) is g
    monkeypatch.setattr(backend_mod, "time_run", lambda m, batch, repeats=5: 1.0 if m is twin else 2.0)
    assert chooser.choose(g, 2).backend == "onnx" and chooser.generator_for(g, 2) is twin


def test_failing_twin_stays_on_torch_with_a_note(registry, tiny_dcgan_path, tmp_path):
    g = registry.open(tiny_dcgan_path)

    def broken(model, folder):
        raise RuntimeError("CUDAExecutionProvider failed to initialise")

    chooser = BackendChooser(tmp_path / "cache", make_twin=broken, repeats=1)
    assert chooser.generator_for(g, 1) is g
    assert chooser.generator_for(g, 1, backend="onnx") is g
    assert chooser.choose(g, 1).backend == "torch"
    assert any("staying on torch" in n and "CUDAExecutionProvider" in n for n in chooser.notes)
    with pytest.raises(ValueError, match="backend must be one of"):
        chooser.generator_for(g, 1, backend="tensorflow")


@pytest.mark.shared
def test_translator_is_timed_on_photos(registry, tmp_path):
    from conftest import shared_path

    g = registry.open(shared_path("fixtures", "stargan_yunjey", "1000-G.ckpt"))
    chooser = BackendChooser(tmp_path / "cache", repeats=1)
    choice = chooser.choose(g, 2)
    assert choice.torch_ms > 0 and choice.onnx_ms > 0
    assert chooser.generator_for(g, 2, backend="onnx").info.attributes == g.info.attributes


def test_unexportable_model_stays_on_torch(tmp_path):
    class Custom:
        name = "custom"

        def inputs(self, ctx):
            return b""

        def __call__(self, x, ctx):
            return torch.tanh(ctx.z.reshape(-1, 3, 2, 2))

    g = Generator(ModelInfo(family="mine", format="test", resolution=2, z_dim=12), [Custom()], model_id="m")
    chooser = BackendChooser(tmp_path / "cache")
    assert chooser.generator_for(g, 1) is g and chooser.choose(g, 1).torch_ms is None
    assert "not plain torch modules" in chooser.notes[0]
