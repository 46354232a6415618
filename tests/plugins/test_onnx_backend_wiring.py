"""The backend option where models are opened: ModelCache(backend=...) and `render --backend`. A model
that cannot run on ONNX Runtime stays on torch with a note, never an error."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from studio.cli import main  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.errors import StudioError  # noqa: E402
from studio.render.backend import BackendChooser, describe  # noqa: E402
from studio.render.engine import ModelCache, Renderer  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the twins' default folder


def test_model_cache_onnx_backend_renders_like_torch(tiny_dcgan_path, tmp_path):
    torch_g = ModelCache(torch.device("cpu")).get(tiny_dcgan_path)
    models = ModelCache(torch.device("cpu"), backend="onnx", chooser=BackendChooser(tmp_path / "twins"))
    g = models.get(tiny_dcgan_path)
    assert describe(torch_g) == "torch (cpu)" and describe(g) == "ONNX Runtime (CPU)"
    assert models.get(tiny_dcgan_path) is g and models.notes == []
    assert g.model_id == torch_g.model_id
    recipe = Recipe(ModelRef(str(tiny_dcgan_path)), SeedLatent(4), truncation=0.8)
    r = Renderer()
    assert (r.run(g, [recipe])[0] - r.run(torch_g, [recipe])[0]).abs().max() <= 1e-4


def test_model_cache_falls_back_to_torch_with_a_note(tiny_dcgan_path, tmp_path):
    def broken(model, folder):
        raise RuntimeError("CUDAExecutionProvider failed to initialise")

    models = ModelCache(torch.device("cpu"), backend="onnx",
                        chooser=BackendChooser(tmp_path / "twins", make_twin=broken))
    g = models.get(tiny_dcgan_path)
    assert describe(g) == "torch (cpu)"
    assert len(models.notes) == 1 and "staying on torch" in models.notes[0] and "CUDA" in models.notes[0]
    with pytest.raises(StudioError, match="backend must be one of"):
        ModelCache(torch.device("cpu"), backend="tensorrt")


def test_auto_chooses_per_batch_size_and_switches_at_run_time(tiny_dcgan_path, tmp_path, monkeypatch):
    from studio.render import backend as backend_mod

    chooser = BackendChooser(tmp_path / "twins")
    models = ModelCache(torch.device("cpu"), backend="auto", chooser=chooser)
    base = models.base(tiny_dcgan_path)
    twin = chooser.twin(base)
    # ONNX Runtime slower for single frames, faster for export batches (as measured on some nets)
    monkeypatch.setattr(backend_mod, "time_run",
                        lambda m, batch, repeats=5: (3.0 if batch == 1 else 1.0) if m is twin else 2.0)
    assert models.get(tiny_dcgan_path) is base
    assert models.get(tiny_dcgan_path, batch=16) is twin
    assert models.get(tiny_dcgan_path, batch=16) is twin and models.base(tiny_dcgan_path) is base
    models.set_backend("torch")
    assert models.get(tiny_dcgan_path, batch=16) is base
    models.set_backend("onnx")
    assert models.get(tiny_dcgan_path) is twin
    with pytest.raises(StudioError, match="backend must be one of"):
        models.set_backend("tpu")
    assert models.backend == "onnx"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_render_backend_onnx_matches_torch(capsys, tiny_dcgan_path, tmp_path):
    images = {}
    for backend in ("torch", "onnx", "auto"):
        out = tmp_path / f"{backend}.png"
        code, _, err = run(capsys, "render", tiny_dcgan_path, "--seed", 3, "--backend", backend,
                           "--device", "cpu", "--out", out)
        assert code == 0, err
        assert "note:" not in err
        images[backend] = np.asarray(Image.open(out), np.int16)
    assert np.abs(images["onnx"] - images["torch"]).max() <= 1  # uint8 rounding at most
    assert np.abs(images["auto"] - images["torch"]).max() <= 1
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--backend", "tensorrt", "--out", tmp_path / "x.png")
    assert code != 0 and "--backend" in err
