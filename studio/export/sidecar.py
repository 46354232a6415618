"""The JSON sidecar of an export: every frame's recipe, so any frame can be rendered again exactly."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from studio.core import safe_json
from studio.core.recipe import Recipe
from studio.errors import RecipeError
from studio.export.writers import SIDECAR_IN_FOLDER, ExportOptions

SIDECAR_FORMAT = "latent-studio-export"
SIDECAR_SCHEMA = 1


def sidecar_path(final: Path) -> Path:
    """walk.mp4 -> walk.mp4.json beside it; a PNG folder keeps recipes.json inside (it moves with it)."""
    return final / SIDECAR_IN_FOLDER if final.suffix == "" else final.with_name(final.name + ".json")


def sidecar_text(recipes: Sequence[Recipe], options: ExportOptions, target: Path, size: int | None = None) -> str:
    """`size`: the exported file's bytes, so the sidecar proves which file the studio wrote (--force)."""
    data: dict[str, Any] = {
        "format": SIDECAR_FORMAT, "schema": SIDECAR_SCHEMA, "target": target.name, "frames": len(recipes),
        "fps": options.fps, "scale": options.scale, "smooth": options.smooth, "quality": options.quality, "chroma": options.chroma,
        "precision": options.precision,
        **({"bytes": size} if size is not None else {}),
        "recipes": [r.to_dict() for r in recipes],
    }
    return json.dumps(data, separators=(",", ":")) + "\n"


def read_sidecar(path: Path) -> tuple[dict[str, Any], list[Recipe]]:
    """(settings, recipes) of an export's sidecar, with a clear message for anything else."""
    data = safe_json.load(path)  # depth, number and size limits: one RecipeError sentence
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise RecipeError(f"{Path(path).name} is not a Latent Studio export sidecar")
    if not isinstance(data.get("schema"), int) or data["schema"] > SIDECAR_SCHEMA:
        raise RecipeError(f"{Path(path).name} was written by a newer Latent Studio; please update")
    items = data.get("recipes", [])
    if not isinstance(items, list):
        raise RecipeError(f"{Path(path).name} is damaged: its 'recipes' is not a list")
    recipes = [Recipe.from_dict(d) for d in items]
    settings = {k: v for k, v in data.items() if k != "recipes"}
    return settings, recipes
