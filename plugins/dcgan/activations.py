"""What a state_dict cannot record, as Choices: the activation (and its slope), BatchNorm eps, Upsample mode.

A loader picks the layout's usual value and says so (`Choice.source` starts "assumed"); the user may pick
another through `Generator.choose`, and the picked generator is a new one with its own model_id.
"""
from __future__ import annotations

import re
from typing import Callable

from torch import nn

from studio.errors import RecipeError
from studio.model.api import Choice, Generator

ASSUMED = "assumed (not in the file)"
ACTIVATIONS = ("ReLU", "LeakyReLU(0.2)", "LeakyReLU(0.1)", "LeakyReLU(0.01)")
UPSAMPLE_MODES = ("nearest", "bilinear")
_LEAKY = re.compile(r"LeakyReLU\(([0-9.eE+-]+)\)$")


def make_activation(value: str) -> nn.Module:
    """ReLU or LeakyReLU(slope) from its Choice value."""
    if value == "ReLU":
        return nn.ReLU()
    m = _LEAKY.match(value)
    if m is None:
        raise RecipeError(f"unknown activation {value!r} (one of {', '.join(ACTIVATIONS)})")
    return nn.LeakyReLU(float(m.group(1)))


def choice(name: str, label: str, value: str, values: tuple[str, ...], usual: str, default: str,
           recorded: str | None = None) -> Choice:
    """A Choice whose source says whether `value` is the assumed `default` (`usual` names whose choice that
    is), read from the file (`recorded` says where), or the user's pick."""
    source = (recorded or f"{ASSUMED}: {usual}") if value == default else "picked"
    return Choice(name, value, values if value in values else (*values, value), source=source, label=label)


class ChoosingGenerator(Generator):
    """A generator rebuilt by `remake(picks)` when the user picks other values for its choices."""

    remake: Callable[[dict[str, str]], Generator]
    picks: dict[str, str]

    @classmethod
    def wrap(cls, g: Generator, remake: Callable[[dict[str, str]], Generator],
             picks: dict[str, str], what: str) -> "ChoosingGenerator":
        out = cls(g.info, g.stages, g.device, g.model_id, g._modules)
        out.remake, out.picks, out.what = remake, dict(picks), what
        return out

    def choose(self, **picks: str) -> Generator:
        from studio.model.choices import checked_picks

        given = checked_picks(self.info.choices, picks, self.what)
        new = {**self.picks, **given}
        return self if new == self.picks else self.remake(new)
