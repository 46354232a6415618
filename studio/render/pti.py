"""Pivotal tuning (PTI, Roich et al. 2021) after a W+ projection: the generator's synthesis weights are
tuned so the projected latent (the pivot) reproduces the photo more closely than any latent of the frozen
model can, while a locality term keeps the images of latents around the pivot as they were, so edits on
the pivot still behave.

The tuned weights are data of their own: a new checkpoint file in the studio's safetensors format (its
header names the checkpoint it was tuned from), never an overwrite of the model's file, and the recipe of
the answer names that file by its sha256, so opening the recipe opens the tuned model. Tuning changes the
open generator's tensors while it runs and restores them afterwards, so it is for a generator nothing
else renders with meanwhile (the CLI); StyleGAN2/3 in torch only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from studio.core.recipe import ModelRef, Recipe
from studio.core.style_edits import noise_maps
from studio.errors import RecipeError
from studio.model.api import Generator
from studio.model.probe import Probe
from studio.render.projection import PixelLoss, ProjectionResult, _synth_ws, frozen, psnr

PTI_STEPS = 100
PTI_LR = 3e-4          # the paper's learning rate
LOCALITY_SAMPLES = 8   # latents around the pivot whose images are kept
LOCALITY_RADIUS = 30.0  # how far from the pivot they lie, along a random mapped w (the paper's alpha)
LOCALITY_WEIGHT = 0.1
FROZEN_NAMES = ("resample_filter", "noise_const")  # fixed filters and the stored noise are not tuned


@dataclass(frozen=True)
class TunedModel:
    """The tuned checkpoint written, its sha256, and how well the pivot matches before and after."""

    path: Path
    sha256: str
    psnr_before: float
    psnr_after: float
    seconds: float

    def recipe(self, pivot: Recipe) -> Recipe:
        """The pivot's recipe pointed at the tuned checkpoint."""
        return replace(pivot, model=ModelRef(str(self.path), self.sha256))


def tunable(g: Generator) -> list[Tensor]:
    """The synthesis tensors PTI tunes, or a RecipeError for a generator it cannot tune."""
    net = getattr(g, "net", None)
    if net is None or not hasattr(net, "synthesis") or not hasattr(net, "cfg"):
        raise RecipeError(f"pivotal tuning needs a StyleGAN2/3 in torch, not {g.info.name or g.info.family} "
                          f"({g.who()})")
    return [t for name, t in [*net.synthesis.named_parameters(), *net.synthesis.named_buffers()]
            if t.is_floating_point() and not any(n in name for n in FROZEN_NAMES)]


def pivotal_tuning(g: Generator, pivot: ProjectionResult, out: Path, steps: int = PTI_STEPS, seed: int = 0,
                   progress: Callable[[int, int, float], Any] | None = None) -> TunedModel:
    """Tune g's synthesis so `pivot` (a W+ / W projection) renders the photo it was matched with, write the
    tuned model to `out` (safetensors) and restore g. `progress(done, total, psnr)` per step."""
    from studio.model.registry import family

    if pivot.space not in ("w", "w+"):
        raise RecipeError("pivotal tuning starts from a W or W+ projection, not a z one")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise RecipeError(f"tuning steps must be a positive whole number, not {steps!r}")
    if pivot.target is None:
        raise RecipeError("the projection carries no target photo to tune to")
    tensors = tunable(g)
    save = family("StyleGAN").networks().save
    started = time.perf_counter()
    info = g.info
    ws = torch.tensor(pivot.latent.rows(info.num_ws, info.w_dim), dtype=torch.float32, device=g.device)[None]
    recipe = pivot.recipe(g)
    maps = noise_maps(recipe)
    noise = None if maps is None else [torch.from_numpy(a).to(g.device) for a in maps.arrays()]
    target = pivot.target.to(g.device)
    measure = PixelLoss(target)
    gen = torch.Generator().manual_seed(int(seed))
    kept = [t.detach().clone() for t in tensors]
    with frozen(g):
        with torch.no_grad():
            before = _synth_ws(g, ws, noise)
            z = torch.randn(LOCALITY_SAMPLES, info.z_dim, generator=gen).to(g.device)
            away = g.map(z).float() - ws  # toward mapped samples, LOCALITY_RADIUS away from the pivot
            near = ws + away / away.flatten(1).norm(dim=1).clamp_min(1e-8).reshape(-1, 1, 1) * LOCALITY_RADIUS
            near_images = torch.cat([_synth_ws(g, n[None], noise) for n in near])
        try:
            for t in tensors:
                t.requires_grad_(True)
            opt = torch.optim.Adam(tensors, lr=PTI_LR)
            for i in range(steps):
                img = _synth_ws(g, ws, noise)
                k = i % LOCALITY_SAMPLES
                local = F.mse_loss(_synth_ws(g, near[k:k + 1], noise), near_images[k:k + 1])
                loss = measure(img) + LOCALITY_WEIGHT * local
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if progress is not None:
                    progress(i + 1, steps, psnr(img, target))
            with torch.no_grad():
                after = _synth_ws(g, ws, noise)
            for t in tensors:
                t.requires_grad_(False)
            save(out, g.net, name=f"{info.name or info.family} tuned (PTI)",  # type: ignore[attr-defined]
                 extra={"tuned_from": g.model_id, "pti": {"steps": steps, "lr": PTI_LR,
                                                          "locality_weight": LOCALITY_WEIGHT}})
        finally:
            with torch.no_grad():
                for t, k in zip(tensors, kept):
                    t.requires_grad_(False)
                    t.copy_(k)
    return TunedModel(out, Probe(out).sha256, psnr(before, target), psnr(after, target),
                      time.perf_counter() - started)

