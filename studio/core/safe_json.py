"""The one way the studio parses JSON it did not just write: recipes, projects, autosave, .lsdir metadata,
sidecars and checkpoint configs.

Plain json.loads lets a damaged or hostile file escape as RecursionError (deep nesting), ValueError (a
4,300-digit integer), OverflowError later (a 400-digit integer turned into a float) or silently yield
Infinity/NaN. Here every such file becomes one error of the caller's type, one sentence naming the file
and the limit (studio.budgets: size, depth, integer digits); non-finite numbers are refused outright.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from studio import budgets
from studio.errors import RecipeError, StudioError


class _Refused(Exception):
    """Raised inside the parser's number hooks; turned into the caller's error type with the file's name."""


def loads(text: str | bytes, what: str = "JSON", error: type[StudioError] = RecipeError) -> Any:
    """Parse `text` (named `what` in messages, e.g. "recipe r.json") within the JSON budgets.

    Raises `error` (RecipeError unless the caller says e.g. CheckpointError) for anything that is not
    small, finite, shallow, valid JSON."""
    limits = budgets.current()
    if isinstance(text, (bytes, bytearray)):
        if len(text) > limits.max_json_bytes:
            raise _too_big(error, what, len(text), limits.max_json_bytes)
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{what} is damaged: not UTF-8 text") from None
    if not isinstance(text, str):
        raise error(f"{what} is not text")
    if len(text) > limits.max_json_bytes:
        raise _too_big(error, what, len(text), limits.max_json_bytes)
    digits = limits.max_json_int_digits

    def parse_int(s: str) -> int:
        if len(s) - s.startswith("-") > digits:
            raise _Refused(f"holds a {len(s) - s.startswith('-')}-digit integer, over the limit of {digits} "
                           f"digits (set {budgets.env_name('max_json_int_digits')} to raise it)")
        return int(s)

    def parse_float(s: str) -> float:
        v = float(s)
        if not math.isfinite(v):
            raise _Refused(f"holds the number {s[:20]}{'...' if len(s) > 20 else ''}, "
                           "too large to be a finite number")
        return v

    def parse_constant(s: str) -> Any:
        raise _Refused(f"holds {s}, which is not a number JSON allows")

    if _max_depth(text) > limits.max_json_depth:  # before parsing: deep nesting costs the parser recursion
        raise _too_deep(error, what, limits.max_json_depth)
    # the number hooks cost a Python call per number (a project holds thousands of floats): only a text with
    # a long digit run or a 3-digit exponent can hold a number they would refuse, so only then are they used
    suspect = _longest_digit_run(text) > digits or _EXPONENT.search(text) is not None
    hooks: dict[str, Any] = {"parse_int": parse_int, "parse_float": parse_float} if suspect else {}
    try:
        data = json.loads(text, parse_constant=parse_constant, **hooks)
    except _Refused as exc:
        raise error(f"{what} is damaged: it {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is damaged: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise _too_deep(error, what, limits.max_json_depth) from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise error(f"{what} is damaged: not readable JSON ({type(exc).__name__})") from None
    return data


def load(path: str | Path, what: str | None = None, error: type[StudioError] = RecipeError) -> Any:
    """Read and parse a JSON file, its size checked before it is read; `what` defaults to its name."""
    path = Path(path)
    what = what or path.name
    limit = budgets.current().max_json_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise _too_big(error, what, size, limit)
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except FileNotFoundError:
        raise error(f"no such file: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or type(exc).__name__}") from None
    return loads(raw, what, error)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


_EXPONENT = re.compile(r"[eE]\+?\d\d\d")


def _longest_digit_run(text: str) -> int:
    """The longest run of ASCII digits anywhere in `text` (numpy: a regex for it is 10x slower)."""
    codes = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    digits = ((codes >= 48) & (codes <= 57)).view(np.int8)
    if not digits.any():
        return 0
    edges = np.diff(np.concatenate(([0], digits, [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def _max_depth(text: str) -> int:
    """How deep brackets nest outside strings, counted in C (regex and numpy), not by recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets.encode("ascii"), np.uint8)
    return int(np.cumsum(np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)).max())


def _too_deep(error: type[StudioError], what: str, limit: int) -> StudioError:
    return error(f"{what} is damaged: it nests deeper than the limit of {limit} levels "
                 f"(set {budgets.env_name('max_json_depth')} to raise it)")


def _too_big(error: type[StudioError], what: str, size: int, limit: int) -> StudioError:
    return error(f"{what} is {budgets.human(size)} of JSON, over the limit of {budgets.human(limit)} "
                 f"(set {budgets.env_name('max_json_bytes')} to raise it)")
