"""StarGAN family: attribute translation of the user's photos (yunjey/stargan v1 checkpoints).

Registered through the `latent_studio.generators` entry point like any third-party plugin. The network is
rebuilt from tensor shapes alone; attribute names come from a sidecar file (see latent_studio_plugins.stargan.plugin).
"""
from __future__ import annotations

from latent_studio_plugins.stargan.plugin import StarGANPlugin

plugin = StarGANPlugin()

__all__ = ["StarGANPlugin", "plugin"]
