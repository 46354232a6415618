"""The eriklindernoren PyTorch-GAN generators, the most copied GAN code there is, rebuilt from shapes alone.

Two layouts, at any width, depth and image size:
- MLP (implementations/gan, wgan_gp): `model.N` Linear [+ BatchNorm1d] + LeakyReLU blocks, a last Linear to
  C*H*W values and Tanh, viewed as an image;
- Upsample-conv (dcgan, lsgan): `l1.0` Linear to C0*s*s values viewed as (C0, s, s), then `conv_blocks`:
  an optional BatchNorm2d, [Upsample] Conv2d BatchNorm2d LeakyReLU blocks, a last Conv2d and Tanh.

What the state_dict cannot record is set to the scripts' own values and reported as a Choice the user may
change: LeakyReLU(0.2), BatchNorm eps 0.8 (`BatchNorm2d(C, 0.8)`: the second positional argument is eps),
Upsample mode nearest, and for the MLP the split of its output into channels x height x width.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from torch import Tensor, nn

from latent_studio_plugins.dcgan.activations import make_activation

ERIK_EPS = "0.8"


@dataclass(frozen=True)
class MLPLayout:
    """Linear widths in order (in, out) with whether BatchNorm1d follows each (all but the last)."""

    linears: tuple[tuple[int, int], ...]
    batchnorm: tuple[bool, ...]

    @property
    def z_dim(self) -> int:
        return self.linears[0][0]

    @property
    def out_values(self) -> int:
        return self.linears[-1][1]

    def indices(self) -> list[int]:
        """Sequential indices of the Linear and BatchNorm1d layers (the activations hold no tensors)."""
        out, i = [], 0
        for n in range(len(self.linears)):
            out.append(i)
            i += 1
            if n < len(self.linears) - 1:
                if self.batchnorm[n]:
                    out.append(i)
                    i += 1
                i += 1
        return out


@dataclass(frozen=True)
class ConvLayout:
    """l1 Linear (z -> c0*s*s), a leading BatchNorm2d or not, conv blocks (in, out, kernel, upsample before),
    each but the last followed by BatchNorm2d + activation."""

    z_dim: int
    c0: int
    init_size: int
    lead_bn: bool
    convs: tuple[tuple[int, int, int, bool], ...]

    @property
    def channels(self) -> int:
        return self.convs[-1][1]

    @property
    def resolution(self) -> int:
        return self.init_size * 2 ** sum(up for *_, up in self.convs)


def image_shapes(values: int) -> list[tuple[int, int]]:
    """(channels, side) pairs for a square image of `values` numbers: grey, then RGB (at most one fits)."""
    out = []
    for c in (1, 3):
        side = math.isqrt(values // c) if values % c == 0 else 0
        if side >= 2 and c * side * side == values:
            out.append((c, side))
    return out


def _indexed(sd: dict[str, Tensor], prefix: str) -> dict[int, dict[str, Tensor]] | None:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.(\w+)$")
    idx: dict[int, dict[str, Tensor]] = {}
    for k, v in sd.items():
        m = pat.match(k)
        if m is None:
            return None
        idx.setdefault(int(m.group(1)), {})[m.group(2)] = v
    return idx


def infer_mlp(sd: dict[str, Tensor]) -> MLPLayout | None:
    """The MLP layout when every key is `model.N.*` in that pattern, else None."""
    idx = _indexed(sd, "model.")
    if not idx:
        return None
    linears: list[tuple[int, int]] = []
    bns: list[bool] = []
    for i in sorted(idx):
        p = idx[i]
        w = p.get("weight")
        if w is None or not hasattr(w, "ndim"):
            return None
        if w.ndim == 2 and "bias" in p:
            if linears and linears[-1][1] != w.shape[1]:
                return None
            linears.append((int(w.shape[1]), int(w.shape[0])))
            bns.append(False)
        elif w.ndim == 1 and "running_mean" in p and linears and not bns[-1] and w.shape[0] == linears[-1][1]:
            bns[-1] = True
        else:
            return None
    if len(linears) < 2 or bns[-1] or not image_shapes(linears[-1][1]):
        return None
    layout = MLPLayout(tuple(linears), tuple(bns[:-1]))
    return layout if layout.indices() == sorted(idx) else None


def infer_conv(sd: dict[str, Tensor]) -> ConvLayout | None:
    """The Upsample-conv layout when the keys are `l1.0.*` and `conv_blocks.N.*` in that pattern."""
    l1 = {k: v for k, v in sd.items() if k.startswith("l1.")}
    if set(l1) != {"l1.0.weight", "l1.0.bias"} or getattr(l1["l1.0.weight"], "ndim", 0) != 2:
        return None
    idx = _indexed({k: v for k, v in sd.items() if not k.startswith("l1.")}, "conv_blocks.")
    if not idx:
        return None
    order = sorted(idx)
    kinds: list[tuple[int, str, Tensor]] = []
    for i in order:
        p = idx[i]
        w = p.get("weight")
        if w is None or not hasattr(w, "ndim"):
            return None
        if w.ndim == 4 and "bias" in p and w.shape[2] == w.shape[3] and w.shape[2] % 2 == 1:
            kinds.append((i, "conv", w))
        elif w.ndim == 1 and "running_mean" in p:
            kinds.append((i, "bn", w))
        else:
            return None
    lead_bn = kinds[0][1] == "bn"
    first_conv = 1 if lead_bn else 0
    if first_conv >= len(kinds) or kinds[first_conv][1] != "conv":
        return None
    c0 = int(kinds[first_conv][2].shape[1])
    out_f = int(l1["l1.0.weight"].shape[0])
    side = math.isqrt(out_f // c0) if out_f % c0 == 0 else 0
    if side < 1 or c0 * side * side != out_f or (lead_bn and kinds[0][2].shape[0] != c0):
        return None
    convs: list[tuple[int, int, int, bool]] = []
    expect = (kinds[0][0] + 1) if lead_bn else 0  # index after the last layer placed
    k = first_conv
    while k < len(kinds):
        i, kind, w = kinds[k]
        if kind != "conv" or i - expect not in (0, 1) or (convs and convs[-1][1] != w.shape[1]):
            return None
        convs.append((int(w.shape[1]), int(w.shape[0]), int(w.shape[2]), i - expect == 1))
        last = k == len(kinds) - 1
        if last:
            break
        nxt = kinds[k + 1]
        if nxt[1] != "bn" or nxt[0] != i + 1 or nxt[2].shape[0] != w.shape[0]:
            return None
        expect = nxt[0] + 2  # after BatchNorm2d and its activation
        k += 2
    if len(convs) < 2 or convs[-1][1] not in (1, 3) or convs[-1][3]:
        return None
    return ConvLayout(int(l1["l1.0.weight"].shape[1]), c0, side, lead_bn, tuple(convs))


def build_mlp(layout: MLPLayout, activation: str, eps: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n, (cin, cout) in enumerate(layout.linears):
        layers.append(nn.Linear(cin, cout))
        if n < len(layout.linears) - 1:
            if layout.batchnorm[n]:
                layers.append(nn.BatchNorm1d(cout, eps))
            layers.append(make_activation(activation))
    layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """model (Sequential) then a view as (C, H, W): the scripts' Generator, with attribute names kept."""

    def __init__(self, layout: MLPLayout, shape: tuple[int, int, int], activation: str, eps: float):
        super().__init__()
        self.model = build_mlp(layout, activation, eps)
        self.shape = shape

    def forward(self, z: Tensor) -> Tensor:
        return self.model(z).view(z.shape[0], *self.shape)


class ConvGenerator(nn.Module):
    """l1 (Sequential of one Linear), a view as (c0, s, s), then conv_blocks: the dcgan/lsgan Generator."""

    def __init__(self, layout: ConvLayout, activation: str, eps: float, mode: str):
        super().__init__()
        self.layout = layout
        self.l1 = nn.Sequential(nn.Linear(layout.z_dim, layout.c0 * layout.init_size ** 2))
        layers: list[nn.Module] = [nn.BatchNorm2d(layout.c0)] if layout.lead_bn else []  # default eps here
        for n, (cin, cout, k, up) in enumerate(layout.convs):
            if up:
                layers.append(nn.Upsample(scale_factor=2, mode=mode))
            layers.append(nn.Conv2d(cin, cout, k, stride=1, padding=k // 2))
            if n < len(layout.convs) - 1:
                layers += [nn.BatchNorm2d(cout, eps), make_activation(activation)]
        layers.append(nn.Tanh())
        self.conv_blocks = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        s = self.layout.init_size
        return self.conv_blocks(self.l1(z).view(z.shape[0], self.layout.c0, s, s))


def load_strict(net: nn.Module, sd: dict[str, Tensor], what: str) -> None:
    from studio.errors import CheckpointError

    own = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    try:
        net.load_state_dict(own, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{what}: weights do not fit the inferred layout: {str(exc).splitlines()[0]}") \
            from None


def z_flat(z_dim: int):
    """Input function for generators that take z as a flat (N, z_dim) vector."""
    def fn(ctx) -> Tensor:
        assert ctx.z is not None
        return ctx.z.reshape(-1, z_dim)
    return fn

