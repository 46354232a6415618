"""Sniffing and loading rosinality style-based-gan-pytorch checkpoints.

train.py writes `train_step-N.model` ({generator, discriminator, g_optimizer, d_optimizer, g_running}) when
training moves on to step N, so its networks were trained up to step N - 1; every 10,000 iterations it also
writes `{iter:06d}.model`, a bare g_running state_dict. Both load with torch.load(weights_only=True). The
state_dict holds all nine blocks whatever the step, and neither file records the step or the fade-in alpha:
the step comes from the training file's name (or a released file's "256px"), else from which blocks have
trained noise weights; alpha
defaults to 1 (the new block only). Both are choices the user can change.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from studio.errors import CheckpointError, clipped
from studio.model.api import Generator
from studio.model.probe import Probe

TRAIN_NAME = re.compile(r"^train_step-(\d+)$")
SIZE_NAME = re.compile(r"(?<![0-9])(\d+)px")  # the released files: stylegan-256px-new.model


class StyleGAN1Plugin:
    name = "StyleGAN1"
    formats = "rosinality style-based-gan-pytorch train_step-N.model and {iter}.model (g_running) files"

    def _read(self, probe: Probe) -> tuple[dict, str] | None:
        from latent_studio_plugins.stylegan1.network import infer_config

        obj = probe.torch_object()
        if not isinstance(obj, dict):
            return None
        if isinstance(obj.get("g_running"), dict):
            kind = "training" if "generator" in obj and "discriminator" in obj else "released"
            sd, fmt = obj["g_running"], f"rosinality {kind} checkpoint (g_running)"
        else:
            sd, fmt = obj, "rosinality g_running state_dict"
        return (sd, fmt) if infer_config(sd) is not None else None

    def sniff(self, probe: Probe) -> float:
        return 0.95 if self._read(probe) is not None else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        from latent_studio_plugins.stylegan1.generator import StyleGAN1Generator
        from latent_studio_plugins.stylegan1.network import (StyleGAN1, effective_state, infer_config,
                                                              mean_style)

        read = self._read(probe)
        if read is None:
            raise CheckpointError(f"{probe.path.name} is not a rosinality StyleGAN checkpoint")
        sd, fmt = read
        cfg = infer_config(sd)
        assert cfg is not None
        net = StyleGAN1(cfg)
        try:
            net.load_state_dict(effective_state(cfg, sd), strict=True)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            first = clipped(str(exc) or type(exc).__name__, 160)
            raise CheckpointError(f"{probe.path.name}: its g_running does not fit rosinality's "
                                  f"StyledGenerator ({first})") from None
        step, step_from = _step(probe.path, sd, cfg.blocks)
        source = {"sha256": probe.sha256, "name": probe.path.stem, "what": probe.path.name, "format": fmt}
        sources = {"step": step_from, "alpha": "default: the file does not record it"}
        return StyleGAN1Generator(net, mean_style(net.mapping, cfg.code_dim), source,
                                  {"step": str(step), "alpha": "1"}, sources, device)


def _step(path: Path, sd: dict[str, Any], blocks: int) -> tuple[int, str]:
    """The step to sample at and where it came from."""
    from latent_studio_plugins.stylegan1.network import trained_blocks

    m = TRAIN_NAME.match(path.stem)
    if m and 1 <= int(m.group(1)) <= blocks:
        return int(m.group(1)) - 1, f"from the name {path.stem} (trained up to step {int(m.group(1)) - 1})"
    size = SIZE_NAME.search(path.stem)
    if size:
        px = int(size.group(1))
        step = px.bit_length() - 3
        if px >= 4 and px & (px - 1) == 0 and step < blocks:
            return step, f"from the name {path.stem} ({px} px)"
    last = trained_blocks(sd, blocks) - 1
    return last, "the last block with trained noise weights (the file does not record its step)"
