"""pix2pix and CycleGAN family: junyanz pytorch-CycleGAN-and-pix2pix U-Net and ResNet generators as photo
translators (see latent_studio_plugins.pix2pix.plugin). Registered through the `latent_studio.generators`
entry point like any third-party plugin."""
from __future__ import annotations

from latent_studio_plugins.pix2pix.plugin import Pix2PixPlugin

plugin = Pix2PixPlugin()

__all__ = ["Pix2PixPlugin", "plugin"]
