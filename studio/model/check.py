"""The load-time check of a plugin's generator: one sample through its stages, against its ModelInfo.

A plugin whose last stage returns the wrong shape, or whose ModelInfo states the wrong resolution or channel
count, would otherwise load and fail later as a raw torch message naming neither the plugin nor the stage.
Running the stages here also tells the engine which stages write into their input (see Generator.run_stage),
so the first interactive frame does not pay for that.
"""
from __future__ import annotations

import torch
from torch import Tensor

from studio.errors import CheckpointError, PluginError, users_interrupt
from studio.model.api import Generator, describe_failure


def check_generator(g: Generator, plugin: str) -> None:
    """Run g.example_context() through every stage; a CheckpointError naming `plugin` and the stage when a
    stage raises or the output is not (N, channels, resolution, resolution) and finite."""
    who = f"plugin {plugin!r}"
    if not g.stages:
        raise CheckpointError(f"{who}: the generator has no stages")
    try:
        ctx = g.example_context()
    except BaseException as exc:  # a plugin's SystemExit too; only the user's Ctrl-C goes through
        if users_interrupt(exc):
            raise
        raise CheckpointError(f"{who}: preparing a sample failed: {_what(exc)}") from exc
    i, out = -1, None
    steps = g.steps(ctx)
    while True:
        try:
            i, out = next(steps)
        except StopIteration:
            break
        except PluginError as exc:  # whatever the stage raised, SystemExit included
            raise CheckpointError(f"{who}: stage {exc.stage!r} failed on a sample: {exc.detail}") from exc
        except BaseException as exc:
            if users_interrupt(exc):
                raise
            stage = _name(g, i + 1)
            raise CheckpointError(f"{who}: stage {stage!r} failed on a sample: {_what(exc)}") from exc
        if not isinstance(out, Tensor):
            raise CheckpointError(f"{who}: stage {_name(g, i)!r} returned {type(out).__name__}, not a tensor")
    assert isinstance(out, Tensor)
    problem = output_problem(g, out)
    if problem is not None:
        raise CheckpointError(f"{who}: stage {_name(g, len(g.stages) - 1)!r} {problem}")


def output_problem(g: Generator, out: object, exact_size: bool = True) -> str | None:
    """Why `out`, the last stage's output, is not an image of `g` ("returned ..."), or None when it is one:
    a float tensor (N, channels, resolution, resolution) with only finite values (any height and width
    without `exact_size`: a photo translator's output follows its input photo).

    A wrong shape, dtype or channel count, NaN or Inf is refused rather than clamped: clamping would turn it
    into a plausible black, white or grey image that is saved, keyframed and exported as if it were the
    model's output, while the cause (broken weights or plugin arithmetic) needs fixing, not hiding."""
    if not isinstance(out, Tensor):
        return f"returned {type(out).__name__}, not a tensor"
    info = g.info
    want = (info.channels, info.resolution, info.resolution)
    if not exact_size and out.ndim == 4 and out.shape[1] == info.channels and min(out.shape[2:]) > 0:
        pass
    elif out.ndim != 4 or tuple(out.shape[1:]) != want:
        got = "x".join(str(int(v)) for v in out.shape)
        return (f"returned {got} but the model says {'x'.join(map(str, want))} "
                f"(ModelInfo channels x resolution x resolution)")
    if not out.is_floating_point():
        return f"returned {str(out.dtype).replace('torch.', '')} values, not floating-point ones in [-1, 1]"
    with torch.inference_mode():
        finite = bool(torch.isfinite(out).all())
    if not finite:
        return "returned NaN or infinite values; the weights or the plugin's arithmetic are broken"
    return None


def _name(g: Generator, i: int) -> str:
    return str(getattr(g.stages[i], "name", i)) if 0 <= i < len(g.stages) else str(i)


def _what(exc: BaseException) -> str:
    return describe_failure(exc)
