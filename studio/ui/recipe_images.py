"""Saving the image on screen at a useful size, and opening the recipe a studio PNG carries.

Qt-free logic (the size default, the recipe reading and its validation) lives in studio.core.output_size
and studio.export.png_recipe; this module decides where the recipe's model is and what the user is told.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.core.recipe import Recipe
from studio.export.png_recipe import has_recipe, png_with_recipe
from studio.export.writers import upscale


def saved_pixels(image: np.ndarray, scale: int, smooth: bool) -> np.ndarray:
    """The frame as it is written: a whole-number upscale, bicubic when the view is smooth."""
    return upscale(image[None], int(scale), smooth)[0]


def save_frame(path: Path, image: np.ndarray, recipe: Recipe, scale: int, smooth: bool) -> str | None:
    """Write the image (a PNG with its recipe, or a JPEG); None when written, else a one-sentence error."""
    from PIL import Image

    pixels = saved_pixels(image, scale, smooth)
    try:
        if path.suffix.lower() == ".png":
            png_with_recipe(path, pixels, recipe)
        elif path.suffix.lower() in (".jpg", ".jpeg"):
            from studio.atomic import write_atomic

            write_atomic(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="JPEG", quality=95))
        else:
            return f"Could not write {path.name}: save images as .png (which keeps the recipe) or .jpg."
    except OSError as exc:
        return (f"Could not write {path} ({exc.strerror or exc}): check the folder exists and is writable, "
                f"and the extension is .png or .jpg.")
    return None


def carries_recipe(path: Path) -> bool:
    """A PNG with a Latent Studio recipe chunk inside (read from the chunks before the pixels: cheap enough
    for every drop); a broken recipe still counts, so opening it says what is wrong with it."""
    return has_recipe(path)


def recipe_model(recipe: Recipe, image: Path, demos: Path) -> Path | None:
    """Where the recipe's checkpoint is now: its own path, beside the image (relative or moved together),
    or a bundled demo of the same file name; None when none of those exists."""
    named = Path(recipe.model.path).expanduser() if recipe.model.path else None
    if named is None:
        return None
    candidates = [named] if named.is_absolute() else [image.parent / named, named]
    candidates += [image.parent / named.name, demos / named.name]
    return next((p for p in candidates if p.is_file()), None)
