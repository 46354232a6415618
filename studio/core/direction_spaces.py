"""Which latent space an imported direction lives in, from its file name and shape, for one model's sizes.

InterFaceGAN names its boundaries `<model>_<attr>_boundary.npy` (z), `_w_boundary.npy` (W) and
`_wp_boundary.npy` (W+); GANSpace tags W components with `_w`. On a StyleGAN whose z and w have the same
size the shape alone cannot tell z from W, and walking a W boundary in z is a silent wrong edit, so the
name decides when it says, the shape when only one space fits, and otherwise the user is asked
(AmbiguousDirectionSpace carries the options). A name that says one space while the shape fits another is
refused: the file was made for another model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from studio.errors import StudioError

LATENT_SPACES = ("z", "w", "w+")
ACT_PREFIX = "act:"  # a layer's activations: "act:<stage name>"


class SpaceError(StudioError):
    """A direction's values do not fit the space its name or the user gave, for this model."""


class AmbiguousDirectionSpace(SpaceError):
    """Several of the model's spaces have this many values and nothing names one: the user must choose."""

    def __init__(self, message: str, options: Sequence[str]):
        super().__init__(message)
        self.options = list(options)


@dataclass(frozen=True)
class ModelDims:
    """The sizes a direction is checked against: z, w (0 = no W space), style inputs, stage names."""

    z_dim: int
    w_dim: int = 0
    num_ws: int = 0
    layers: tuple[str, ...] = ()

    @classmethod
    def of(cls, info: object) -> "ModelDims":
        """From a ModelInfo (duck-typed so core stays free of the model layer)."""
        has_w = bool(getattr(info, "w_dim", 0)) and bool(getattr(info, "num_ws", 0))
        return cls(int(getattr(info, "z_dim", 0) or 0), int(getattr(info, "w_dim", 0) or 0) if has_w else 0,
                   int(getattr(info, "num_ws", 0) or 0) if has_w else 0,
                   tuple(getattr(info, "layer_names", ()) or ()))

    def size(self, space: str) -> int:
        """Values per direction in `space` (0: the model has no such space)."""
        return {"z": self.z_dim, "w": self.w_dim, "w+": self.w_dim * self.num_ws}.get(space, 0)

    def fitting(self, n: int) -> list[str]:
        return [s for s in LATENT_SPACES if self.size(s) == n and n > 0]


def is_act_space(space: str) -> bool:
    return isinstance(space, str) and space.startswith(ACT_PREFIX) and len(space) > len(ACT_PREFIX)


def act_space(stage: str) -> str:
    return ACT_PREFIX + stage


def valid_space(space: str) -> bool:
    return space in LATENT_SPACES or is_act_space(space)


def describe(space: str, layers: tuple[int, int] | None = None) -> str:
    """'Z', 'W', 'W+ rows 0-3', 'activations of b8' for messages and the library's Space column."""
    if is_act_space(space):
        return f"activations of {space[len(ACT_PREFIX):]}"
    text = space.upper()
    return text + (f" rows {layers[0]}-{layers[1] - 1}" if layers else "")


def name_hint(file_name: str) -> str | None:
    """The space a file name says: InterFaceGAN's `_wp_boundary` / `_w_boundary` / `_z_boundary`, GANSpace's
    `_w` tag, or a `w+` / `wplus` token; None when the name says nothing."""
    stem = re.sub(r"\.(npy|npz|pt|pth)$", "", file_name.lower())
    tokens = [t for t in re.split(r"[_\-. ]+", stem) if t]
    for t in reversed(tokens):  # the tag nearest the end wins ("w_to_wp" would be wp)
        if t in ("wp", "w+", "wplus"):
            return "w+"
        if t == "w":
            return "w"
        if t == "z":
            return "z"
    return None


def rows_range(rows: np.ndarray, atol: float = 0.0) -> tuple[int, int] | None:
    """The contiguous run of style inputs a W+ direction (num_ws, w_dim) moves, when it leaves the others
    at zero (a direction made for a layer range); None when it moves them all or a scattered set."""
    moving = np.flatnonzero(np.abs(rows).max(axis=1) > atol)
    if moving.size == 0 or moving.size == rows.shape[0]:
        return None
    if moving[-1] - moving[0] + 1 != moving.size:
        return None
    return int(moving[0]), int(moving[-1]) + 1


def infer_space(file_name: str, shape: Sequence[int], dims: ModelDims | None,
                space: str | None = None) -> str:
    """The space of a direction of `shape` (one row's shape, e.g. [512], [18, 512]) read from `file_name`.

    `space` (the user's or the CLI's --space) wins but must fit; then the name's hint; then the shape: a
    [num_ws, w_dim] row is W+, a size only one of the model's spaces has is that space. Without a model
    (`dims` None) the name or a 2-D row decides, else z (what imports meant before spaces were inferred).
    """
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 0
    hint = name_hint(file_name)
    if dims is None:
        return space or hint or ("w+" if len(shape) == 2 else "z")
    fits = dims.fitting(n)
    if len(shape) == 2 and "w+" in fits:
        fits = ["w+"]
    for given, why in ((space, "was chosen"), (hint, "is named in the file name")):
        if given is None:
            continue
        if given not in LATENT_SPACES:
            raise SpaceError(f"{file_name}: unknown latent space {given!r} (known: {', '.join(LATENT_SPACES)})")
        if given in fits:
            return given
        have = dims.size(given)
        if not have:
            raise SpaceError(f"{file_name}: {given.upper()} {why}, but this model has no {given.upper()} space")
        raise SpaceError(f"{file_name}: {given.upper()} {why}, but the direction has {n} values and this "
                         f"model's {given.upper()} has {have}; it was made for another model")
    if len(fits) == 1:
        return fits[0]
    if not fits:
        want = ", ".join(f"{s.upper()} {dims.size(s)}" for s in LATENT_SPACES if dims.size(s))
        raise SpaceError(f"{file_name}: a direction of {n} values fits none of this model's spaces ({want}); "
                         f"it was made for another model")
    raise AmbiguousDirectionSpace(f"{file_name}: {n} values could be {' or '.join(s.upper() for s in fits)} "
                                  f"for this model and the file name does not say; choose the space", fits)
