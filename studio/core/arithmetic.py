"""Latent vector arithmetic (Radford et al. 2016, section 6.3): concept bins, weighted sums, neighbourhoods.

A bin is a named list of latents showing one concept ("man with glasses"); its mean is the concept's
point. An Expression adds bins with weights (A - B + C) and yields a latent the renderer draws like any
other. The paper averages z; models with a mapping network (StyleGAN) are averaged in W, where the
mapping has already bent the prior into the space the synthesis network reads, which is what StyleGAN
users expect. A result in W is a `WLatent` (studio/core/wspace.py), which those models render directly.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from studio.core.recipe import Recipe, SeedLatent, VectorLatent, Walk, latent_from_dict, latent_to_dict
from studio.core.wspace import WLatent
from studio.errors import RecipeError

if TYPE_CHECKING:
    from studio.model.api import Generator

SPACES = ("z", "w")
NEIGHBOURS = 9  # the paper's 3x3: the result in the centre, eight noisy neighbours around it
W_SPREAD_SAMPLES = 512


def has_w(g: "Generator") -> bool:
    """Whether the model maps z to a W space it can average in (StyleGAN, torch or ONNX)."""
    return bool(g.info.w_dim) and callable(getattr(g, "map", None))


def map_to_w(g: "Generator", z: np.ndarray) -> np.ndarray:
    """w (N, w_dim) for z (N, z_dim) through the model's mapping network, without truncation."""
    import torch

    z = torch.from_numpy(np.asarray(z, np.float32).reshape(-1, g.info.z_dim))
    ws = g.map(z)  # type: ignore[attr-defined]
    return ws[:, 0].detach().cpu().numpy().astype(np.float32)


def default_space(g: "Generator") -> str:
    return "w" if has_w(g) else "z"


def check_space(g: "Generator", space: str) -> None:
    if space not in SPACES:
        raise RecipeError(f"unknown latent space {space!r} (known: {', '.join(SPACES)})")
    if space == "w" and not has_w(g):
        raise RecipeError(f"{g.info.family} models have no W space; use z")


def latent_vector(g: "Generator", spec: Any, space: str) -> np.ndarray:
    """One latent as a vector of `space` (z, or w = mapping(z) without truncation)."""
    check_space(g, space)
    if isinstance(spec, WLatent):
        if space == "z":
            raise RecipeError("a latent edited in W has no z; switch to W")
        rows = spec.rows(g.info.num_ws, g.info.w_dim)
        if not np.array_equal(rows, np.broadcast_to(rows[:1], rows.shape)):
            raise RecipeError("a W+ latent (a different w per style input) cannot be averaged as one w")
        return rows[0]
    z = g.latent(spec)
    return z if space == "z" else map_to_w(g, z)[0]


def latent_in(g: "Generator", v: np.ndarray, space: str) -> VectorLatent | WLatent:
    """A vector of `space` as a recipe latent."""
    values = tuple(float(x) for x in np.asarray(v, np.float64).ravel())
    return WLatent(values) if space == "w" else VectorLatent(values)


def member_from_recipe(g: "Generator", recipe: Recipe) -> Any:
    """What the current image contributes to a bin: its latent as is when nothing moved it, else the
    edited point (truncation and walks baked in), in z for z models and in w for W models."""
    moved = recipe.truncation != 1.0 or any(isinstance(e, Walk) for e in recipe.edits)
    if not moved and isinstance(recipe.latent, (SeedLatent, VectorLatent, WLatent)):
        return recipe.latent
    if not has_w(g):
        return VectorLatent(tuple(float(x) for x in g.edited_z(recipe)))
    ws = g.context([recipe]).ws
    assert ws is not None
    rows = ws[0].detach().cpu().numpy()
    if not np.allclose(rows, rows[0], atol=1e-6):
        raise RecipeError("this image's style inputs differ by layer (style mixing or a layer-limited walk); "
                          "a bin holds one w per image")
    return WLatent(tuple(float(x) for x in rows[0]))


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

    def vectors(self, g: "Generator", space: str) -> np.ndarray:
        """(n, dim): each member in `space`; errors name the bin."""
        if not self.members:
            raise RecipeError(f"bin {self.name!r} is empty: add images to it first")
        try:
            return np.stack([latent_vector(g, m, space) for m in self.members])
        except RecipeError as exc:
            raise RecipeError(f"bin {self.name!r}: {exc}") from None

    def mean(self, g: "Generator", space: str) -> np.ndarray:
        return self.vectors(g, space).mean(0).astype(np.float32)

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
def typical_norm(g: "Generator") -> float:
    """The norm a latent drawn from the prior typically has: sqrt(E|z|^2) (normal: sqrt(d); uniform
    on [-1, 1]: sqrt(d / 3)). Averages shrink toward the origin, where a DCGAN draws washed-out faces."""
    d = g.info.z_dim
    return float(np.sqrt(d / 3.0 if g.info.prior == "uniform" else d))


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

    def evaluate(self, g: "Generator", bins: Sequence[ConceptBin], space: str) -> np.ndarray:
        by_name = {b.name: b for b in bins}
        used = [(n, float(w)) for n, w in self.terms if w != 0]
        if not used:
            raise RecipeError("the expression is empty: give at least one bin a non-zero weight")
        missing = [n for n, _ in used if n not in by_name]
        if missing:
            raise RecipeError(f"no bin named {missing[0]!r}")
        v = sum(w * by_name[n].mean(g, space) for n, w in used)
        v = np.asarray(v, np.float32)
        if self.rescale and space == "z":
            norm = float(np.linalg.norm(v))
            if norm > 0:
                v = v * (typical_norm(g) / norm)
        return v.astype(np.float32)

    def latent(self, g: "Generator", bins: Sequence[ConceptBin], space: str) -> VectorLatent | WLatent:
        return latent_in(g, self.evaluate(g, bins, space), space)


def result_recipe(base: Recipe, latent: Any) -> Recipe:
    """The recipe showing `latent`: the base's model, noise and condition; no truncation or edits (the
    bins' members already carry theirs)."""
    return replace(base, latent=latent, truncation=1.0, edits=())


# -- the paper's neighbourhood --------------------------------------------------------------------
def space_spread(g: "Generator", space: str) -> float:
    """The typical per-dimension standard deviation of `space`: 1 for a normal z (1/sqrt(3) uniform); for
    w, measured on mapped seeds, so one noise scale means the same in both spaces."""
    if space == "z":
        return float(np.sqrt(1.0 / 3.0) if g.info.prior == "uniform" else 1.0)
    cached = getattr(g, "_arithmetic_w_spread", None)
    if cached is None:
        z = np.stack([g.latent(SeedLatent(s)) for s in range(W_SPREAD_SAMPLES)])
        cached = float(map_to_w(g, z).std(0).mean())
        g._arithmetic_w_spread = cached  # type: ignore[attr-defined]  # one measurement per loaded model
    return cached


def neighbourhood(g: "Generator", v: np.ndarray, space: str, scale: float = 0.25, seed: int = 0,
                  n: int = NEIGHBOURS) -> list[VectorLatent | WLatent]:
    """The result and n - 1 neighbours: v plus Gaussian noise of `scale` x the space's spread, drawn from
    `seed` (same seed, same neighbours); the result itself sits in the middle of the list."""
    if scale < 0:
        raise RecipeError(f"noise scale must be >= 0, not {scale}")
    v = np.asarray(v, np.float32)
    noise = np.random.RandomState(seed % 2**32).randn(n, v.size).astype(np.float32)
    noise[n // 2] = 0.0
    points = v[None] + scale * space_spread(g, space) * noise
    return [latent_in(g, p, space) for p in points]


# -- directions -------------------------------------------------------------------------------------
def concept_direction(g: "Generator", to_bin: ConceptBin, from_bin: ConceptBin,
                      space: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The unit direction from bin `from_bin` to bin `to_bin` (e.g. no glasses -> glasses) and its metadata in
    the direction library's fields (name, space, source, model_sha256, info: the bins, their sizes and the
    difference's length before normalising), so `SavedDirection(vectors=v[None], **meta)` stores it."""
    diff = to_bin.mean(g, space) - from_bin.mean(g, space)
    norm = float(np.linalg.norm(diff))
    if norm == 0:
        raise RecipeError(f"bins {to_bin.name!r} and {from_bin.name!r} have the same mean: no direction")
    meta = {"name": f"{from_bin.name} -> {to_bin.name}", "space": space, "source": "arithmetic",
            "model_sha256": g.model_id,
            "info": {"from": from_bin.name, "to": to_bin.name,
                     "members": [len(from_bin.members), len(to_bin.members)], "length": norm}}
    return (diff / norm).astype(np.float32), meta
