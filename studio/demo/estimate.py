"""Source labels of a photo estimated by the ToyFaces attribute model, for attribute-translation models.

StarGAN toggles are built from what the photo shows (a click flips that label, or picks a hair colour).
For models whose labels are ToyFaces attributes (the bundled demo model, or any StarGAN trained on
ToyFaces), the attribute model reads them from the image, so the user need not set them by hand. Used by
the attribute panel and by bench/demo_quality.py, so the app and the quality bars share one code path.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from studio.bundled import attribute_model_path
from studio.core.attributes import ON_THRESHOLD, Groups, exclusive_groups
from studio.demo import attributes
from studio.demo.toyfaces import BINARY_ATTRIBUTES

ATTRIBUTE_MODEL = attribute_model_path()


def knows(names: Sequence[str]) -> bool:
    """Whether the attribute model reads every one of these labels."""
    return bool(names) and all(n in BINARY_ATTRIBUTES for n in names)


@functools.lru_cache(maxsize=1)
def attribute_model(path: Path = ATTRIBUTE_MODEL) -> attributes.AttributeNet:
    """The bundled attribute model, loaded once (a few hundred KB; CPU inference takes milliseconds)."""
    return attributes.load(path)


def source_labels(images: torch.Tensor | np.ndarray, names: Sequence[str], groups: Groups | None = None,
                  net: attributes.AttributeNet | None = None) -> np.ndarray:
    """(N, len(names)) 0/1 labels in the model's order: each attribute on when the attribute model's
    probability reaches ON_THRESHOLD, except that in an exclusive group (the hair colours) exactly the most
    probable one is on, as a StarGAN label vector always has one hair colour.

    `images`: model tensors (N, 3, H, W) in [-1, 1] or uint8 arrays (N, H, W, 3), as attributes.to_input.
    """
    if not knows(names):
        unknown = [n for n in names if n not in BINARY_ATTRIBUTES]
        raise ValueError(f"the ToyFaces attribute model does not know {unknown or 'an empty label set'}")
    probs = attributes.predict(net or attribute_model(), images)
    p = np.stack([probs[n] for n in names], axis=1)
    out = (p >= ON_THRESHOLD).astype(np.float32)
    for g in exclusive_groups(names) if groups is None else groups:
        idx = list(g)
        out[:, idx] = 0.0
        out[np.arange(len(p)), np.asarray(idx)[p[:, idx].argmax(1)]] = 1.0
    return out


def photo_source(x: torch.Tensor, names: Sequence[str], groups: Groups | None = None) -> tuple[float, ...]:
    """Source labels of one model input (1, 3, H, W) in [-1, 1], as the tuple an Attributes edit holds."""
    return tuple(float(v) for v in source_labels(x, names, groups)[0])
