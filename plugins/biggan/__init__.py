"""BigGAN family: class-conditional BigGAN-deep in the pytorch-pretrained-biggan layout (huggingface).

A folder holding `config.json` and `pytorch_model.bin` (what `BigGAN.from_pretrained` reads); the network is
rebuilt from the config and the tensors, spectral norm folded into plain weights at load.
"""
from __future__ import annotations

from latent_studio_plugins.biggan.plugin import BigGANPlugin

plugin = BigGANPlugin()

__all__ = ["BigGANPlugin", "plugin"]
