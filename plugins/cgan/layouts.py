"""The eriklindernoren trunks (MLP `model.N`, Upsample-conv `l1.0` + `conv_blocks.N`) rebuilt from their keys.

Why rebuilt index by index: the Sequential indices in the keys place every layer that has tensors; the gaps
are the layers that have none (LeakyReLU after a BatchNorm, Upsample before a conv), so the network comes
back with the scripts' own indices and loads strictly. What the keys cannot say is passed in: the
activation, BatchNorm eps (the scripts' `BatchNorm(C, 0.8)`; the conv trunk's leading BatchNorm2d(128)
keeps 1e-5), the Upsample mode.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from torch import Tensor, nn

_KEY = re.compile(r"(model|conv_blocks)\.(\d+)\.(\w+)$")


@dataclass(frozen=True)
class Trunk:
    """kind "mlp" or "conv"; layers: (index, "linear"|"bn"|"conv", shape of the weight) in order."""

    kind: str
    in_dim: int
    layers: tuple[tuple[int, str, tuple[int, ...]], ...]
    c0: int = 0  # conv: channels and side of the l1 output
    side: int = 0

    @property
    def out_values(self) -> int:
        return self.layers[-1][2][0]

    @property
    def channels(self) -> int:
        return self.layers[-1][2][0]


def _indexed(sd: dict[str, Tensor], prefix: str) -> dict[int, dict[str, Tensor]] | None:
    out: dict[int, dict[str, Tensor]] = {}
    for k, v in sd.items():
        m = _KEY.match(k)
        if m is None or m.group(1) != prefix or not hasattr(v, "ndim"):
            return None
        out.setdefault(int(m.group(2)), {})[m.group(3)] = v
    return out


def _layers(idx: dict[int, dict[str, Tensor]],
            lin_ndim: int) -> list[tuple[int, str, tuple[int, ...]]] | None:
    out = []
    for i in sorted(idx):
        p, w = idx[i], idx[i].get("weight")
        if w is None:
            return None
        if w.ndim == lin_ndim and "bias" in p:
            out.append((i, "linear" if lin_ndim == 2 else "conv", tuple(w.shape)))
        elif w.ndim == 1 and "running_mean" in p:
            out.append((i, "bn", tuple(w.shape)))
        else:
            return None
    return out


def infer_trunk(sd: dict[str, Tensor]) -> Trunk | None:
    """The trunk of `sd` (label_emb already removed), or None when it is neither layout."""
    if set(sd) == {"l1.0.weight", "l1.0.bias"} | {k for k in sd if k.startswith("conv_blocks.")}:
        w = sd["l1.0.weight"]
        idx = _indexed({k: v for k, v in sd.items() if not k.startswith("l1.")}, "conv_blocks")
        layers = _layers(idx, 4) if idx and getattr(w, "ndim", 0) == 2 else None
        convs = [lay for lay in layers or () if lay[1] == "conv"]
        if not layers or len(convs) < 2 or layers[-1][1] != "conv" or convs[-1][2][0] not in (1, 3):
            return None
        c0 = convs[0][2][1]
        side = math.isqrt(int(w.shape[0]) // c0)
        if c0 * side * side != w.shape[0]:
            return None
        return Trunk("conv", int(w.shape[1]), tuple(layers), c0, side)
    idx = _indexed(sd, "model")
    layers = _layers(idx, 2) if idx else None
    if not layers or layers[-1][1] != "linear" or len(layers) < 2:
        return None
    return Trunk("mlp", layers[0][2][1], tuple(layers))


def image_shapes(values: int) -> list[str]:
    """"CxHxW" for a square grey or RGB image of `values` numbers (the MLP's view, which no key records)."""
    out = []
    for c in (1, 3):
        side = math.isqrt(values // c) if values % c == 0 else 0
        if side >= 2 and c * side * side == values:
            out.append(f"{c}x{side}x{side}")
    return out


def activation(value: str) -> nn.Module:
    if value == "ReLU":
        return nn.ReLU()
    return nn.LeakyReLU(float(value[len("LeakyReLU("):-1]))


def build_trunk(t: Trunk, act: str, eps: float, mode: str) -> nn.Sequential:
    """The Sequential with the scripts' indices: gaps become the tensor-free layers, a Tanh ends it."""
    placed: dict[int, nn.Module] = {}
    prev: list[str] = []
    at = 0
    for i, kind, shape in t.layers:
        while at < i:  # a layer without tensors
            after_bn = len(prev) >= 2 and prev[-1] == "bn" and prev[-2] in ("conv", "linear")
            placed[at] = activation(act) if (t.kind == "mlp" or after_bn) else nn.Upsample(scale_factor=2,
                                                                                             mode=mode)
            prev.append("act" if isinstance(placed[at], (nn.ReLU, nn.LeakyReLU)) else "up")
            at += 1
        if kind == "linear":
            placed[i] = nn.Linear(shape[1], shape[0])
        elif kind == "conv":
            placed[i] = nn.Conv2d(shape[1], shape[0], shape[2], stride=1, padding=shape[2] // 2)
        else:
            lead = t.kind == "conv" and not prev  # conv_blocks.0: BatchNorm2d(128), the default eps
            norm = nn.BatchNorm1d if t.kind == "mlp" else nn.BatchNorm2d
            placed[i] = norm(shape[0], 1e-5 if lead else eps)
        prev.append(kind)
        at = i + 1
    placed[at] = nn.Tanh()
    return nn.Sequential(*(placed[k] for k in range(at + 1)))


class Network(nn.Module):
    """label_emb (when the file has one) and the trunk under the scripts' attribute names."""

    def __init__(self, t: Trunk, act: str, eps: float, mode: str, emb: tuple[int, int] | None):
        super().__init__()
        if emb is not None:
            self.label_emb = nn.Embedding(*emb)
        if t.kind == "conv":
            self.l1 = nn.Sequential(nn.Linear(t.in_dim, t.c0 * t.side * t.side))
            self.conv_blocks = build_trunk(t, act, eps, mode)
        else:
            self.model = build_trunk(t, act, eps, mode)
