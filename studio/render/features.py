"""Feature access: one layer's activations for recipes, and per-unit statistics over many samples.

The activations are what the next stage reads: the recipes' own edits (walks, unit edits at this layer and
before) are applied, so a feature view shows the effect of dropping a unit. Statistics run as a worker job
(a generator yielding progress) like analysis.pca_job, so the UI stays responsive and can cancel them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator as PyGenerator, Sequence

import numpy as np
import torch
from torch import Tensor

from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.errors import RecipeError
from studio.model.api import Generator
from studio.model.units import stage_features
from studio.render.analysis import run_job
from studio.render.engine import Renderer


def layer_index(g: Generator, layer: str) -> int:
    """The stage index of a layer name, or a clear error naming the layers there are."""
    names = [s.name for s in g.stages]
    if layer not in names:
        raise RecipeError(f"this model has no layer {layer!r} (layers: {', '.join(names)})")
    return names.index(layer)


def layer_activations(g: Generator, recipes: Sequence[Recipe], layer: str,
                      renderer: Renderer | None = None) -> Tensor:
    """Feature maps (N, C, H, W) at `layer` for the recipes, float32 on the CPU.

    With a renderer, stages come from (and go into) its activation cache, so looking at a layer of the frame
    on screen costs nothing.
    """
    i = layer_index(g, layer)
    ctx = g.recipe_context(recipes)
    if renderer is not None:
        out, _ = renderer.run_context(g, ctx, stop=i + 1)
    else:
        out = g.run(ctx, stop=i + 1)
    return stage_features(g.stages[i], out).detach().float().cpu()


@dataclass(frozen=True)
class UnitStats:
    """Per-unit statistics of one layer over all samples and positions; `samples` (C, S) is a random sample
    of each unit's activation values, for histograms."""

    layer: str
    n_samples: int
    mean: np.ndarray
    std: np.ndarray
    max: np.ndarray
    samples: np.ndarray

    @property
    def units(self) -> int:
        return int(self.mean.shape[0])


def unit_statistics_job(g: Generator, layer: str, seeds: Sequence[int | Recipe], batch: int = 32,
                        sample_size: int = 512, seed: int = 0) -> PyGenerator[float, None, UnitStats]:
    """UnitStats for `layer`, yielding the fraction done after each stage of each batch (a worker job: an
    interactive frame waits for at most one stage).

    `seeds` are seeds of the model's prior or whole recipes (photo translators have no seeds). Moments
    accumulate in float64; each unit keeps a random sample of about `sample_size` values, an equal number
    of positions drawn from each batch."""
    if not seeds:
        raise RecipeError("unit statistics need at least one sample")
    i = layer_index(g, layer)
    recipes = [s if isinstance(s, Recipe) else Recipe(ModelRef(""), SeedLatent(int(s))) for s in seeds]
    rng = np.random.default_rng(seed)
    total = n_pos = 0
    s1 = s2 = mx = None
    picks: list[np.ndarray] = []
    n_batches = (len(recipes) + batch - 1) // batch
    per_batch = max(1, -(-sample_size // n_batches))
    for b in range(0, len(recipes), batch):
        chunk = recipes[b:b + batch]
        out = None
        for j, out in g.steps(g.recipe_context(chunk), stop=i + 1):
            if j < i:
                yield (total + len(chunk) * (j + 1) / (i + 1)) / len(recipes)
        assert out is not None
        f = stage_features(g.stages[i], out).double()
        flat = f.transpose(0, 1).reshape(f.shape[1], -1)  # (C, N * positions)
        s1 = flat.sum(1) if s1 is None else s1 + flat.sum(1)
        s2 = (flat * flat).sum(1) if s2 is None else s2 + (flat * flat).sum(1)
        m = flat.amax(1)
        mx = m if mx is None else torch.maximum(mx, m)
        cols = rng.choice(flat.shape[1], size=min(per_batch, flat.shape[1]), replace=False)
        picks.append(flat[:, torch.from_numpy(cols)].float().cpu().numpy())
        n_pos += flat.shape[1]
        total += len(chunk)
        yield total / len(recipes)
    assert s1 is not None and s2 is not None and mx is not None
    mean = s1 / n_pos
    var = (s2 / n_pos - mean * mean).clamp_min(0)
    samples = np.concatenate(picks, axis=1)[:, :sample_size]
    return UnitStats(layer, total, mean.float().cpu().numpy(), var.sqrt().float().cpu().numpy(),
                     mx.float().cpu().numpy(), samples)


def unit_statistics(g: Generator, layer: str, seeds: Sequence[int | Recipe], batch: int = 32,
                    sample_size: int = 512) -> UnitStats:
    """unit_statistics_job run to completion on the calling thread (scripts, CLI, tests)."""
    return run_job(unit_statistics_job(g, layer, seeds, batch, sample_size))
