"""Shared fixtures: tiny real checkpoints made on the fly, and the ../shared data when present."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import, or Qt aborts without a display

# Tiny networks gain nothing from intra-op threads, and on shared CPUs OpenMP/BLAS threads spinning against
# each other slow the suite several-fold (18 s vs 3 s for tests/render + the drop-in example on a loaded
# 2-core box). Set through the environment, before torch/numpy load, so worker threads get it too.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest
import torch

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when it is absent (a user's fresh clone has none)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is not available")
    return p


def make_dcgan(z_dim: int = 16, ngf: int = 8, channels: int = 3, depth: int = 4, seed: int = 0):
    """A randomly initialised pytorch/examples-layout DCGAN (depth conv layers, 4 * 2**(depth-1) px)."""
    from latent_studio_plugins.dcgan.network import DCGANConfig, build

    widths = [ngf * 2 ** (depth - 2 - i) for i in range(depth - 1)] + [channels]
    convs, cin = [], z_dim
    for w in widths:
        convs.append((cin, w, 4, False))
        cin = w
    cfg = DCGANConfig("main.", tuple(convs), (True,) * (depth - 1))
    torch.manual_seed(seed)
    net = build(cfg)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    return net.eval()


@pytest.fixture
def tiny_dcgan_path(tmp_path: Path) -> Path:
    """A 32x32 DCGAN saved as torch.save(state_dict) in the pytorch/examples layout."""
    path = tmp_path / "netG_epoch_3.pth"
    torch.save({f"main.{k}": v for k, v in make_dcgan().state_dict().items()}, path)
    return path


@pytest.fixture
def tiny_dcgan_safetensors(tmp_path: Path) -> Path:
    from latent_studio_plugins.dcgan.save import save_dcgan

    path = tmp_path / "tiny.safetensors"
    save_dcgan(path, make_dcgan(seed=1), name="tiny")
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """`latent-studio ARGV...` in this process: (exit status, stdout, stderr)."""
    from studio.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
