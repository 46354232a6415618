"""Latent Studio: explore and edit the latent spaces of GAN generators.

Scripting entry point: ``g = studio.load(path)``, then ``g.generate(z)`` gives images in [-1, 1].
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    import torch

    from studio.model.api import Generator


def load(path: str, device: "str | torch.device | None" = None) -> "Generator":
    """Open a checkpoint with whichever plugin reads it; device defaults to the best available (cuda > mps > cpu)."""
    from studio.model.registry import default_registry
    from studio.render.device import select_device

    return default_registry().open(path, select_device(device))
