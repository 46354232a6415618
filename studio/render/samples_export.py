"""Export N sampled latents (and their images) for scoring outside the studio (studio/core/scores_file.py).

A worker job: the folder is written under a temporary name and renamed when complete, so a cancelled or
failed export leaves nothing that looks finished, and an existing folder is never overwritten.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image

from studio.core.labelled import FIT_SEED0
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.scores_file import IMAGES, LATENTS, MANIFEST, SampleSet, ScoresError, image_name
from studio.model.api import Generator
from studio.model.spaces import seed_vectors


def export_samples_job(g: Generator, renderer, folder: str | Path, n: int, space: str = "z",
                       seed0: int = FIT_SEED0, images: bool = True, model_name: str = "",
                       batch: int = 64,
                       frames: Callable[..., Iterator[Any]] | None = None) -> Iterator[float]:
    """Write `latents.npy` (n, dim) in `space`, `samples.json` and (with images) `images/000000.png ...`;
    returns the folder. Yields the fraction done. `frames` renders the images elsewhere (a frame source as
    studio.export.job takes: a Ray cluster's, studio.distributed.frames.RayFrames)."""
    folder = Path(folder)
    if n < 1:
        raise ScoresError(f"export at least one sample (asked for {n})")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScoresError(f"{folder} already exists and is not an empty folder: choose a new one")
    seeds = list(range(seed0, seed0 + n))
    x = seed_vectors(g, seeds, space)  # also checks that the model has `space`
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        np.save(tmp / LATENTS, x.astype(np.float32))
        if images:
            (tmp / IMAGES).mkdir()
            base = Recipe(ModelRef("", g.model_id), SeedLatent(0))
            recipes = [base.with_seed(s) for s in seeds]
            if frames is None:
                stream = (out for i in range(0, n, batch)
                          for out in renderer.iter_batch(g, recipes[i:i + batch]))
            else:
                stream = frames(g, recipes, batch, renderer.precision)
            done = 0
            for out in stream:
                if out is not None:
                    for j, img in enumerate(out):
                        Image.fromarray(img).save(tmp / IMAGES / image_name(done + j))
                    done += len(out)
                yield min(1.0, done / n)
        meta = SampleSet(g.model_id, model_name or g.info.name, space, tuple(seeds), images)
        (tmp / MANIFEST).write_text(json.dumps(meta.to_dict(), indent=1))
        if folder.exists():
            folder.rmdir()  # empty, checked above
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
