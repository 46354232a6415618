"""Background analyses of a generator, written as worker jobs (generators that yield progress): PCA
directions and labelled-direction fitting. The maths they end in (PCA, the classifiers) is in studio/core;
running the model to get there is here."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generator as PyGenerator, Iterator, Sequence

import numpy as np
import torch

from studio.core.directions import DirectionSet, ganspace_directions, pca_directions
from studio.core.fit_evaluation import DirectionEvaluation, WalkScores, chance_of
from studio.core.labelled import (FIT_SEED0, FittedDirection, LabelError, fit_direction, fit_labelled,
                                 fitted_direction)
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


MAX_LAYER_FEATURES = 4096  # a decomposed layer's maps are average-pooled to at most this many values


def decomposable_layers(g: Generator) -> list[str]:
    """The stages GANSpace may decompose (every stage but the image output)."""
    return [g.stage_name(i) for i in range(max(0, len(g.stages) - 1))]


def layer_features(g: Generator, ctx: StageContext, index: int) -> np.ndarray:
    """Stage `index`'s feature maps for a batch, pooled to at most MAX_LAYER_FEATURES values each."""
    from studio.model.units import stage_features

    with torch.inference_mode():
        out = stage_features(g.stages[index], g.run(ctx, stop=index + 1)).float()
    if out.ndim == 4 and out.shape[1] * out.shape[2] * out.shape[3] > MAX_LAYER_FEATURES:
        side = max(1, int((MAX_LAYER_FEATURES / out.shape[1]) ** 0.5))
        out = torch.nn.functional.adaptive_avg_pool2d(out, min(side, out.shape[2]))
    return out.flatten(1).cpu().numpy()


def layer_pca_job(g: Generator, layer: str, k: int = 10, n_samples: int = 2000, seed: int = 0,
                  batch: int = 250) -> PyGenerator[float, None, DirectionSet]:
    """GANSpace on any stage (as it does for BigGAN and ProGAN): PCA of that stage's activations, each
    component regressed back to the latent the sliders walk (w for models with a mapping network, else z)."""
    from studio.errors import RecipeError

    names = decomposable_layers(g)
    if layer not in names:
        raise RecipeError(f"no layer {layer!r} to decompose (layers: {', '.join(names)})")
    index = names.index(layer)
    seeds = list(range(seed * 1_000_003, seed * 1_000_003 + n_samples))
    base = Recipe(ModelRef("", g.model_id), SeedLatent(0))
    latents, feats = [], []
    for i in range(0, n_samples, batch):
        recipes = [base.with_seed(s) for s in seeds[i:i + batch]]
        z = g.latents(seeds[i:i + batch])
        latents.append(w_vectors(g, z) if g.has_w else z.float().cpu().numpy())
        feats.append(layer_features(g, g.context(recipes), index))
        yield min(1.0, (i + batch) / n_samples)
    f_all = np.concatenate(feats)
    if float(f_all.std(axis=0).max(initial=0.0)) < 1e-6:
        raise RecipeError(f"layer {layer} does not change with the latent (a constant input): nothing to decompose")
    return ganspace_directions(np.concatenate(latents), f_all, k, "w" if g.has_w else "z", layer)


def run_job(job: PyGenerator[Any, None, Any]) -> Any:
    """Drive a job to completion on the calling thread (scripts, CLI, tests)."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


# -- labelled directions (InterFaceGAN) --------------------------------------------------------------------
def _as_labeller(net: "torch.nn.Module | Labeller") -> "Labeller":
    """A labeller, or the ToyFaces attribute net itself (benches load it directly) made into one."""
    from studio.model.labellers import Labeller

    if isinstance(net, Labeller):
        return net
    from studio.demo.attributes import IMAGE_SIZE, predict
    from studio.demo.toyfaces import BINARY_ATTRIBUTES

    return Labeller("attribute model", tuple(BINARY_ATTRIBUTES),
                    lambda images: {k: v for k, v in predict(net, images).items() if k in BINARY_ATTRIBUTES},
                    input_size=IMAGE_SIZE)


def labeller_scores_job(g: Generator, renderer: "Renderer", net: "torch.nn.Module | Labeller",
                        recipes: Sequence[Recipe], batch: int = 64) -> Iterator[float]:
    """Render recipes and score them with a labeller: returns {attribute: (n,) probability} for every
    attribute it knows. A worker job: yields the fraction done after every stage of every batch."""
    lab = _as_labeller(net)
    out: dict[str, list[np.ndarray]] = {a: [] for a in lab.attributes}
    n = len(recipes)
    for i in range(0, n, batch):
        chunk = recipes[i:i + batch]
        for images in renderer.iter_batch(g, chunk):
            if images is None:
                yield i / max(n, 1)
            else:
                for a, v in lab.score(images).items():
                    out[a].append(v)
        yield (i + len(chunk)) / max(n, 1)
    return {a: np.concatenate(v) if v else np.zeros(0, np.float32) for a, v in out.items()}


def attribute_scores_job(g: Generator, renderer: "Renderer", net: "torch.nn.Module | Labeller", attribute: str,
                         recipes: Sequence[Recipe], batch: int = 64) -> Iterator[float]:
    """`labeller_scores_job` for one attribute: returns (n,) probabilities of `attribute`."""
    scores = yield from labeller_scores_job(g, renderer, net, recipes, batch)
    if attribute not in scores:
        raise LabelError(f"{_as_labeller(net).name} does not score {attribute!r}")
    return scores[attribute]


def fit_attribute_job(g: Generator, renderer: "Renderer", net: "torch.nn.Module | Labeller", attribute: str,
                      n_samples: int = 2000, classifier: str = "logistic", space: str = "z",
                      seed0: int = FIT_SEED0, model_name: str = "", threshold: float = 0.5,
                      keep_fixed: Sequence[str] = (), scorer: Callable[..., Iterator[float]] | None = None,
                      ) -> Iterator[float]:
    """Label n generated samples with a labeller, fit a linear classifier on their latents and return a
    FittedDirection named after the attribute (a worker job yielding the fraction done). Attributes in
    `keep_fixed` get boundaries of their own from the same samples, and the direction is projected
    orthogonal to them (conditional manipulation). `scorer` labels elsewhere (a Ray cluster:
    studio.distributed.labels.cluster_scorer), with labeller_scores_job's arguments and result."""
    if n_samples < 20:
        raise LabelError(f"fit on at least 20 samples (asked for {n_samples})")
    lab = _as_labeller(net)
    for a in (attribute, *keep_fixed):
        if a not in lab.attributes:
            raise LabelError(f"the {lab.name} does not score {a!r} (it scores {', '.join(lab.attributes)})")
    seeds = list(range(seed0, seed0 + n_samples))
    x = seed_vectors(g, seeds, space)
    base = Recipe(ModelRef("", g.model_id), SeedLatent(0))
    probs = yield from (scorer or labeller_scores_job)(g, renderer, lab, [base.with_seed(s) for s in seeds])
    labels = {a: (np.ones(n_samples, bool), probs[a] > threshold) for a in (attribute, *keep_fixed)}
    return fit_labelled(x, labels, attribute, attribute, space, g.model_id, model_name, classifier, keep_fixed,
                        {"labels": lab.name, "first_seed": seed0})


EVAL_SEEDS = 24          # fresh seeds walked to evaluate a fit (the CLI's default; the GUI's too)
EVAL_AMOUNTS = np.linspace(-2.0, 2.0, 9)  # walk amounts in slider units (std of the samples along it)
EVAL_SEED0 = 2_000_000_000  # far from the fit samples and the seeds users browse


def walk_scores_job(g: Generator, renderer: "Renderer", net: "torch.nn.Module | Labeller", base: Recipe,
                    vector: np.ndarray, unit: float, space: str, seeds: Sequence[int],
                    amounts: np.ndarray = EVAL_AMOUNTS, layers: tuple[int, int] | None = None,
                    label: str = "dir:evaluate") -> Iterator[float]:
    """Every attribute's score along a walk of each seed: returns a WalkScores."""
    direction = tuple(float(v) for v in np.asarray(vector).reshape(-1))
    recipes = [base.with_seed(s).with_walk(label, direction, float(a) * unit, space, layers)
               for s in seeds for a in amounts]
    scores = yield from labeller_scores_job(g, renderer, net, recipes)
    return WalkScores(np.asarray(amounts, float),
                      {a: v.reshape(len(seeds), len(amounts)) for a, v in scores.items()})


def evaluate_fit_job(g: Generator, renderer: "Renderer", net: "torch.nn.Module | Labeller",
                     fitted: FittedDirection, seeds: Sequence[int] | None = None,
                     amounts: np.ndarray = EVAL_AMOUNTS, base: Recipe | None = None) -> Iterator[float]:
    """A fit's DirectionEvaluation: held-out accuracy against chance, and every attribute the labeller knows
    along the walk of fresh seeds, also along the plain boundary normal when attributes were kept fixed."""
    lab = _as_labeller(net)
    d, fit = fitted.direction, fitted.fit
    seeds = list(range(EVAL_SEED0, EVAL_SEED0 + EVAL_SEEDS)) if seeds is None else list(seeds)
    base = base or Recipe(ModelRef("", g.model_id), SeedLatent(0))
    unit = float(d.stddev[0]) if d.stddev is not None and d.stddev[0] > 0 else 1.0
    walk = yield from walk_scores_job(g, renderer, lab, base, d.vectors[0], unit, d.walk_space(), seeds, amounts,
                                      d.layers, d.label())
    plain = None
    if fitted.plain is not None:  # the same amounts in the samples' spread along the plain normal
        plain_unit = float(d.info.get("plain_stddev", unit))
        plain = yield from walk_scores_job(g, renderer, lab, base, fitted.plain, plain_unit, d.walk_space(),
                                           seeds, amounts, d.layers, d.label())
    attribute = d.source[7:] if d.source.startswith("fitted:") else d.name
    total = fit.n_train + fit.n_test
    return DirectionEvaluation(d.name, attribute, lab.name, fit.test_accuracy, chance_of(fit.n_positive, total),
                               fit.test_balanced_accuracy, fit.n_train, fit.n_test, walk, plain,
                               tuple(fitted.kept), dict(d.info.get("cosine_to_kept_before", {})))


def fit_hand_labels(g: Generator, seeds: Sequence[int], labels: Sequence[bool], name: str,
                    classifier: str = "logistic", space: str = "z", model_name: str = "") -> FittedDirection:
    """A direction from seeds the user marked positive (True) or negative (False)."""
    if len(seeds) != len(labels):
        raise LabelError(f"{len(labels)} labels for {len(seeds)} seeds")
    x = seed_vectors(g, seeds, space)
    fit = fit_direction(x, np.asarray(labels, bool), classifier, holdout=0.25 if len(seeds) >= 12 else 0.0)
    return fitted_direction(fit, x, name, f"fitted:{name}", space, g.model_id, model_name, {"labels": "by hand"})
