"""Background analyses of a generator, written as worker jobs (generators that yield progress): PCA
directions and labelled-direction fitting. The maths they end in (PCA, the classifiers) is in studio/core;
running the model to get there is here."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Generator as PyGenerator, Iterator, Sequence

import numpy as np
import torch

from studio.core.directions import DirectionSet, ganspace_directions, pca_directions
from studio.core.labelled import FIT_SEED0, FittedDirection, LabelError, fit_direction, fitted_direction
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model.api import Generator, StageContext
from studio.model.spaces import seed_vectors, w_vectors

if TYPE_CHECKING:
    from studio.model.labellers import Labeller
    from studio.render.engine import Renderer


def pca_job(g: Generator, k: int = 10, n_samples: int = 2000, seed: int = 0,
            batch: int = 250) -> PyGenerator[float, None, DirectionSet]:
    """GANSpace directions, yielding the fraction done between batches so the worker can interleave frames.

    Models with a mapping network get plain PCA in W; others get PCA in their first stage's activations,
    regressed back to z (the GANSpace recipe for BigGAN-like generators).
    """
    seeds = range(seed * 1_000_003, seed * 1_000_003 + n_samples)
    z_all = g.latents(list(seeds))
    feats = []
    for i in range(0, n_samples, batch):
        z = z_all[i:i + batch]
        if g.has_w:
            feats.append(w_vectors(g, z))
        else:
            with torch.inference_mode():
                feats.append(g.stages[0](None, StageContext(z=z)).flatten(1).float().cpu().numpy())
        yield min(1.0, (i + batch) / n_samples)
    f_all = np.concatenate(feats)
    if g.has_w:
        return pca_directions(f_all, k, space="w")
    return ganspace_directions(z_all.float().cpu().numpy(), f_all, k, space="z")


def run_job(job: PyGenerator[Any, None, Any]) -> Any:
    """Drive a job to completion on the calling thread (scripts, CLI, tests)."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


# -- labelled directions (InterFaceGAN) --------------------------------------------------------------------
def attribute_scores_job(g: Generator, renderer: "Renderer", net: "torch.nn.Module | Labeller", attribute: str,
                         recipes: Sequence[Recipe], batch: int = 64) -> Iterator[float]:
    """Render recipes and score them with a labeller (or the ToyFaces attribute net itself): returns (n,)
    probabilities of `attribute`.

    A worker job: yields the fraction done after every stage of every batch, so frames can interleave.
    """
    from studio.demo.attributes import predict
    from studio.model.labellers import Labeller

    score = net.predict if isinstance(net, Labeller) else functools.partial(predict, net)
    out: list[np.ndarray] = []
    n = len(recipes)
    for i in range(0, n, batch):
        chunk = recipes[i:i + batch]
        for images in renderer.iter_batch(g, chunk):
            if images is None:
                yield i / max(n, 1)
            else:
                out.append(np.asarray(score(images)[attribute], np.float32))
        yield (i + len(chunk)) / max(n, 1)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def fit_attribute_job(g: Generator, renderer: "Renderer", net: "torch.nn.Module | Labeller", attribute: str,
                      n_samples: int = 2000, classifier: str = "logistic", space: str = "z",
                      seed0: int = FIT_SEED0, model_name: str = "",
                      threshold: float = 0.5) -> Iterator[float]:
    """Label n generated samples with the attribute model, fit a linear classifier on their latents and
    return a FittedDirection named after the attribute (a worker job yielding the fraction done)."""
    if n_samples < 20:
        raise LabelError(f"fit on at least 20 samples (asked for {n_samples})")
    seeds = list(range(seed0, seed0 + n_samples))
    x = seed_vectors(g, seeds, space)
    base = Recipe(ModelRef("", g.model_id), SeedLatent(0))
    probs = yield from attribute_scores_job(g, renderer, net, attribute, [base.with_seed(s) for s in seeds])
    fit = fit_direction(x, probs > threshold, classifier)
    labels = getattr(net, "name", "attribute model") if not isinstance(net, torch.nn.Module) else "attribute model"
    return fitted_direction(fit, x, attribute, f"fitted:{attribute}", space, g.model_id, model_name,
                            {"labels": labels, "first_seed": seed0})


def fit_hand_labels(g: Generator, seeds: Sequence[int], labels: Sequence[bool], name: str,
                    classifier: str = "logistic", space: str = "z", model_name: str = "") -> FittedDirection:
    """A direction from seeds the user marked positive (True) or negative (False)."""
    if len(seeds) != len(labels):
        raise LabelError(f"{len(labels)} labels for {len(seeds)} seeds")
    x = seed_vectors(g, seeds, space)
    fit = fit_direction(x, np.asarray(labels, bool), classifier, holdout=0.25 if len(seeds) >= 12 else 0.0)
    return fitted_direction(fit, x, name, f"fitted:{name}", space, g.model_id, model_name, {"labels": "by hand"})
