"""Long number lists stored once, by content hash: how projects and undo histories keep directions small.

A walk edit carries its direction inline (so one recipe renders anywhere), and two hundred undo states of
one slider drag would repeat the same 512 numbers two hundred times. At the serialisation boundary of a
project, every list of at least MIN_LEN numbers becomes {"$vec": hash}, and the table holds each list once.
Single recipes (PNG metadata, --save-recipe, sidecars) are written without a table and stay self-contained.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from studio.errors import RecipeError

MIN_LEN = 16   # shorter lists (truncation rows, layer ranges, 6 attribute values) cost less than a reference
REF_KEY = "$vec"


def vector_hash(values: Any) -> str:
    """The content hash of a list of numbers (float64 bytes: JSON round-trips floats exactly)."""
    return hashlib.blake2b(np.asarray(values, np.float64).tobytes(), digest_size=10).hexdigest()


def _is_vector(x: Any) -> bool:
    return (isinstance(x, list) and len(x) >= MIN_LEN
            and all(type(v) in (float, int) for v in x))


class VectorTable:
    """hash -> list of numbers, with how many packed trees refer to each (so a trimmed history frees them)."""

    def __init__(self, vectors: dict[str, list[float]] | None = None):
        self.vectors: dict[str, list[float]] = dict(vectors or {})
        self.refs: dict[str, int] = {}

    # -- packing ---------------------------------------------------------------------------------------
    def pack(self, tree: Any, found: list[str] | None = None) -> Any:
        """`tree` (JSON-ready) with its long number lists replaced by references; `found` collects the hashes."""
        if _is_vector(tree):
            h = vector_hash(tree)
            self.vectors.setdefault(h, tree)
            if found is not None:
                found.append(h)
            return {REF_KEY: h}
        if isinstance(tree, dict):
            return {k: self.pack(v, found) for k, v in tree.items()}
        if isinstance(tree, list):
            return [self.pack(v, found) for v in tree]
        return tree

    def unpack(self, tree: Any) -> Any:
        """The inverse of pack; an unknown reference is a damaged file, said as such."""
        if isinstance(tree, dict):
            if len(tree) == 1 and REF_KEY in tree:
                h = tree[REF_KEY]
                try:
                    return list(self.vectors[h])
                except (KeyError, TypeError):
                    raise RecipeError(f"the file refers to a vector {h!r} it does not contain") from None
            return {k: self.unpack(v) for k, v in tree.items()}
        if isinstance(tree, list):
            return [self.unpack(v) for v in tree]
        return tree

    # -- accounting --------------------------------------------------------------------------------------
    def hold(self, hashes: list[str]) -> int:
        """Count references; the bytes newly held (vectors no earlier holder had)."""
        new = 0
        for h in hashes:
            n = self.refs.get(h, 0)
            if n == 0:
                new += vector_nbytes(self.vectors[h])
            self.refs[h] = n + 1
        return new

    def release(self, hashes: list[str]) -> int:
        """Drop references; the bytes freed (vectors nothing refers to any more leave the table)."""
        freed = 0
        for h in hashes:
            n = self.refs.get(h, 0) - 1
            if n <= 0:
                self.refs.pop(h, None)
                v = self.vectors.pop(h, None)
                if v is not None:
                    freed += vector_nbytes(v)
            else:
                self.refs[h] = n
        return freed

    def to_dict(self, used: set[str] | None = None) -> dict[str, list[float]]:
        return {h: v for h, v in self.vectors.items() if used is None or h in used}

    @classmethod
    def from_dict(cls, d: Any) -> "VectorTable":
        if d is None:
            return cls()
        if not isinstance(d, dict) or not all(
                isinstance(v, list) and all(type(x) in (float, int) and math.isfinite(x) for x in v)
                for v in d.values()):
            raise RecipeError("the vector table must map names to lists of finite numbers")
        return cls(d)


def vector_nbytes(values: list[float]) -> int:
    """About what the list costs as JSON (a float's repr is ~20 characters with its separator)."""
    return 20 * len(values)
