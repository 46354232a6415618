"""Latent Studio: explore and edit the latent spaces of GAN generators.

Scripting entry point: ``g = studio.load(path)``, then ``g.generate(z)`` gives images in [-1, 1].
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    import torch

    from studio.model.api import Generator
    from studio.render.projection import ProjectionResult


def load(path: str, device: "str | torch.device | None" = None) -> "Generator":
    """Open a checkpoint with whichever plugin reads it; device defaults to the best available (cuda > mps > cpu)."""
    from studio.model.registry import default_registry
    from studio.render.device import select_device

    return default_registry().open(path, select_device(device))


def project(g: "Generator", image: object, space: str | None = None, steps: int | None = None,
            **options: object) -> "ProjectionResult":
    """Project a photo (path, PIL image, uint8 array or [-1, 1] tensor) into g's latent space ("w", "w+" or
    "z"; default W+ where g has a W space): `.latent` is a recipe latent, `.recipe(g, path)` a recipe."""
    from studio.render.projection import DEFAULT_STEPS, project as run

    return run(g, image, space, DEFAULT_STEPS if steps is None else steps, **options)  # type: ignore[arg-type]
