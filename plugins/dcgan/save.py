"""Writing a DCGAN in the studio's own format: fp16 or fp32 safetensors with the config in its header."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from studio.model.safeload import save_safetensors


def save_dcgan(path: str | Path, net: nn.Sequential, *, prior: str = "normal", name: str = "",
               half: bool = False, prefix: str = "main.", extra: dict | None = None) -> None:
    """Save the Sequential's state (as `prefix`N.*); `half` stores float tensors as fp16 to halve the size."""
    sd = {}
    for k, v in net.state_dict().items():
        if half and v.is_floating_point():
            v = v.half()
        sd[prefix + k] = v
    config = {"family": "dcgan", "prior": prior, "name": name, **(extra or {})}
    save_safetensors(path, sd, config)
