"""A tiny DCGAN whose images change visibly along a walk (with the default init they barely do)."""
from __future__ import annotations

from pathlib import Path

import torch


def save_lively_dcgan(path: Path) -> Path:
    from conftest import make_dcgan
    from latent_studio_plugins.dcgan.save import save_dcgan

    net = make_dcgan(seed=1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.ConvTranspose2d):
                m.weight.mul_(4.0)
    save_dcgan(path, net, name="tiny")
    return path
