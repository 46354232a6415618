"""How far each noise layer's slider must reach to show something, measured on the open model.

A StyleGAN2 learns one noise strength per layer; the bundled demo learned almost none (x3 on every layer
changed its image by under 0.5/255), and layers differ by 50x. So each layer is probed at growing
multipliers (x10, x40, ...) on a fixed seed until its image moves by NOISE_TARGET on average, and the slider
ends there (studio.core.slider_ranges.noise_max_from). A worker job: one small render per step.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.slider_ranges import NOISE_MAX_CAP, NOISE_TARGET, noise_max_from
from studio.core.style_edits import with_noise_strength
from studio.model.api import Generator
from studio.render.engine import Renderer

PROBES = (10.0, 40.0, 160.0, 640.0, 2560.0, NOISE_MAX_CAP)


def mean_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 image batches, on the 0-255 scale."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def noise_layer_change(renderer: Renderer, g: Generator, base: Sequence[Recipe], layer: int, scale: float,
                       reference: np.ndarray, n_layers: int) -> float:
    """Mean pixel change of `base` with noise layer `layer` at `scale` (the others as trained)."""
    scales = [1.0] * n_layers
    scales[layer] = float(scale)
    return mean_change(renderer.render_batch(g, [with_noise_strength(r, tuple(scales)) for r in base]), reference)


def noise_ranges_job(g: Generator, renderer: Renderer, seeds: Sequence[int] = (0,), target: float = NOISE_TARGET,
                     cancel: Callable[[], bool] | None = None) -> Iterator[float]:
    """Yields the fraction done; returns each noise layer's slider maximum (a tuple, model order)."""
    fn = getattr(g, "noise_layers", None)
    layers = list(fn()) if fn is not None else []
    if not layers:
        return ()
    base = [Recipe(ModelRef("", g.model_id), SeedLatent(int(s))) for s in seeds]
    reference = renderer.render_batch(g, base)
    out = []
    for i in range(len(layers)):
        probes: list[tuple[float, float]] = []
        for scale in PROBES:
            if cancel is not None and cancel():
                return tuple(out)
            probes.append((scale, noise_layer_change(renderer, g, base, i, scale, reference, len(layers))))
            yield (i + len(probes) / len(PROBES)) / len(layers)
            if probes[-1][1] >= target:
                break
        out.append(noise_max_from(probes, target))
    return tuple(out)


def noise_ranges(g: Generator, renderer: Renderer | None = None, seeds: Sequence[int] = (0,),
                 target: float = NOISE_TARGET) -> tuple[float, ...]:
    """noise_ranges_job run to the end (benches, the CLI)."""
    job = noise_ranges_job(g, renderer or Renderer(), seeds, target)
    while True:
        try:
            next(job)
        except StopIteration as done:
            return done.value
