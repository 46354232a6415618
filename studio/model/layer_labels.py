"""Layer names a user can read: "16x16 · 128 ch (6-8)" instead of "6-8".

A stage's name says where it sits in the code; what a user chooses a layer by is its resolution (how coarse
its units are) and its width. Both come from one forward pass of the model's example input, cached on the
generator object (its stages never change).
"""
from __future__ import annotations

from typing import Sequence

from studio.model.api import Generator

_CACHE_ATTR = "_layer_shapes"


def layer_shapes(g: Generator) -> dict[str, tuple[int, ...]]:
    """Each stage's output shape without the batch axis (C, H, W for image-like stages), by stage name."""
    cached = getattr(g, _CACHE_ATTR, None)
    if isinstance(cached, dict):
        return cached
    from studio.model.units import stage_features

    shapes: dict[str, tuple[int, ...]] = {}
    try:
        for i, x in g.steps(g.example_context()):
            feats = stage_features(g.stages[i], x)
            shapes[g.stages[i].name] = tuple(int(s) for s in feats.shape[1:])
    except Exception:  # a plugin's stages that cannot run without a real input: plain names, not a crash
        shapes = {}
    try:
        setattr(g, _CACHE_ATTR, shapes)
    except AttributeError:
        pass
    return shapes


def describe_shape(shape: Sequence[int]) -> str:
    """(128, 16, 16) -> "16x16 · 128 ch"; a flat (512,) -> "512 ch"."""
    if len(shape) >= 3:
        return f"{shape[-2]}x{shape[-1]} · {shape[0]} ch"
    if len(shape) == 1:
        return f"{shape[0]} ch"
    return " x ".join(str(s) for s in shape)


def layer_label(name: str, shape: Sequence[int] | None) -> str:
    """"16x16 · 128 ch (6-8)", or the bare name when the shape is unknown. A fused stage keeps the name of its
    last part ("b4.torgb+b8.conv0" reads "8x8 · 128 ch (b8.conv0)"), the one its output belongs to."""
    short = name.split("+")[-1]
    return f"{describe_shape(shape)} ({short})" if shape else name


def resolution_channels(g: Generator) -> dict[int, int]:
    """Channels of the first stage that reaches each (square) resolution: what a style input at that
    resolution modulates."""
    out: dict[int, int] = {}
    for shape in layer_shapes(g).values():
        if len(shape) >= 3 and shape[-1] == shape[-2]:
            out.setdefault(int(shape[-1]), int(shape[0]))
    return out


def layer_labels(g: Generator, names: Sequence[str] | None = None) -> dict[str, str]:
    """Readable labels for `names` (default: every stage). A name that is part of a fused stage
    ("b8.conv0" in "b4.torgb+b8.conv0", as StyleGAN's noise inputs are named) takes that stage's shape."""
    shapes = layer_shapes(g)
    out = {}
    for name in (names if names is not None else list(shapes)):
        shape = shapes.get(name)
        if shape is None:
            shape = next((s for stage, s in shapes.items() if name in stage.split("+")), None)
        out[name] = layer_label(name, shape)
    return out
