"""Unit editing as a recipe edit: scale, drop or set (GAN-Dissection "insert") channels of one layer.

An edit names a layer (a stage of the generator), the units (channels) it touches and what it does to them,
optionally only inside a spatial mask. The mask is stored in the recipe as data: a grid of "0"/"1" rows in
image-normalised coordinates, resized to the layer's H x W at render time (area interpolation, so a coarse
layer gets soft weights), which keeps one mask meaningful at every layer of every model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar, Sequence

import numpy as np

from studio.core.recipe import Recipe, register_edit_type
from studio.errors import RecipeError

OPS = ("scale", "set")
MASK_GRID = 32  # the default stored grid: fine enough for a brush stroke, 32 short strings in JSON


class UnitMask(tuple):
    """A spatial mask as rows of "0"/"1" strings (row 0 is the image's top). A tuple, so it is JSON as a list
    of strings and compares equal to the plain tuple a recipe file parses into."""

    def __new__(cls, rows: Sequence[str] = ()) -> "UnitMask":
        rows = tuple(rows)
        if not rows or not all(isinstance(r, str) for r in rows):
            raise RecipeError("unit mask must be a non-empty list of strings of 0 and 1")
        width = len(rows[0])
        if width == 0 or any(len(r) != width for r in rows) or any(set(r) - {"0", "1"} for r in rows):
            raise RecipeError("unit mask rows must be equally long strings of 0 and 1")
        return super().__new__(cls, rows)

    @classmethod
    def from_array(cls, array: np.ndarray, grid: int | tuple[int, int] = MASK_GRID) -> "UnitMask":
        """A mask from an H x W bool or float array (on where >= 0.5), resampled to a `grid` cells grid."""
        a = np.asarray(array, dtype=np.float32)
        if a.ndim != 2 or a.size == 0:
            raise RecipeError(f"unit mask must be a 2-D array, not shape {a.shape}")
        gh, gw = (grid, grid) if isinstance(grid, int) else grid
        cells = resize_area(a, gh, gw) >= 0.5
        return cls("".join("1" if v else "0" for v in row) for row in cells)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), len(self[0])

    def to_array(self, h: int, w: int) -> np.ndarray:
        """Soft weights in [0, 1] at h x w (a layer's resolution): the covered fraction of each cell."""
        grid = np.array([[c == "1" for c in r] for r in self], np.float32)
        return resize_area(grid, h, w)


def resize_area(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area interpolation of the last two axes of `a` to h x w (each output cell averages the input area it
    covers); any leading axes (a batch of masks) are kept."""
    return _area_matrix(a.shape[-2], h) @ a @ _area_matrix(a.shape[-1], w).T


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: the overlap of each output interval with each input interval, normalised."""
    edges_in = np.linspace(0.0, 1.0, n_in + 1)
    edges_out = np.linspace(0.0, 1.0, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    m = np.clip(hi - lo, 0.0, None)
    return (m / m.sum(1, keepdims=True)).astype(np.float32)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@register_edit_type
@dataclass(frozen=True)
class UnitEdit:
    """Change units of `layer`: "scale" multiplies them by `value` (0 drops them), "set" writes `value` into
    them (inserting a concept). With a `mask`, only inside it: out = x + m * (edited - x)."""

    kind: ClassVar[str] = "units"
    layer: str
    units: tuple[int, ...]
    op: str = "scale"
    value: float = 0.0
    mask: UnitMask | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.layer, str) or not self.layer:
            raise RecipeError("unit edit: layer must be a layer name")
        if not isinstance(self.units, tuple) or not self.units or not all(
                isinstance(u, int) and not isinstance(u, bool) and u >= 0 for u in self.units):
            raise RecipeError(f"unit edit on {self.layer!r}: units must be a non-empty list of unit indices")
        if self.op not in OPS:
            raise RecipeError(f"unit edit on {self.layer!r}: op must be one of {', '.join(OPS)}, "
                              f"not {self.op!r}")
        if not _is_number(self.value):
            raise RecipeError(f"unit edit on {self.layer!r}: value must be a finite number")
        if self.mask is not None and not isinstance(self.mask, UnitMask):
            if not isinstance(self.mask, (tuple, list)):
                raise RecipeError(f"unit edit on {self.layer!r}: mask must be a list of 0/1 strings")
            object.__setattr__(self, "mask", UnitMask(self.mask))

    def key(self) -> bytes:
        """What this edit contributes to its layer's cache key."""
        mask = "-" if self.mask is None else "/".join(self.mask)
        return f"{self.units}|{self.op}|{float(self.value)!r}|{mask};".encode()


def drop(layer: str, units: Sequence[int], mask: UnitMask | None = None) -> UnitEdit:
    """Zero the units (the DCGAN paper's "forgetting" an object)."""
    return UnitEdit(layer, tuple(int(u) for u in units), "scale", 0.0, mask)


def scale(layer: str, units: Sequence[int], factor: float, mask: UnitMask | None = None) -> UnitEdit:
    return UnitEdit(layer, tuple(int(u) for u in units), "scale", float(factor), mask)


def insert(layer: str, units: Sequence[int], value: float, mask: UnitMask | None = None) -> UnitEdit:
    """Set the units to `value` (GAN Dissection: switching on units draws their concept there)."""
    return UnitEdit(layer, tuple(int(u) for u in units), "set", float(value), mask)


def unit_edits(recipe: Recipe) -> tuple[UnitEdit, ...]:
    """The recipe's unit edits, in the order they apply."""
    return tuple(e for e in recipe.edits if isinstance(e, UnitEdit))


def with_unit_edits(recipe: Recipe, edits: Sequence[UnitEdit]) -> Recipe:
    """The recipe with its unit edits replaced by `edits` (other edits kept, unit edits last)."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, UnitEdit))
    return replace(recipe, edits=kept + tuple(edits))
