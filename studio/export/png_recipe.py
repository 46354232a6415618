"""Recipes inside PNGs: a saved image carries the recipe that renders it, so the image alone re-opens the work.

The recipe is stored as compact JSON in a PNG text chunk (`latent-studio-recipe`). Reading one back returns
the parsed JSON object only; callers validate it with Recipe.from_dict exactly as they do a JSON recipe
file, so a PNG can never smuggle in what a .json recipe could not.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from studio.atomic import write_atomic
from studio.core import safe_json
from studio.core.recipe import Recipe
from studio.errors import RecipeError

RECIPE_TEXT_KEY = "latent-studio-recipe"  # PNG text chunk holding the recipe JSON of a saved image
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT = 16 * 1024 * 1024  # a recipe with inline directions is kilobytes; more is not ours


def is_png(path: str | Path) -> bool:
    """True when the file starts with the PNG signature (whatever its extension says). Only a regular file
    is opened: this runs on the GUI thread for every drop, and opening a FIFO would block it for good."""
    if not Path(path).is_file():  # stat only: False for FIFOs, devices, folders and missing files
        return False
    try:
        with open(path, "rb") as f:
            return f.read(8) == PNG_SIGNATURE
    except OSError:
        return False


def png_with_recipe(path: str | Path, image: np.ndarray, recipe: Recipe, replace: bool = True) -> Path:
    """Write the H x W x 3 uint8 `image` as a PNG carrying `recipe` (atomically: no half file on failure)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(RECIPE_TEXT_KEY, recipe.to_json(indent=None), zip=True)
    pil = Image.fromarray(np.ascontiguousarray(image))
    return write_atomic(path, lambda tmp: pil.save(tmp, format="PNG", pnginfo=info), replace=replace)


def _recipe_text(path: Path) -> str | None:
    """The recipe chunk's text: from the chunks before the pixels (where the studio writes it, read without
    decoding the image), else after decoding (a chunk another tool moved behind the pixels). OSError and
    the like propagate."""
    from PIL import Image

    with Image.open(path) as im:
        text = im.info.get(RECIPE_TEXT_KEY)
        if text is None:
            im.load()  # text chunks after the image data are read only with it
            text = getattr(im, "text", {}).get(RECIPE_TEXT_KEY)
    return text if isinstance(text, str) else None


def has_recipe(path: str | Path) -> bool:
    """A PNG with a recipe chunk (valid or not: reading it says what is wrong). A damaged PNG without one
    is not ours, so a drop leaves it to the photo or checkpoint paths and their own messages."""
    from PIL import UnidentifiedImageError

    if not is_png(path):
        return False
    try:
        return _recipe_text(Path(path)) is not None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False


def recipe_data(path: str | Path) -> Any:
    """The JSON a studio PNG carries (not yet validated: pass it to Recipe.from_dict).

    RecipeError, naming the file, when it is no PNG or carries no recipe."""
    from PIL import UnidentifiedImageError

    path = Path(path)
    if not is_png(path):
        raise RecipeError(f"{path.name} is not a PNG image")
    try:
        text = _recipe_text(path)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise RecipeError(f"{path.name} could not be read as a PNG ({exc})") from None
    if text is None:
        raise RecipeError(f"{path.name} carries no Latent Studio recipe (only images saved by Latent Studio "
                          f"with Save image do)")
    if len(text) > MAX_TEXT:
        raise RecipeError(f"{path.name}: its recipe text is too large to be a Latent Studio recipe")
    return safe_json.loads(text, path.name)  # the limits a JSON recipe file has (depth, numbers, size)


def read_png_recipe(path: str | Path) -> Recipe:
    """The validated recipe of a studio PNG (the same checks as a JSON recipe file)."""
    data = recipe_data(path)
    try:
        return Recipe.from_dict(data)
    except RecipeError as exc:
        raise RecipeError(f"{Path(path).name}: {exc}") from None
