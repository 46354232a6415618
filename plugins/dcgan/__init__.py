"""DCGAN family: transposed-convolution generators in the pytorch/examples, huggan and studio layouts.

Registered through the `latent_studio.generators` entry point like any third-party plugin. The network
is rebuilt from tensor shapes alone (any width, depth, 1 or 3 channels), so no code from the file runs.
"""
from __future__ import annotations

from latent_studio_plugins.dcgan.plugin import DCGANPlugin

plugin = DCGANPlugin()

__all__ = ["DCGANPlugin", "plugin"]
