"""Labellers: classifiers that score generated images for an attribute, each with the domain it knows.

A labeller fits directions (label samples, fit a boundary in the latent) and scores walks. It is only worth
anything on images like those it was trained on: the ToyFaces attribute model, shown a CelebA face, reports
a confident score for a walk that turns the face into a smear. So each labeller says which models it applies
to, and the Directions panel offers only those (hand labels are always there).

Sources: the bundled ToyFaces attribute model (for models trained on ToyFaces), the `latent_studio.labellers`
entry point group (each entry a callable returning a Labeller, or a list of them), and `register_labeller`
(what a drop-in plugin file calls at import).
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from studio.model.api import ModelInfo

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "latent_studio.labellers"
TOYFACES = "ToyFaces"


@dataclass(frozen=True)
class Labeller:
    """`predict(images)` takes (N, H, W, 3) uint8 and returns {attribute: (N,) probability in [0, 1]}."""

    name: str
    attributes: tuple[str, ...]
    predict: Callable[[np.ndarray], dict[str, np.ndarray]]
    applies_to: Callable[[ModelInfo], bool]
    domain: str = ""  # what it was trained on, for messages ("ToyFaces")


_registered: list[Labeller] = []


def register_labeller(labeller: Labeller) -> None:
    """Offer `labeller` for the models it applies to (a later one of the same name replaces it)."""
    _registered[:] = [x for x in _registered if x.name != labeller.name] + [labeller]


def trained_on_toyfaces(info: ModelInfo) -> bool:
    """The bundled demos name their data in their header ("DCGAN ToyFaces 64"); nothing else claims it."""
    return re.search(r"\btoy\s*faces\b", info.name, re.IGNORECASE) is not None


@functools.lru_cache(maxsize=4)
def toyfaces_labeller(path: str | Path) -> Labeller:
    """The bundled ToyFaces attribute model as a labeller (loaded now: a bad file fails here, clearly)."""
    from studio.demo import attributes
    from studio.demo.toyfaces import BINARY_ATTRIBUTES

    net = attributes.load(path)
    return Labeller("ToyFaces attribute model", tuple(BINARY_ATTRIBUTES),
                    lambda images: {k: v for k, v in attributes.predict(net, images).items()
                                    if k in BINARY_ATTRIBUTES},
                    trained_on_toyfaces, TOYFACES)


def _from_entry_points() -> list[Labeller]:
    found: list[Labeller] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            made = ep.load()()
            found.extend(made if isinstance(made, (list, tuple)) else [made])
        except Exception as exc:  # a broken third-party labeller must not take the panel down
            log.warning("labeller %s (%s) failed to load: %s", ep.name, ep.value, exc)
    return [x for x in found if isinstance(x, Labeller)]


def available_labellers(info: ModelInfo, toyfaces_path: str | Path | None = None,
                        extra: Sequence[Labeller] = ()) -> list[Labeller]:
    """The labellers that know `info`'s domain: ToyFaces' only for ToyFaces models, then plugins' and the
    user's. A labeller whose own check fails is left out rather than trusted."""
    out: list[Labeller] = []
    if toyfaces_path is not None and Path(toyfaces_path).is_file() and trained_on_toyfaces(info):
        try:
            out.append(toyfaces_labeller(toyfaces_path))
        except (OSError, ValueError) as exc:
            log.warning("the ToyFaces attribute model could not be loaded: %s", exc)
    for lab in [*_from_entry_points(), *_registered, *extra]:
        try:
            fits = bool(lab.applies_to(info))
        except Exception:
            fits = False
        if fits and all(x.name != lab.name for x in out):
            out.append(lab)
    return out
