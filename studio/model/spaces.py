"""A loaded generator's latent spaces, z and (for models with a mapping network) W, for the maths in core.

studio/core keeps the timeline and arithmetic maths free of models: they read latents through small
protocols (core.timeline.LatentPoints, core.arithmetic.LatentSpace). This module implements them with a
Generator, using only its API (`latents`, `latent`, `edited_z`, `context`, `map`, `has_w`), so a family's
own seeding or mapping applies everywhere.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from studio.core.arithmetic import SPACES, prior_spread, typical_norm
from studio.core.recipe import Recipe, SeedLatent, VectorLatent, Walk
from studio.core.timeline import Timeline
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.api import Generator

W_SPREAD_SAMPLES = 512  # mapped seeds measured for W's spread (once per loaded model)


# -- which spaces ----------------------------------------------------------------------------------------
def spaces(g: Generator) -> tuple[str, ...]:
    """The latent spaces g offers edits, fits and interpolation in: ("z", "w") or ("z",)."""
    return SPACES if g.has_w else ("z",)


def default_space(g: Generator) -> str:
    """W where there is one (what StyleGAN users expect to average and fit in), else z."""
    return "w" if g.has_w else "z"


def check_space(g: Generator, space: str) -> None:
    if space not in SPACES:
        raise RecipeError(f"unknown latent space {space!r} (known: {', '.join(SPACES)})")
    if space == "w" and not g.has_w:
        raise RecipeError(f"{g.info.family} models have no W space; use z")


# -- points ----------------------------------------------------------------------------------------------
def w_vectors(g: Generator, z: np.ndarray | torch.Tensor) -> np.ndarray:
    """w (N, w_dim) float32 for z (N, z_dim) through g's mapping network, untruncated: the single style
    vector that averaging, PCA and fitting in W work with (every row of ws is the same w before edits)."""
    check_space(g, "w")
    z = torch.as_tensor(z, dtype=torch.float32)
    with torch.inference_mode():
        ws = g.map(z.reshape(-1, g.info.z_dim).to(g.device))
    return ws[:, 0].float().cpu().numpy()


def seed_vectors(g: Generator, seeds: Sequence[int], space: str = "z") -> np.ndarray:
    """The seeds' latents as vectors of `space` (N, dim): z from g.latents, or their w (truncation 1)."""
    check_space(g, space)
    z = g.latents(list(seeds))
    return z.float().cpu().numpy() if space == "z" else w_vectors(g, z)


def style_inputs(g: Generator, recipes: Sequence[Recipe]) -> np.ndarray:
    """Each recipe's style inputs (N, num_ws, w_dim) after truncation, W walks and mixes: what its image is
    rendered from, so interpolating them starts and ends exactly on the keyframes."""
    check_space(g, "w")
    out = []
    for r in recipes:  # one at a time: recipes rendered together must share a noise mode
        ws = g.context([r]).ws
        if ws is None:
            raise RecipeError(f"{g.info.family} models have no W space; use z")
        out.append(ws[0].detach().cpu().float().numpy())
    return np.stack(out) if out else np.zeros((0, g.info.num_ws, g.info.w_dim), np.float32)


def base_point(g: Generator, recipe: Recipe, space: str) -> np.ndarray:
    """The recipe's latent before its walks as one vector of `space`: z after truncation, or w (the mean of
    its style inputs when mixing made them differ), for coordinates along PCA directions."""
    check_space(g, space)
    r = recipe.without_walks()
    if space == "z":
        return g.edited_z(r)
    return style_inputs(g, [r])[0].mean(axis=0)


class GeneratorPoints:
    """core.timeline.LatentPoints for a loaded generator."""

    def __init__(self, g: Generator):
        self.g = g
        self.truncation_in_forward = g.truncation_in_forward  # BigGAN: interpolation keeps the truncation

    def z_mean(self) -> np.ndarray:
        return self.g.z_mean()

    def edited_z(self, recipe: Recipe) -> np.ndarray:
        return self.g.edited_z(recipe)

    def style_inputs(self, recipes: Sequence[Recipe]) -> np.ndarray:
        return style_inputs(self.g, recipes)


def frame_recipes(g: Generator, timeline: Timeline) -> list[Recipe]:
    """One recipe per frame of `timeline`, its keyframes placed in z or W by g."""
    return timeline.recipes(GeneratorPoints(g))


# -- arithmetic ------------------------------------------------------------------------------------------
class ModelSpace:
    """core.arithmetic.LatentSpace for a loaded generator: z, or w = mapping(z) without truncation."""

    def __init__(self, g: Generator, name: str):
        check_space(g, name)
        self.g, self.name = g, name

    def vector(self, spec: Any) -> np.ndarray:
        g = self.g
        if isinstance(spec, WLatent):
            if self.name == "z":
                raise RecipeError("a latent edited in W has no z; switch to W")
            rows = spec.rows(g.info.num_ws, g.info.w_dim)
            if not np.array_equal(rows, np.broadcast_to(rows[:1], rows.shape)):
                raise RecipeError("a W+ latent (a different w per style input) cannot be averaged as one w")
            return rows[0]
        z = g.latent(spec)
        return z if self.name == "z" else w_vectors(g, z[None])[0]

    def spread(self) -> float:
        """1 for a normal z (1/sqrt(3) uniform); for w, measured on mapped seeds, so one noise scale means
        the same in both spaces."""
        if self.name == "z":
            return prior_spread(self.g.info.prior)
        cached = getattr(self.g, "_arithmetic_w_spread", None)
        if cached is None:
            cached = float(seed_vectors(self.g, range(W_SPREAD_SAMPLES), "w").std(0).mean())
            self.g._arithmetic_w_spread = cached  # type: ignore[attr-defined]  # once per loaded model
        return cached

    def typical_norm(self) -> float:
        return typical_norm(self.g.info.z_dim, self.g.info.prior)


def model_space(g: Generator, name: str) -> ModelSpace:
    """g's space `name` ("z" or "w") for bin means, expressions and neighbourhoods."""
    return ModelSpace(g, name)


def member_from_recipe(g: Generator, recipe: Recipe) -> Any:
    """What the current image contributes to a bin: its latent as is when nothing moved it, else the
    edited point (truncation and walks baked in), in z for z models and in w for W models."""
    moved = recipe.truncation != 1.0 or any(isinstance(e, Walk) for e in recipe.edits)
    if not moved and isinstance(recipe.latent, (SeedLatent, VectorLatent, WLatent)):
        return recipe.latent
    if not g.has_w:
        return VectorLatent(tuple(float(x) for x in g.edited_z(recipe)))
    rows = style_inputs(g, [recipe])[0]
    if not np.allclose(rows, rows[0], atol=1e-6):
        raise RecipeError("this image's style inputs differ by layer (style mixing or a layer-limited walk); "
                          "a bin holds one w per image")
    return WLatent(tuple(float(x) for x in rows[0]))
