"""Normalisation and dropout as the junyanz test.py runs them, with the per-run state the studio needs.

The official test never calls eval() unless --eval is given, so by default BatchNorm normalises with the
statistics of the photo itself (test.py runs one image at a time) and Dropout(0.5) stays on. Both are
modules of our own whose behaviour comes from a per-thread `RunState` instead of `.training`:

- `mode` "as trained" (the official default) or "eval" (test.py --eval: running statistics, no dropout);
- the dropout masks: drawn from a seed (repeatable, unlike the official random draw), given explicitly in
  forward order (conformance against saved masks), or none;
- `pinned`: per-sample statistics recorded on the unedited photo, used by the layers after a unit edit, so
  an edit stays where it is made (per-image statistics would otherwise spread any local change over the
  whole image).

A batch of N images is normalised per image (N runs of batch 1), so a photo's result never depends on the
other photos rendered beside it.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.errors import RecipeError

AS_TRAINED, EVAL = "as trained", "eval"
MODES = (AS_TRAINED, EVAL)
EPS = 1e-5


@dataclass
class RunState:
    mode: str = AS_TRAINED
    dropout_seed: int | None = None  # None: no dropout (unless masks are given)
    masks: list[Tensor] | None = None  # explicit dropout masks, forward order (1 = kept)
    record: dict[int, tuple[Tensor, Tensor]] | None = None  # norm id -> (mean, var) (N, C), filled in
    pinned: dict[int, tuple[Tensor, Tensor]] | None = None
    _mask_i: int = field(default=0)


_local = threading.local()


def current() -> RunState:
    st = getattr(_local, "state", None)
    return st if st is not None else RunState()


@contextmanager
def running(state: RunState) -> Iterator[RunState]:
    """Make `state` what the norm and dropout layers on this thread read, for the duration."""
    old = getattr(_local, "state", None)
    _local.state = state
    try:
        yield state
    finally:
        _local.state = old


class Norm(nn.Module):
    """BatchNorm2d (affine, running stats), InstanceNorm2d (affine=False, as get_norm_layer('instance')) or
    none, under the name and keys the official module has. Each has an `ident` unique in its network, the key
    of its recorded and pinned statistics."""

    def __init__(self, channels: int, kind: str, ident: int = 0):
        super().__init__()
        self.kind, self.ident, self.channels = kind, ident, channels
        if kind == "batch":
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "none":
            return x
        st = current()
        w = self.weight if self.kind == "batch" else None
        b = self.bias if self.kind == "batch" else None
        if self.kind == "batch" and st.mode == EVAL:
            return F.batch_norm(x, self.running_mean, self.running_var, w, b, False, 0.0, EPS)
        if st.pinned is not None and self.ident in st.pinned:
            mean, var = st.pinned[self.ident]
            y = (x - mean[:, :, None, None].to(x.dtype)) * torch.rsqrt(var[:, :, None, None].to(x.dtype) + EPS)
            return y if w is None else y * w[None, :, None, None] + b[None, :, None, None]
        if st.record is not None:
            st.record[self.ident] = (x.mean((2, 3)), x.var((2, 3), unbiased=False))
        # per image: batch statistics of a batch of one (train-mode BatchNorm as test.py runs it) and
        # InstanceNorm are the same computation, which F.instance_norm does for every image at once
        return F.instance_norm(x, weight=w, bias=b, use_input_stats=True, eps=EPS)


class Dropout(nn.Module):
    """Dropout(0.5) as the official default test keeps it on; its masks come from the run state."""

    p = 0.5

    def __init__(self, ident: int = 0):
        super().__init__()
        self.ident = ident

    def forward(self, x: Tensor) -> Tensor:
        st = current()
        if st.mode == EVAL:
            return x
        if st.masks is not None:
            if st._mask_i >= len(st.masks):
                raise RecipeError(f"{len(st.masks)} dropout masks given but the network has more dropout layers")
            m = st.masks[st._mask_i]
            st._mask_i += 1
            m = torch.as_tensor(m, device=x.device).to(x.dtype)
            if tuple(m.shape[1:]) != tuple(x.shape[1:]):
                raise RecipeError(f"dropout mask {st._mask_i - 1} is shaped {tuple(m.shape)}; the layer's "
                                 f"output is {tuple(x.shape)}")
            return x * m / (1 - self.p)
        if st.dropout_seed is None:
            return x
        return x * seeded_mask(st.dropout_seed, self.ident, x) / (1 - self.p)


def seeded_mask(seed: int, ident: int, x: Tensor) -> Tensor:
    """A (1, C, H, W) keep-mask for layer `ident` from `seed`: the same for every image of a batch and on
    every device (drawn on the CPU), so a seed always means the same translation."""
    g = torch.Generator().manual_seed(int(seed) * 1009 + int(ident))
    keep = torch.rand((1, *x.shape[1:]), generator=g) >= Dropout.p
    return keep.to(device=x.device, dtype=x.dtype)
