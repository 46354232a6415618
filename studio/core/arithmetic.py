"""Latent vector arithmetic (Radford et al. 2016, section 6.3): concept bins, weighted sums, neighbourhoods.

A bin is a named list of latents showing one concept ("man with glasses"); its mean is the concept's
point. An Expression adds bins with weights (A - B + C) and yields a latent the renderer draws like any
other. The paper averages z; models with a mapping network (StyleGAN) are averaged in W, where the
mapping has already bent the prior into the space the synthesis network reads, which is what StyleGAN
users expect. A result in W is a `WLatent` (studio/core/wspace.py), which those models render directly.

The maths only: bins read their members' vectors through a `LatentSpace` the caller passes
(studio.model.spaces.model_space for a loaded generator), so no model runs here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, Sequence

import numpy as np

from studio.core.recipe import Recipe, VectorLatent, latent_from_dict, latent_to_dict
from studio.core.wspace import WLatent
from studio.errors import RecipeError

SPACES = ("z", "w")
NEIGHBOURS = 9  # the paper's 3x3: the result in the centre, eight noisy neighbours around it


class LatentSpace(Protocol):
    """One of a model's latent spaces (z, or W for models with a mapping network) as arithmetic sees it.

    studio.model.spaces.model_space supplies one for a loaded generator, so this module only does the
    maths and never runs a model."""

    name: str  # "z" or "w"

    def vector(self, spec: Any) -> np.ndarray:
        """One recipe latent as a vector of this space (a RecipeError when it has none there)."""

    def spread(self) -> float:
        """The typical per-dimension standard deviation of samples in this space."""

    def typical_norm(self) -> float:
        """The norm a sample typically has (what a rescaled z result is set to)."""


def typical_norm(z_dim: int, prior: str) -> float:
    """The norm a latent drawn from the prior typically has: sqrt(E|z|^2) (normal: sqrt(d); uniform
    on [-1, 1]: sqrt(d / 3)). Averages shrink toward the origin, where a DCGAN draws washed-out faces."""
    return float(np.sqrt(z_dim / 3.0 if prior == "uniform" else z_dim))


def prior_spread(prior: str) -> float:
    """The per-dimension standard deviation of z: 1 for a normal prior, 1/sqrt(3) for uniform on [-1, 1]."""
    return float(np.sqrt(1.0 / 3.0) if prior == "uniform" else 1.0)


def latent_in(v: np.ndarray, space: str) -> VectorLatent | WLatent:
    """A vector of `space` as a recipe latent."""
    values = tuple(float(x) for x in np.asarray(v, np.float64).ravel())
    return WLatent(values) if space == "w" else VectorLatent(values)


# -- bins -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConceptBin:
    """A named concept and the latents that show it."""

    name: str
    members: tuple[Any, ...] = ()
    weight: float | None = None  # its weight in the workspace's sum, kept with a project (None: the default)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise RecipeError("a bin needs a name")
        if self.weight is not None and (isinstance(self.weight, bool)
                                        or not isinstance(self.weight, (int, float))):
            raise RecipeError(f"bin {self.name!r}: weight must be a number, not {self.weight!r}")

    def with_member(self, spec: Any) -> "ConceptBin":
        return replace(self, members=self.members + (spec,))

    def without_member(self, index: int) -> "ConceptBin":
        return replace(self, members=self.members[:index] + self.members[index + 1:])

    def renamed(self, name: str) -> "ConceptBin":
        return replace(self, name=name)

    def vectors(self, space: LatentSpace) -> np.ndarray:
        """(n, dim): each member in `space`; errors name the bin."""
        if not self.members:
            raise RecipeError(f"bin {self.name!r} is empty: add images to it first")
        try:
            return np.stack([space.vector(m) for m in self.members])
        except RecipeError as exc:
            raise RecipeError(f"bin {self.name!r}: {exc}") from None

    def mean(self, space: LatentSpace) -> np.ndarray:
        return self.vectors(space).mean(0).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "members": [latent_to_dict(m) for m in self.members]}
        if self.weight is not None:
            d["weight"] = self.weight
        return d

    @classmethod
    def from_dict(cls, d: Any) -> "ConceptBin":
        if not isinstance(d, dict):
            raise RecipeError("a bin must be a JSON object")
        return cls(str(d.get("name", "")), tuple(latent_from_dict(m) for m in d.get("members", [])),
                   d.get("weight"))


@dataclass(frozen=True)
class NamedLatent:
    """A saved result: a latent the user named (kept in the project)."""

    name: str
    latent: Any

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise RecipeError("a saved latent needs a name")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "latent": latent_to_dict(self.latent)}

    @classmethod
    def from_dict(cls, d: Any) -> "NamedLatent":
        if not isinstance(d, dict):
            raise RecipeError("a named latent must be a JSON object")
        return cls(str(d.get("name", "")), latent_from_dict(d.get("latent")))


# -- expressions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expression:
    """A weighted sum of bins by name, e.g. ((A, 1), (B, -1), (C, 1)). `rescale` sets a z result's norm to
    the prior's typical norm: a mean of many latents is shorter than a sample, and a DCGAN draws short z as
    the average face. Off by default: with the paper's three exemplars per bin A - B + C already has about
    the typical norm, and on the demo DCGAN rescaling larger bins lost the concept
    (bench/edits_arithmetic.py).
    W has no such norm to restore."""

    terms: tuple[tuple[str, float], ...]
    rescale: bool = False

    def evaluate(self, bins: Sequence[ConceptBin], space: LatentSpace) -> np.ndarray:
        by_name = {b.name: b for b in bins}
        used = [(n, float(w)) for n, w in self.terms if w != 0]
        if not used:
            raise RecipeError("the expression is empty: give at least one bin a non-zero weight")
        missing = [n for n, _ in used if n not in by_name]
        if missing:
            raise RecipeError(f"no bin named {missing[0]!r}")
        v = sum(w * by_name[n].mean(space) for n, w in used)
        v = np.asarray(v, np.float32)
        if self.rescale and space.name == "z":
            norm = float(np.linalg.norm(v))
            if norm > 0:
                v = v * (space.typical_norm() / norm)
        return v.astype(np.float32)

    def latent(self, bins: Sequence[ConceptBin], space: LatentSpace) -> VectorLatent | WLatent:
        return latent_in(self.evaluate(bins, space), space.name)


def result_recipe(base: Recipe, latent: Any) -> Recipe:
    """The recipe showing `latent`: the base's model, noise and condition; no truncation or edits (the
    bins' members already carry theirs)."""
    return replace(base, latent=latent, truncation=1.0, edits=())


# -- the paper's neighbourhood --------------------------------------------------------------------
def neighbourhood(v: np.ndarray, space: LatentSpace, scale: float = 0.25, seed: int = 0,
                  n: int = NEIGHBOURS) -> list[VectorLatent | WLatent]:
    """The result and n - 1 neighbours: v plus Gaussian noise of `scale` x the space's spread, drawn from
    `seed` (same seed, same neighbours); the result itself sits in the middle of the list."""
    if scale < 0:
        raise RecipeError(f"noise scale must be >= 0, not {scale}")
    v = np.asarray(v, np.float32)
    noise = np.random.RandomState(seed % 2**32).randn(n, v.size).astype(np.float32)
    noise[n // 2] = 0.0
    points = v[None] + scale * space.spread() * noise
    return [latent_in(p, space.name) for p in points]


# -- directions -------------------------------------------------------------------------------------
def concept_direction(to_bin: ConceptBin, from_bin: ConceptBin, space: LatentSpace,
                      model_id: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The unit direction from bin `from_bin` to bin `to_bin` (e.g. no glasses -> glasses) and its metadata in
    the direction library's fields (name, space, source, model_sha256, info: the bins, their sizes and the
    difference's length before normalising), so `SavedDirection(vectors=v[None], **meta)` stores it."""
    diff = to_bin.mean(space) - from_bin.mean(space)
    norm = float(np.linalg.norm(diff))
    if norm == 0:
        raise RecipeError(f"bins {to_bin.name!r} and {from_bin.name!r} have the same mean: no direction")
    meta = {"name": f"{from_bin.name} -> {to_bin.name}", "space": space.name, "source": "arithmetic",
            "model_sha256": model_id,
            "info": {"from": from_bin.name, "to": to_bin.name,
                     "members": [len(from_bin.members), len(to_bin.members)], "length": norm}}
    return (diff / norm).astype(np.float32), meta
