"""Direction fitting as a worker job, and device selection."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.model.api import StageContext
from studio.model.registry import Registry
from studio.render.analysis import pca_job, run_job
from studio.render.device import DEVICE_ENV, describe, select_device
from studio.render.worker import RenderWorker


@pytest.fixture
def gen(tiny_dcgan_path):
    return Registry.discover(search_paths=[]).open(tiny_dcgan_path)


def test_pca_job_yields_progress_and_returns_useful_z_directions(gen):
    worker = RenderWorker()
    progress, results, errors = [], [], []
    try:
        worker.submit_job(pca_job(gen, k=5, n_samples=200, batch=50), on_done=results.append,
                          on_error=errors.append, on_progress=progress.append)
        assert worker.wait_idle(60)
    finally:
        worker.stop()
    assert errors == [] and progress == [0.25, 0.5, 0.75, 1.0]
    ds = results[0]
    assert ds.vectors.shape == (5, gen.info.z_dim) and ds.space == "z" and ds.kind == "pca"
    np.testing.assert_allclose(np.linalg.norm(ds.vectors, axis=1), 1.0, atol=1e-5)
    # Same seeds, same directions, whether run on the worker or inline.
    np.testing.assert_array_equal(run_job(pca_job(gen, k=5, n_samples=200, batch=50)).vectors, ds.vectors)
    # The top direction moves the first stage's features more than random directions do: that is its point.
    z = gen.latents(range(64))

    def feature_change(d: np.ndarray) -> float:
        step = torch.from_numpy(d.astype(np.float32))
        with torch.inference_mode():
            a = gen.stages[0](None, StageContext(z=z))
            b = gen.stages[0](None, StageContext(z=z + 0.5 * step))
        return float((a - b).norm())

    rs = np.random.RandomState(0)
    random = [feature_change(v / np.linalg.norm(v)) for v in rs.randn(10, gen.info.z_dim)]
    assert feature_change(ds.vectors[0]) > max(random)


def test_select_device_honours_overrides(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(torch.device("meta")) == torch.device("meta")
    monkeypatch.setenv(DEVICE_ENV, "meta")
    assert select_device() == torch.device("meta")       # the environment is used when no argument
    assert select_device("auto") == torch.device("meta")
    assert select_device("cpu") == torch.device("cpu")   # an explicit argument beats the environment
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA was requested but no CUDA device is available"):
            select_device("cuda")
        monkeypatch.setenv(DEVICE_ENV, "auto")
        mps = getattr(torch.backends, "mps", None)
        expected = "mps" if mps is not None and mps.is_available() else "cpu"
        assert select_device().type == expected
    assert describe(torch.device("cpu")).startswith("CPU (")
