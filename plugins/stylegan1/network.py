"""rosinality's StyleGAN (style-based-gan-pytorch StyledGenerator) in our own torch code.

Weights are stored effective: the equalised-lr hook's weight_orig * sqrt(2 / fan_in) is computed once at
load (biases are not scaled; a NoiseInjection's fan_in is its channel count), and FusedUpsample's padded,
four-way averaged 4x4 kernel likewise. The official code computes exactly these products in its forward,
so the results match it. Every width comes from the tensor shapes.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MAX_BLOCKS = 9  # 4 ... 1024 px


@dataclass(frozen=True)
class StyleGAN1Config:
    code_dim: int
    mapping_layers: int
    channels: tuple[tuple[int, int], ...]  # (in, out) per progression block present
    fused: tuple[bool, ...]  # per block: FusedUpsample (transposed conv) instead of Upsample + conv

    @property
    def blocks(self) -> int:
        return len(self.channels)


def pixel_norm(x: Tensor) -> Tensor:
    return x / torch.sqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)


class Linear(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(n_out, n_in))
        self.register_buffer("bias", torch.zeros(n_out))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)


class Mapping(nn.Module):
    """PixelNorm, then mapping_layers x (equalised linear, leaky ReLU 0.2)."""

    def __init__(self, cfg: StyleGAN1Config):
        super().__init__()
        self.layers = nn.ModuleList(Linear(cfg.code_dim, cfg.code_dim) for _ in range(cfg.mapping_layers))

    def forward(self, z: Tensor) -> Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        return x


class StyledBlock(nn.Module):
    """conv1 (const input, 2x nearest + 3x3 conv + blur, or fused transposed conv + blur), noise, leaky ReLU,
    AdaIN; conv2 (3x3), noise, leaky ReLU, AdaIN. Both noise injections read the same noise image."""

    def __init__(self, cfg: StyleGAN1Config, i: int):
        super().__init__()
        c_in, c = cfg.channels[i]
        self.index, self.fused = i, cfg.fused[i]
        if i == 0:
            self.register_buffer("const", torch.zeros(1, c, 4, 4))
        else:
            # fused: the 4x4 transposed-conv kernel, stored [out, in] like a conv (swapped back in forward)
            shape = (c, c_in, 4, 4) if self.fused else (c, c_in, 3, 3)
            self.register_buffer("conv1_weight", torch.zeros(shape))
            self.register_buffer("conv1_bias", torch.zeros(c))
            self.register_buffer("blur", torch.zeros(c, 1, 3, 3))
        self.register_buffer("conv2_weight", torch.zeros(c, c, 3, 3))
        self.register_buffer("conv2_bias", torch.zeros(c))
        self.register_buffer("noise1", torch.zeros(1, c, 1, 1))
        self.register_buffer("noise2", torch.zeros(1, c, 1, 1))
        self.style1 = Linear(cfg.code_dim, 2 * c)
        self.style2 = Linear(cfg.code_dim, 2 * c)
        self.channels = c

    def forward(self, x: Tensor | None, w: Tensor, noise: Tensor | None) -> Tensor:
        if self.index == 0:
            out = self.const.repeat(w.shape[0], 1, 1, 1)
        else:
            assert x is not None
            if self.fused:
                out = F.conv_transpose2d(x, self.conv1_weight.transpose(0, 1), self.conv1_bias, stride=2,
                                         padding=1)
            else:
                out = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), self.conv1_weight,
                               self.conv1_bias, padding=1)
            out = F.conv2d(out, self.blur, padding=1, groups=self.channels)
        out = _adain(F.leaky_relu(_noise(out, self.noise1, noise), 0.2), self.style1(w))
        out = F.conv2d(out, self.conv2_weight, self.conv2_bias, padding=1)
        return _adain(F.leaky_relu(_noise(out, self.noise2, noise), 0.2), self.style2(w))


def _noise(x: Tensor, weight: Tensor, noise: Tensor | None) -> Tensor:
    return x if noise is None else x + weight * noise


def _adain(x: Tensor, style: Tensor) -> Tensor:
    gamma, beta = style[:, :, None, None].chunk(2, 1)
    return gamma * F.instance_norm(x, eps=1e-5) + beta


class ToRGB(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(3, c, 1, 1))
        self.register_buffer("bias", torch.zeros(3))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias)


class StyleGAN1(nn.Module):
    """Mapping, every progression block in the file, and one to_rgb per block."""

    def __init__(self, cfg: StyleGAN1Config):
        super().__init__()
        self.cfg = cfg
        self.mapping = Mapping(cfg)
        self.blocks = nn.ModuleList(StyledBlock(cfg, i) for i in range(cfg.blocks))
        self.to_rgb = nn.ModuleList(ToRGB(out) for _, out in cfg.channels)


_BLOCK = re.compile(r"^generator\.progression\.(\d+)\.")
_STYLE = re.compile(r"^style\.(\d+)\.linear\.weight_orig$")


def infer_config(sd: dict[str, Tensor]) -> StyleGAN1Config | None:
    """The config a g_running state_dict's keys and shapes describe, or None when they are not rosinality's
    StyledGenerator (cheap: shapes only)."""
    try:
        if "generator.progression.0.conv1.input" not in sd or "style.1.linear.weight_orig" not in sd:
            return None
        code_dim = int(sd["style.1.linear.weight_orig"].shape[1])
        styles = sorted(int(m.group(1)) for k in sd if (m := _STYLE.match(k)))
        if styles != list(range(1, 2 * len(styles), 2)):
            return None
        n = 1 + max(int(m.group(1)) for k in sd if (m := _BLOCK.match(k)))
        if not 1 <= n <= MAX_BLOCKS:
            return None
        channels, fused = [], []
        for i in range(n):
            p = f"generator.progression.{i}."
            c = int(sd[p + "conv2.conv.weight_orig"].shape[0])
            if i == 0:
                c_in, f = int(sd[p + "conv1.input"].shape[1]), False
            elif p + "conv1.0.weight" in sd:
                c_in, f = int(sd[p + "conv1.0.weight"].shape[0]), True
            else:
                c_in, f = int(sd[p + "conv1.1.conv.weight_orig"].shape[1]), False
            channels.append((c_in, c))
            fused.append(f)
    except (KeyError, AttributeError, IndexError, TypeError, ValueError):
        return None
    return StyleGAN1Config(code_dim, len(styles), tuple(channels), tuple(fused))


def _equal(t: Tensor) -> Tensor:
    """EqualLR's effective weight: weight_orig * sqrt(2 / (size(1) * weight[0][0].numel()))."""
    t = t.float()
    return t * math.sqrt(2 / (t.size(1) * t[0][0].numel()))


def _fused_kernel(weight: Tensor) -> Tensor:
    """FusedUpsample's 4x4 transposed-conv kernel [in, out, 4, 4] from its stored 3x3 [in, out, 3, 3]."""
    w = weight.float()
    w = F.pad(w * math.sqrt(2 / (w.size(0) * w.size(2) * w.size(3))), [1, 1, 1, 1])
    return (w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) / 4


def effective_state(cfg: StyleGAN1Config, sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Our network's state_dict from a g_running state_dict (KeyError / shape errors for a damaged one)."""
    out: dict[str, Tensor] = {}
    for j in range(cfg.mapping_layers):
        out[f"mapping.layers.{j}.weight"] = _equal(sd[f"style.{2 * j + 1}.linear.weight_orig"])
        out[f"mapping.layers.{j}.bias"] = sd[f"style.{2 * j + 1}.linear.bias"].float()
    for i in range(cfg.blocks):
        p, q = f"generator.progression.{i}.", f"blocks.{i}."
        if i == 0:
            out[q + "const"] = sd[p + "conv1.input"].float()
        elif cfg.fused[i]:
            out[q + "conv1_weight"] = _fused_kernel(sd[p + "conv1.0.weight"]).transpose(0, 1)
            out[q + "conv1_bias"] = sd[p + "conv1.0.bias"].float()
            out[q + "blur"] = sd[p + "conv1.1.weight"].float()
        else:
            out[q + "conv1_weight"] = _equal(sd[p + "conv1.1.conv.weight_orig"])
            out[q + "conv1_bias"] = sd[p + "conv1.1.conv.bias"].float()
            out[q + "blur"] = sd[p + "conv1.2.weight"].float()
        out[q + "conv2_weight"] = _equal(sd[p + "conv2.conv.weight_orig"])
        out[q + "conv2_bias"] = sd[p + "conv2.conv.bias"].float()
        for k in (1, 2):
            out[q + f"noise{k}"] = _equal(sd[p + f"noise{k}.weight_orig"])
            out[q + f"style{k}.weight"] = _equal(sd[p + f"adain{k}.style.linear.weight_orig"])
            out[q + f"style{k}.bias"] = sd[p + f"adain{k}.style.linear.bias"].float()
        out[f"to_rgb.{i}.weight"] = _equal(sd[f"generator.to_rgb.{i}.conv.weight_orig"])
        out[f"to_rgb.{i}.bias"] = sd[f"generator.to_rgb.{i}.conv.bias"].float()
    return out


def trained_blocks(sd: dict[str, Tensor], blocks: int) -> int:
    """How many progression blocks training has reached: NoiseInjection weights start at exactly zero and
    only a block that has run gets gradients, so the last block with a non-zero one is the last trained."""
    last = 0
    for i in range(blocks):
        t = sd.get(f"generator.progression.{i}.noise1.weight_orig")
        if t is not None and bool((t != 0).any()):
            last = i
    return last + 1


def mean_style(mapping: Mapping, code_dim: int) -> Tensor:
    """generate.py's get_mean_style after torch.manual_seed(777): the mapping's mean output over 10 batches
    of 1024 standard-normal codes, drawn from a private generator so it is the same on every load."""
    g = torch.Generator().manual_seed(777)
    total = None
    with torch.no_grad():
        for _ in range(10):
            style = mapping(torch.randn(1024, code_dim, generator=g)).mean(0, keepdim=True)
            total = style if total is None else total + style
    assert total is not None
    return (total / 10)[0]
