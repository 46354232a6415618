"""PGGAN family: pytorch_GAN_zoo progressive GANs (training checkpoints and the torch.hub files).

Registered through the `latent_studio.generators` entry point like any third-party plugin. The network is
rebuilt from tensor shapes and the checkpoint's config; the pickled BaseConfig is read as inert data.
"""
from __future__ import annotations

from latent_studio_plugins.pggan.plugin import PGGANPlugin

plugin = PGGANPlugin()

__all__ = ["PGGANPlugin", "plugin"]
