"""What lets a demo model train on a GPU: data rendered ahead by worker processes is the data an inline run
sees, and the device is an option like any other (refused clearly when absent)."""
from __future__ import annotations

import pytest
import torch

from studio.train import dcgan
from studio.train.loop import toyfaces_batches

TINY = dict(batch=4, z_dim=8, ngf=4, ndf=4, progress=False, save_every=2, sample_every=2)


def test_faces_rendered_by_workers_are_the_faces_an_inline_run_draws():
    inline = list(toyfaces_batches(6, 3, 8, seed=11))
    ahead = list(toyfaces_batches(6, 3, 8, seed=11, workers=2))
    assert len(inline) == len(ahead) == 5
    for a, b in zip(inline, ahead):
        assert a.shape == (6, 3, 64, 64) and torch.equal(a, b)
    assert not torch.equal(inline[0], inline[1])  # each step its own faces


def test_a_run_with_data_workers_trains_the_same_weights(tmp_path):
    g_inline, _ = dcgan.train(tmp_path / "inline", 3, **TINY)
    g_ahead, _ = dcgan.train(tmp_path / "ahead", 3, data_workers=1, **TINY)
    for (k, a), b in zip(g_inline.state_dict().items(), g_ahead.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_one_clear_line(tmp_path, capsys):
    from studio.cli import main

    code = main(["train", "dcgan", "--steps", "1", "--device", "cuda", "--out-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert "--device cuda" in err and "no CUDA device" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_run_follows_the_cpu_run(tmp_path):
    """Same data, same z, same init: only the arithmetic differs, so a few steps stay close."""
    g_cpu, _ = dcgan.train(tmp_path / "cpu", 3, weights="last", **TINY)
    g_gpu, _ = dcgan.train(tmp_path / "gpu", 3, weights="last", device="cuda", **TINY)
    assert next(g_gpu.parameters()).device.type == "cpu"  # handed back on the CPU, ready to export
    for (k, a), b in zip(g_cpu.state_dict().items(), g_gpu.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-3, rtol=1e-3), k
