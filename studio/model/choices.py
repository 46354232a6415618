"""Picking among what a checkpoint holds several of (ModelInfo.choices): checking a pick, naming the result.

A progressive GAN's file holds every scale it has grown through, and a fade-in alpha it may or may not
record; the user picks through `Generator.choose(name=value)` (the CLI's --pick, the model panel). The
picked generator's model_id is the file's hash plus the picks, so the render cache, the workspaces and the
recipes never mix two variants of one file.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from studio.errors import RecipeError
from studio.model.api import Choice


def checked_picks(choices: Sequence[Choice], picks: Mapping[str, object], what: str) -> dict[str, str]:
    """`picks` as text values, each one a known choice with an allowed value; one RecipeError sentence
    naming `what` (the model) otherwise. Numbers are written canonically (0.250 -> 0.25)."""
    known = {c.name: c for c in choices}
    out: dict[str, str] = {}
    for name, raw in picks.items():
        c = known.get(name)
        if c is None:
            have = ", ".join(sorted(known)) or "none"
            raise RecipeError(f"{what} has no setting {name!r} to pick (it has: {have})")
        value = str(raw).strip()
        if c.values:
            if value not in c.values:
                raise RecipeError(f"{what}: {name} must be one of {', '.join(c.values)}, not {value!r}")
        else:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and c.lo <= number <= c.hi):
                raise RecipeError(f"{what}: {name} must be a number from {c.lo:g} to {c.hi:g}, not {value!r}")
            value = f"{number:g}"
        out[name] = value
    return out


def picked_id(sha256: str, picks: Mapping[str, str], defaults: Mapping[str, str]) -> str:
    """The model_id of a variant: the file's hash alone for what a plain open gives, else hash#name=value,...
    over the picks that differ from those defaults (sorted, so the same variant always has one id)."""
    differ = sorted((k, v) for k, v in picks.items() if defaults.get(k) != v)
    return sha256 if not differ else sha256 + "#" + ",".join(f"{k}={v}" for k, v in differ)


def parse_picks(specs: Sequence[str]) -> dict[str, str]:
    """['scale=2', 'alpha=0.5'] -> {'scale': '2', 'alpha': '0.5'} (the CLI's --pick); ValueError naming a
    malformed one."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"bad --pick {spec!r}: use NAME=VALUE, e.g. scale=2")
        out[name.strip()] = value.strip()
    return out


def describe_choice(c: Choice) -> str:
    """'3 (of 0-3; from the file)': the value, what else could be picked and where it came from."""
    others = (f"of {c.values[0]}-{c.values[-1]}" if len(c.values) > 3 and all(v.isdigit() for v in c.values)
              else "of " + ", ".join(c.values)) if c.values else f"{c.lo:g} to {c.hi:g}"
    return f"{c.value} ({others}{'; ' + c.source if c.source else ''})"
