"""Conditional GAN family: generators that take a class (and InfoGAN's codes) besides z.

The eriklindernoren PyTorch-GAN cgan (MLP, label embedding concatenated) and acgan (Upsample-conv, label
embedding multiplied) layouts at any size, either combination of trunk and embedding, and the InfoGAN /
one-hot-concatenated conv and MLP layouts whose condition enters the first Linear beside z.
"""
from __future__ import annotations

from latent_studio_plugins.cgan.plugin import ConditionalPlugin

plugin = ConditionalPlugin()

__all__ = ["ConditionalPlugin", "plugin"]
