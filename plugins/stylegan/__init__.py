"""StyleGAN family: StyleGAN2 networks in our own torch code, loaded from rosinality and NVlabs checkpoints.

NVlabs pickles are read with a restricted unpickler that never executes their embedded source; every format
maps onto one network (network.py) through convert.py. Registered through the `latent_studio.generators`
entry point like any third-party plugin.
"""
from __future__ import annotations

from latent_studio_plugins.stylegan.plugin import StyleGANPlugin

plugin = StyleGANPlugin()

__all__ = ["StyleGANPlugin", "plugin"]
