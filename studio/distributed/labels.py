"""Labelled samples on Ray workers, for fitting a direction from a labeller over many samples.

A drop-in for studio.render.analysis.labeller_scores_job (its `scorer`): chunks of whole render batches go
to the workers, each renders them with its copy of the model and scores them with the labeller of the same
name found there (the same install), and the driver joins the scores in order: the same numbers as
labelling here, so the same fit.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from studio.core.recipe import Recipe
from studio.distributed.cluster import ClusterError, worker_name
from studio.distributed.frames import IN_FLIGHT, RayFrames, _renderer
from studio.distributed.models import ModelSource, worker_model
from studio.distributed.ordered import in_order, remote
from studio.distributed.stop import Stop
from studio.errors import StudioError

CHUNK_BATCHES = 4   # render batches per task (256 samples at the labelling batch of 64)

_labellers: dict[str, Any] = {}


def label_chunk(src: ModelSource, labeller: str, recipes: Sequence[Recipe], batch: int,
                stop: Stop) -> dict[str, np.ndarray] | None:
    """The task body: {attribute: (n,) probability} for `recipes`, rendered and scored in batches of
    `batch` (None: cancelled)."""
    g = worker_model(src)
    try:
        lab = _labellers.get(labeller)
        if lab is None:
            from studio.model.labellers import find_labeller

            lab = _labellers[labeller] = find_labeller(g.info, labeller)
        out: dict[str, list[np.ndarray]] = {a: [] for a in lab.attributes}
        for i in range(0, len(recipes), batch):
            if i:
                stop.check()
            for images in _renderer().iter_batch(g, recipes[i:i + batch]):
                if images is not None:
                    for a, v in lab.score(images).items():
                        out[a].append(v)
    except StudioError as exc:
        raise ClusterError(f"{worker_name()}: {exc}") from None
    return {a: np.concatenate(v) for a, v in out.items()}


def cluster_scorer(frames: RayFrames) -> Callable[..., Iterator[float]]:
    """A `labeller_scores_job` that labels on the cluster: (g, renderer, labeller, recipes, batch=64) ->
    yields the fraction done, returns the scores."""

    def scores_job(g: Any, renderer: Any, net: Any, recipes: Sequence[Recipe],
                   batch: int = 64) -> Iterator[float]:
        size = batch * CHUNK_BATCHES
        starts = list(range(0, len(recipes), size))
        task = remote(label_chunk, 1.0 if frames.cluster.gpus else 0.0)
        name = net.name

        def submit(k: int, stop: Stop) -> Any:
            return task.remote(frames.source, name, list(recipes[starts[k]:starts[k] + size]), batch, stop)

        def what(k: int) -> str:
            return f"samples {starts[k]}-{min(starts[k] + size, len(recipes)) - 1}"

        parts: list[dict[str, np.ndarray]] = []
        for result in in_order(submit, len(starts), IN_FLIGHT * frames.cluster.workers, what):
            if result is not None:
                parts.append(result)
            yield min(len(parts) * size, len(recipes)) / max(len(recipes), 1)
        attributes = parts[0].keys() if parts else net.attributes
        return {a: np.concatenate([p[a] for p in parts]) if parts else np.zeros(0, np.float32)
                for a in attributes}

    return scores_job
