"""StyleGAN1 family: rosinality style-based-gan-pytorch generators (training checkpoints and g_running files).

Registered through the `latent_studio.generators` entry point like any third-party plugin. The network is
rebuilt from tensor shapes (any widths); the W-space recipe semantics come from studio.model.wspace, as for
StyleGAN2, so style mixing works through the same panel and CLI.
"""
from __future__ import annotations

from latent_studio_plugins.stylegan1.plugin import StyleGAN1Plugin

plugin = StyleGAN1Plugin()

__all__ = ["StyleGAN1Plugin", "plugin"]
