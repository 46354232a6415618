"""The studio's own StyleGAN format: safetensors of our network's effective tensors, config in the header."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from studio.model.safeload import save_safetensors


def family_of(net: nn.Module) -> str:
    return "stylegan3" if hasattr(net.cfg, "layers") else "stylegan2"


def save_stylegan(path: str | Path, net: nn.Module, *, name: str = "", half: bool = False,
                  extra: dict | None = None) -> None:
    """Save a StyleGAN2/3 network (whatever format it came from); `half` stores fp16 to halve the size."""
    sd = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    config = {"family": family_of(net), "name": name, "config": net.cfg.to_dict(), **(extra or {})}
    save_safetensors(path, sd, config)
