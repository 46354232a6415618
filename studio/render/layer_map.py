"""The layer map: which style inputs control what, measured (the StyleGAN paper's coarse/middle/fine claim,
checked on the open model instead of taken from a 1024 px one).

For each row of the mixing matrix (a range of style inputs) and many seed pairs (A, B), A is rendered with
that range swapped in from B (the mixing grid's own cell recipe, a Mix edit), and we measure how far each
quantity moves from A's value toward B's: the least-squares slope of (mix - A) on (B - A) over the pairs,
0 = stays A, 1 = follows B. Quantities: every attribute of the model's labeller, for ToyFaces-like labellers
the hair colour class (share of pairs whose hair colours differ where the mix takes B's), the image's mean
colour (no labeller needed), and the image change (mean |mix - A| over mean |B - A|).

A worker job (a stage of a batch per step, cancellable); numbers export as CSV or JSON. Qt-free.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from studio.core.recipe import Recipe
from studio.errors import RecipeError
from studio.model.api import Generator
from studio.render.mixing import cell_recipe, check_layers, seed_recipe

if TYPE_CHECKING:
    from studio.model.labellers import Labeller
    from studio.render.engine import Renderer

SEED0 = 80_000  # pairs (SEED0 + 2k, SEED0 + 2k + 1): seeds the edit benches do not use
DEFAULT_PAIRS = 64
BATCH = 16
HAIR_COLOUR = "hair colour"
MEAN_COLOUR = "mean colour"
IMAGE_CHANGE = "image change"


@dataclass
class LayerMap:
    """One row per style-input range, one column per measured quantity (see the module docstring)."""

    ranges: list[tuple[int, int]]
    resolutions: list[int]          # the block resolution of each range's first input (0: unknown)
    columns: list[str]
    values: np.ndarray              # (rows, columns) float
    pairs: int
    labeller: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def row_label(self, i: int) -> str:
        start, stop = self.ranges[i]
        rows = f"{start}" if stop - start == 1 else f"{start}-{stop - 1}"
        res = self.resolutions[i]
        return f"{rows} ({res}x{res})" if res else rows

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.columns.index(name)]

    def mean_over(self, name: str, max_resolution: int | None = None, min_resolution: int | None = None) -> float:
        """The column's mean over the rows whose resolution is within the bounds."""
        lo, hi = min_resolution or 0, max_resolution if max_resolution is not None else 1 << 30
        keep = [i for i, r in enumerate(self.resolutions) if lo <= r <= hi]
        return float(np.mean(self.column(name)[keep])) if keep else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"format": "latent-studio-layer-map", "version": 1, "pairs": self.pairs, "labeller": self.labeller,
                "columns": self.columns, **self.meta,
                "rows": [{"inputs": list(r), "resolution": res, "label": self.row_label(i),
                          "values": {c: float(v) for c, v in zip(self.columns, self.values[i])}}
                         for i, (r, res) in enumerate(zip(self.ranges, self.resolutions))]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["first_input", "last_input", "resolution", *self.columns])
        for i, (start, stop) in enumerate(self.ranges):
            w.writerow([start, stop - 1, self.resolutions[i], *(f"{v:.4f}" for v in self.values[i])])
        return buf.getvalue()


def style_resolutions(g: Generator) -> list[int]:
    """Each style input's block resolution where the family says (StyleGAN's style_resolutions), else 0s."""
    fn = getattr(g, "style_resolutions", None)
    res = list(fn()) if callable(fn) else []
    return res if len(res) == g.info.num_ws else [0] * g.info.num_ws


def default_ranges(g: Generator) -> list[tuple[int, int]]:
    """One row per style input: the rows of the style-mixing matrix."""
    return [(i, i + 1) for i in range(g.info.num_ws)]


def resolution_ranges(g: Generator) -> list[tuple[int, int]]:
    """One row per block resolution (the inputs that share it), the paper's 4x4, 8x8, ... granularity; one
    row per input when the family does not say its resolutions."""
    res = style_resolutions(g)
    if not any(res):
        return default_ranges(g)
    out: list[tuple[int, int]] = []
    for i, r in enumerate(res):
        if out and res[out[-1][0]] == r:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def model_labeller(g: Generator) -> "Labeller | None":
    """The labeller the layer map scores with: the first one offered for this model (the ToyFaces attribute
    model for the demos), None when there is none (the map then has only the pixel columns). The one place
    the layer map asks for a labeller, so a different choice of labeller changes it here."""
    from studio.bundled import attribute_model_path
    from studio.model.labellers import available_labellers, toyfaces_labeller, trained_on_toyfaces

    offered = available_labellers(g.info)
    if offered:
        return offered[0]
    path = attribute_model_path()
    return toyfaces_labeller(path) if trained_on_toyfaces(g.info) and path.is_file() else None


def _score(labeller: "Labeller", images: np.ndarray) -> dict[str, np.ndarray]:
    score = getattr(labeller, "score", None) or labeller.predict
    return {k: np.asarray(v, np.float64).reshape(-1) for k, v in score(images).items()}


def _render(renderer: "Renderer", g: Generator, recipes: Sequence[Recipe], out: list[np.ndarray],
            cancel: Callable[[], bool] | None) -> Iterator[None]:
    for i in range(0, len(recipes), BATCH):
        for frame in renderer.iter_batch(g, recipes[i:i + BATCH], cancel):
            if frame is None:
                yield None
            else:
                out.append(frame)


def follow_slope(a: np.ndarray, b: np.ndarray, mix: np.ndarray) -> float:
    """Least-squares slope of (mix - a) on (b - a) over pairs (rows; trailing axes pooled): 0 = stays a,
    1 = follows b."""
    d = (b - a).reshape(len(a), -1)
    m = (mix - a).reshape(len(a), -1)
    den = float((d * d).sum())
    return float((m * d).sum() / den) if den > 0 else 0.0


def hair_groups(attributes: Sequence[str]) -> list[int]:
    from studio.core.attributes import exclusive_groups

    groups = exclusive_groups(list(attributes))
    return list(groups[0]) if groups else []


def layer_map_job(renderer: "Renderer", g: Generator, base: Recipe, labeller: "Labeller | None" = None,
                  pairs: int = DEFAULT_PAIRS, ranges: Sequence[tuple[int, int]] | None = None, seed0: int = SEED0,
                  cancel: Callable[[], bool] | None = None) -> Iterator[float]:
    """A worker job yielding the fraction done; returns a LayerMap. `base` gives truncation, noise and class."""
    if pairs < 2:
        raise RecipeError(f"a layer map needs at least 2 pairs of seeds (asked for {pairs})")
    check_layers(g, (0, 0))  # a model without style inputs: one clear message
    ranges = list(ranges) if ranges is not None else default_ranges(g)
    for r in ranges:
        check_layers(g, r)
    if any(start >= stop for start, stop in ranges):
        raise RecipeError("every row of a layer map swaps at least one style input")
    seeds_a = [seed0 + 2 * k for k in range(pairs)]
    seeds_b = [seed0 + 2 * k + 1 for k in range(pairs)]
    jobs = [[seed_recipe(base, s) for s in seeds_a], [seed_recipe(base, s) for s in seeds_b]]
    jobs += [[cell_recipe(base, a, b, r) for a, b in zip(seeds_a, seeds_b)] for r in ranges]
    total_steps = max(1, len(jobs) * -(-pairs // BATCH) * max(1, len(g.stages)))
    step = 0
    yield 0.0
    images: list[np.ndarray] = []
    for recipes in jobs:
        chunks: list[np.ndarray] = []
        for _ in _render(renderer, g, recipes, chunks, cancel):
            step += 1
            yield min(0.99, step / total_steps)
        images.append(np.concatenate(chunks))
    img_a, img_b = images[0].astype(np.float64), images[1].astype(np.float64)
    attrs = list(labeller.attributes) if labeller is not None else []
    hair = hair_groups(attrs)
    columns = attrs + ([HAIR_COLOUR] if hair else []) + [MEAN_COLOUR, IMAGE_CHANGE]
    s_a = _score(labeller, images[0]) if labeller is not None else {}
    s_b = _score(labeller, images[1]) if labeller is not None else {}

    def hair_class(s: dict[str, np.ndarray]) -> np.ndarray:
        return np.argmax(np.stack([s[attrs[i]] for i in hair], axis=1), axis=1)

    values = np.zeros((len(ranges), len(columns)))
    base_change = float(np.abs(img_b - img_a).mean())
    for r, mix in enumerate(images[2:]):
        mixf = mix.astype(np.float64)
        row: list[float] = []
        s_m = _score(labeller, mix) if labeller is not None else {}
        row += [follow_slope(s_a[a], s_b[a], s_m[a]) for a in attrs]
        if hair:
            ha, hb, hm = hair_class(s_a), hair_class(s_b), hair_class(s_m)
            differ = ha != hb
            row.append(float((hm[differ] == hb[differ]).mean()) if differ.any() else float("nan"))
        row.append(follow_slope(img_a.mean(axis=(1, 2)), img_b.mean(axis=(1, 2)), mixf.mean(axis=(1, 2))))
        row.append(float(np.abs(mixf - img_a).mean()) / base_change if base_change > 0 else 0.0)
        values[r] = row
        yield min(0.99, (step + r + 1) / (total_steps + len(ranges)))
    res = style_resolutions(g)
    return LayerMap(ranges, [res[start] for start, _ in ranges], columns, values, pairs,
                    labeller.name if labeller is not None else "",
                    {"first_seed": seed0, "truncation": base.truncation})
