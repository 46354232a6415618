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
        raw = bytes(text)
        if len(raw) > limits.max_json_bytes:
            raise _too_big(error, what, len(raw), limits.max_json_bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{what} is damaged: not UTF-8 text") from None
    elif isinstance(text, str):
        if len(text) > limits.max_json_bytes:
            raise _too_big(error, what, len(text), limits.max_json_bytes)
        raw = text.encode("utf-8", "surrogatepass")
    else:
        raise error(f"{what} is not text")
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

    if _max_depth(raw) > limits.max_json_depth:  # before parsing: deep nesting costs the parser recursion
        raise _too_deep(error, what, limits.max_json_depth)
    # the number hooks cost a Python call per number (a project holds thousands of floats): only a text with
    # a long digit run or a 3-digit exponent can hold a number they would refuse, so only then are they used
    suspect = _suspect_numbers(raw, digits + 1)
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


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _suspect_numbers(data: bytes, run: int) -> bool:
    """True when `data` holds `run` consecutive digits or a 3-digit exponent (inside strings too: then the
    number hooks check every number): digits mapped to "0" and searched for, at C speed."""
    zeros = data.translate(_DIGITS_AS_ZERO)
    return any(zeros.find(p) >= 0 for p in (b"0" * run, b"e000", b"E000", b"e+000", b"E+000"))


_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))


def _max_depth(data: bytes) -> int:
    """How deep brackets nest outside strings, without recursion or regex (a backtracking regex over a
    multi-megabyte string costs seconds and gigabytes): escaped backslashes, then escaped quotes, are
    dropped (C-speed bytes operations), leaving only real string quotes and brackets; numpy counts the
    brackets outside quotes."""
    if data.count(b"[") + data.count(b"{") <= 1:
        return min(1, data.count(b"[") + data.count(b"{"))
    skeleton = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    codes = np.frombuffer(skeleton, np.uint8)
    quotes = codes == 34
    inside = (np.cumsum(quotes, dtype=np.int32) % 2 == 1) | quotes  # an opening quote up to its closing one
    step = np.where(inside, 0, np.where((codes == 91) | (codes == 123), 1, -1)).astype(np.int32)
    return int(np.cumsum(step, dtype=np.int32).max(initial=0))


def _too_deep(error: type[StudioError], what: str, limit: int) -> StudioError:
    return error(f"{what} is damaged: it nests deeper than the limit of {limit} levels "
                 f"(set {budgets.env_name('max_json_depth')} to raise it)")


def _too_big(error: type[StudioError], what: str, size: int, limit: int) -> StudioError:
    return error(f"{what} is {budgets.human(size)} of JSON, over the limit of {budgets.human(limit)} "
                 f"(set {budgets.env_name('max_json_bytes')} to raise it)")
