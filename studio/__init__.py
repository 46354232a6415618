"""Latent Studio: explore and edit the latent spaces of GAN generators.

Scripting entry point: ``g = studio.load(path)``, then ``g.generate(z)`` gives images in [-1, 1].
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    import torch

    from studio.model.api import Generator
    from studio.render.drag import DragResult
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


def drag(g: "Generator", recipe: object, points: object, mask: object = None, **settings: object) -> "DragResult":
    """Drag `recipe`'s image (DragGAN): `points` are DragPoints or ((hx, hy), (tx, ty)) pairs in image pixels,
    `mask` the region allowed to change (an H x W array, 1 inside; None: all), `settings` DragSettings'
    fields (steps, rows, lr, layer, ...). `.recipe(recipe)` is the dragged recipe."""
    from studio.render.drag import DragPoint, DragSettings, drag as run

    pts = [p if isinstance(p, DragPoint) else DragPoint(*p) for p in points]  # type: ignore[attr-defined]
    return run(g, recipe, pts, mask, DragSettings(**settings))  # type: ignore[arg-type]
