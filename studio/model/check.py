"""The load-time check of a plugin's generator: one sample through its stages, against its ModelInfo.

A plugin whose last stage returns the wrong shape, or whose ModelInfo states the wrong resolution or channel
count, would otherwise load and fail later as a raw torch message naming neither the plugin nor the stage.
Running the stages here also tells the engine which stages write into their input (see Generator.run_stage),
so the first interactive frame does not pay for that.
"""
from __future__ import annotations

import torch
from torch import Tensor

from studio.errors import CheckpointError
from studio.model.api import Generator


def check_generator(g: Generator, plugin: str) -> None:
    """Run g.example_context() through every stage; a CheckpointError naming `plugin` and the stage when a
    stage raises or the output is not (N, channels, resolution, resolution) and finite."""
    who = f"plugin {plugin!r}"
    if not g.stages:
        raise CheckpointError(f"{who}: the generator has no stages")
    try:
        ctx = g.example_context()
    except Exception as exc:
        raise CheckpointError(f"{who}: preparing a sample failed: {_what(exc)}") from exc
    i, out = -1, None
    steps = g.steps(ctx)
    while True:
        try:
            i, out = next(steps)
        except StopIteration:
            break
        except Exception as exc:
            stage = _name(g, i + 1)
            raise CheckpointError(f"{who}: stage {stage!r} failed on a sample: {_what(exc)}") from exc
        if not isinstance(out, Tensor):
            raise CheckpointError(f"{who}: stage {_name(g, i)!r} returned {type(out).__name__}, not a tensor")
    assert isinstance(out, Tensor)
    info, last = g.info, _name(g, len(g.stages) - 1)
    want = (info.channels, info.resolution, info.resolution)
    if out.ndim != 4 or tuple(out.shape[1:]) != want:
        got = "x".join(str(int(v)) for v in out.shape)
        raise CheckpointError(f"{who}: stage {last!r} returned {got} but the model says "
                              f"{'x'.join(map(str, want))} (ModelInfo channels x resolution x resolution)")
    with torch.inference_mode():
        finite = bool(torch.isfinite(out).all()) if out.is_floating_point() else True
    if not finite:
        raise CheckpointError(f"{who}: stage {last!r} returned NaN or infinite values for a sample; the "
                              f"weights or the plugin's arithmetic are broken")


def _name(g: Generator, i: int) -> str:
    return str(getattr(g.stages[i], "name", i)) if 0 <= i < len(g.stages) else str(i)


def _what(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
