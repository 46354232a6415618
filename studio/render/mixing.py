"""The StyleGAN paper's style-mixing grid: sources across, destinations down, every cell a recipe.

Cell (r, c) is row seed r's latent with style inputs [start, stop) taken from column seed c's (a Mix edit),
so any cell can be re-rendered, saved or opened as an ordinary recipe. Qt-free: the CLI and the UI share it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator, Sequence

import numpy as np

from studio.core.recipe import Recipe, SeedLatent
from studio.core.style_edits import with_mix
from studio.errors import RecipeError
from studio.model.api import Generator
from studio.render.engine import Renderer

GRID_LABEL = "mix:grid"
CORNER_GREY = 255  # the empty top-left cell, white as in the paper's figures


def check_layers(g: Generator, layers: tuple[int, int]) -> None:
    """A clear message for a model without style inputs, or a range outside its 0..num_ws."""
    if "style_mix" not in g.info.capabilities or not g.info.num_ws:
        raise RecipeError("this model has no style inputs to mix")
    start, stop = layers
    n = g.info.num_ws
    if not 0 <= start <= stop <= n:
        raise RecipeError(f"style inputs {start}-{stop - 1} are outside this model's {n} inputs "
                          f"(0-{n - 1})")


def seed_recipe(base: Recipe, seed: int) -> Recipe:
    """`base`'s model, truncation, noise and class for `seed`, without its edits (the grid compares seeds)."""
    return replace(base, latent=SeedLatent(int(seed)), edits=())


def cell_recipe(base: Recipe, row_seed: int, col_seed: int, layers: tuple[int, int]) -> Recipe:
    """Row seed's latent with style inputs [start, stop) from the column seed; an empty range mixes
    nothing."""
    r = seed_recipe(base, row_seed)
    if layers[0] >= layers[1]:
        return r
    return with_mix(r, GRID_LABEL, layers, seed=int(col_seed))


def grid_recipes(base: Recipe, rows: Sequence[int], cols: Sequence[int],
                 layers: tuple[int, int]) -> list[Recipe]:
    """Column sources, then row sources, then the cells row by row (the order mixing_grid renders them)."""
    return ([seed_recipe(base, c) for c in cols] + [seed_recipe(base, r) for r in rows]
            + [cell_recipe(base, r, c, layers) for r in rows for c in cols])


def mixing_grid_job(renderer: Renderer, g: Generator, base: Recipe, rows: Sequence[int], cols: Sequence[int],
                    layers: tuple[int, int], batch_size: int = 8,
                    cancel: Callable[[], bool] | None = None) -> Iterator[float]:
    """A worker job: yields the fraction done after each batch, returns the grid as (H, W, 3) uint8."""
    if not rows or not cols:
        raise RecipeError("a mixing grid needs at least one row seed and one column seed")
    check_layers(g, layers)
    recipes = grid_recipes(base, rows, cols, layers)
    images = []
    for i in range(0, len(recipes), batch_size):
        images.append(renderer.render_batch(g, recipes[i:i + batch_size], batch_size, cancel))
        yield min(1.0, (i + batch_size) / len(recipes))
    return assemble(np.concatenate(images), len(rows), len(cols))


def mixing_grid(renderer: Renderer, g: Generator, base: Recipe, rows: Sequence[int], cols: Sequence[int],
                layers: tuple[int, int], cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """The whole grid at once (the CLI); the UI steps mixing_grid_job on its worker instead."""
    job = mixing_grid_job(renderer, g, base, rows, cols, layers, cancel=cancel)
    while True:
        try:
            next(job)
        except StopIteration as done:
            return done.value


def assemble(images: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Tile (cols + rows + rows*cols) images: sources along the top, destinations down the left."""
    _, h, w, c = images.shape
    out = np.full(((n_rows + 1) * h, (n_cols + 1) * w, c), CORNER_GREY, np.uint8)
    for j in range(n_cols):
        out[:h, (j + 1) * w:(j + 2) * w] = images[j]
    for i in range(n_rows):
        out[(i + 1) * h:(i + 2) * h, :w] = images[n_cols + i]
        for j in range(n_cols):
            out[(i + 1) * h:(i + 2) * h, (j + 1) * w:(j + 2) * w] = images[n_cols + n_rows + i * n_cols + j]
    return out


def cell(grid: np.ndarray, row: int, col: int, size: tuple[int, int]) -> np.ndarray:
    """Cell (row, col) of an assembled grid (0, 0 is the first mixed cell, not a source)."""
    h, w = size
    return grid[(row + 1) * h:(row + 2) * h, (col + 1) * w:(col + 2) * w]


# -- per-row sources (the style-mixing panel's state, held as Mix edits in the recipe) -------------------

ROW_LABEL = "mix:rows"  # prefix of the Mix edits that the per-row source matrix owns
GROUPS = ("coarse", "middle", "fine")


def style_groups(resolutions: Sequence[int]) -> dict[str, list[int]]:
    """Rows grouped as in the StyleGAN paper (coarse 4-8 px, middle 16-32, fine 64 and up); a model under
    64 px splits its resolutions in three instead, so every group has rows to act on."""
    levels = sorted(set(resolutions))
    if max(levels) >= 64:
        bounds = {"coarse": (0, 8), "middle": (9, 32), "fine": (33, 1 << 30)}
        return {k: [i for i, r in enumerate(resolutions) if lo <= r <= hi] for k, (lo, hi) in bounds.items()}
    parts = [list(p) for p in np.array_split(np.array(levels), 3)]
    return {k: [i for i, r in enumerate(resolutions) if r in part] for k, part in zip(GROUPS, parts)}


def row_sources(recipe: Recipe, num_ws: int) -> list[tuple[int, float]]:
    """(seed, amount) per style input from the matrix's Mix edits; seed -1 means the base latent."""
    from studio.core.style_edits import Mix

    rows = [(-1, 1.0)] * num_ws
    for e in recipe.edits:
        if isinstance(e, Mix) and e.label.startswith(ROW_LABEL) and e.seed >= 0:
            for i in range(max(0, e.layers[0]), min(num_ws, e.layers[1])):
                rows[i] = (e.seed, e.amount)
    return rows


def with_row_sources(recipe: Recipe, rows: Sequence[tuple[int, float]]) -> Recipe:
    """Replace the matrix's Mix edits by one per run of rows with the same (seed, amount), keeping their
    place among the other edits (a W walk listed after them keeps moving the mixed styles)."""
    from studio.core.style_edits import Mix

    edits = list(recipe.edits)
    ours = [i for i, e in enumerate(edits) if isinstance(e, Mix) and e.label.startswith(ROW_LABEL)]
    at = ours[0] if ours else len(edits)
    kept = [e for i, e in enumerate(edits) if i not in ours]
    at -= sum(1 for i in ours if i < at)
    runs: list[Mix] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i] != rows[start]:
            seed, amount = rows[start]
            if seed >= 0 and amount != 0:
                runs.append(Mix(f"{ROW_LABEL}:{start}-{i - 1}", (start, i), seed=int(seed),
                                amount=float(amount)))
            start = i
    return replace(recipe, edits=tuple(kept[:at] + runs + kept[at:]))
