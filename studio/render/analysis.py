"""Background analyses of a generator, written as worker jobs (generators that yield progress)."""
from __future__ import annotations

from typing import Any, Generator as PyGenerator

import numpy as np
import torch

from studio.core.directions import DirectionSet, ganspace_directions, pca_directions
from studio.core.latents import seeds_to_z
from studio.model.api import Generator, StageContext


def pca_job(g: Generator, k: int = 10, n_samples: int = 2000, seed: int = 0,
            batch: int = 250) -> PyGenerator[float, None, DirectionSet]:
    """GANSpace directions, yielding the fraction done between batches so the worker can interleave frames.

    Models with a mapping network get plain PCA in W; others get PCA in their first stage's activations,
    regressed back to z (the GANSpace recipe for BigGAN-like generators).
    """
    seeds = range(seed * 1_000_003, seed * 1_000_003 + n_samples)
    z_all = seeds_to_z(list(seeds), g.info.z_dim, g.info.prior)
    mapper = getattr(g, "map", None) if g.info.w_dim else None
    feats = []
    for i in range(0, n_samples, batch):
        z = torch.from_numpy(z_all[i:i + batch]).to(g.device)
        with torch.inference_mode():
            if mapper is not None:
                f = mapper(z)[:, 0]
            else:
                f = g.stages[0](None, StageContext(z=z)).flatten(1)
        feats.append(f.float().cpu().numpy())
        yield min(1.0, (i + batch) / n_samples)
    f_all = np.concatenate(feats)
    if mapper is not None:
        return pca_directions(f_all, k, space="w")
    return ganspace_directions(z_all, f_all, k, space="z")


def run_job(job: PyGenerator[Any, None, Any]) -> Any:
    """Drive a job to completion on the calling thread (scripts, CLI, tests)."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value
