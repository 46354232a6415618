"""The pytorch_GAN_zoo progressive generator (GNet) in our own torch code, cut into one block per scale.

Weights are stored as the zoo stores them, and the equalised-learning-rate constant sqrt(2 / fan_in)
multiplies each layer's output, bias included (unlike StyleGAN), in the zoo's order: folding it into the
weights instead moves the outputs by ~1e-5 in float32. Only the config (read from the file) says what the
weights cannot: the fade-in alpha, the slope, whether PixelNorm runs and whether the output goes through tanh.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TANH_LOSSES = ("DCGAN", "MSE")  # the zoo's lossCriterion values whose generator ends in tanh


@dataclass(frozen=True)
class PGGANConfig:
    """What GNet's constructor and setNewAlpha take, read from the checkpoint's config."""

    z_dim: int  # formatLayer's input: the noise, then c_dim category values (AC-GAN's one-hot labels)
    depths: tuple[int, ...]  # feature maps at 4, 8, ... px (depthScale0, then depthOtherScales)
    out_channels: int = 3
    slope: float = 0.2
    pixel_norm: bool = True
    equalized: bool = True
    tanh: bool = False
    alpha: float = 0.0  # fade-in: alpha * (old, upsampled low-resolution path) + (1 - alpha) * new layer
    c_dim: int = 0

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.depths) - 1)


def pixel_norm(x: Tensor) -> Tensor:
    return x * (x.pow(2).mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def upscale2d(x: Tensor) -> Tensor:
    """The zoo's Upscale2d: each pixel repeated 2x2."""
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


class EqualConv(nn.Module):
    """A conv (3x3 pad 1, or 1x1) or linear layer: (W x + b) * gain, W and b as buffers."""

    def __init__(self, weight_shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("weight", torch.zeros(weight_shape))
        self.register_buffer("bias", torch.zeros(weight_shape[0]))
        self.gain = 1.0

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.ndim == 2:
            out = F.linear(x, self.weight, self.bias)
        else:
            out = F.conv2d(x, self.weight, self.bias, padding=self.weight.shape[-1] // 2)
        return out * self.gain if self.gain != 1.0 else out


class FormatBlock(nn.Module):
    """z -> PixelNorm -> formatLayer (linear) -> leaky ReLU -> (N, depth0, 4, 4) -> PixelNorm."""

    def __init__(self, cfg: PGGANConfig):
        super().__init__()
        self.cfg = cfg
        self.format = EqualConv((16 * cfg.depths[0], cfg.z_dim))

    def forward(self, z: Tensor) -> Tensor:
        x = z.reshape(z.shape[0], -1)
        if self.cfg.pixel_norm:
            x = pixel_norm(x)
        x = F.leaky_relu(self.format(x), self.cfg.slope)
        return pixel_norm(x.view(x.shape[0], -1, 4, 4))  # unconditional in GNet.forward


class ScaleBlock(nn.Module):
    """One scale: (2x upscale unless it is the 4x4 one) then its convs, each leaky ReLU + PixelNorm."""

    def __init__(self, cfg: PGGANConfig, scale: int):
        super().__init__()
        self.cfg, self.scale = cfg, scale
        d_in = cfg.depths[max(scale - 1, 0)]
        d = cfg.depths[scale]
        shapes = [(d, d_in, 3, 3)] if scale == 0 else [(d, d_in, 3, 3), (d, d, 3, 3)]
        self.convs = nn.ModuleList(EqualConv(s) for s in shapes)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale > 0:
            x = upscale2d(x)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.cfg.slope)
            if self.cfg.pixel_norm:
                x = pixel_norm(x)
        return x


class OutputBlock(nn.Module):
    """The last scale and its toRGB; during a fade-in (alpha > 0) blended with the previous scale's toRGB
    of this block's input, upscaled: out = alpha * old + (1 - alpha) * new, before the optional tanh."""

    def __init__(self, cfg: PGGANConfig, scale: int):
        super().__init__()
        self.cfg, self.scale = cfg, scale
        self.block = ScaleBlock(cfg, scale)
        self.to_rgb = EqualConv((cfg.out_channels, cfg.depths[scale], 1, 1))
        self.blends = scale > 0 and cfg.alpha > 0
        if self.blends:
            self.to_rgb_prev = EqualConv((cfg.out_channels, cfg.depths[scale - 1], 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = self.to_rgb(self.block(x))
        if self.blends:
            a = self.cfg.alpha
            out = a * upscale2d(self.to_rgb_prev(x)) + (1.0 - a) * out
        return torch.tanh(out) if self.cfg.tanh else out


class PGGAN(nn.Module):
    """GNet up to scale len(depths) - 1: format, one block per scale, the last with its toRGB."""

    def __init__(self, cfg: PGGANConfig):
        super().__init__()
        self.cfg = cfg
        n = len(cfg.depths)
        self.format = FormatBlock(cfg)
        self.scales = nn.ModuleList(ScaleBlock(cfg, s) for s in range(n - 1))
        self.output = OutputBlock(cfg, n - 1)

    def blocks(self) -> list[tuple[str, nn.Module]]:
        """(stage name, module) in order: 'format', 'scale0' (4 px), ..., the last as 'scaleN+torgb'."""
        named: list[tuple[str, nn.Module]] = [("format", self.format)]
        named += [(f"scale{s}", b) for s, b in enumerate(self.scales)]
        return named + [(f"scale{len(self.cfg.depths) - 1}+torgb", self.output)]

    def forward(self, z: Tensor) -> Tensor:
        x = z
        for _, b in self.blocks():
            x = b(x)
        return x


_KEY = re.compile(r"^(formatLayer|groupScale0\.\d+|scaleLayers\.\d+\.\d+|toRGBLayers\.\d+)\.(?:module\.)?"
                  r"(weight|bias)$")


def canonical_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """The zoo's keys with the '.module.' level of its ConstrainedLayer wrappers removed (older files lack
    it: loadStateDictCompatible accepts both); other keys are dropped, tensors only."""
    out = {}
    for k, v in sd.items():
        m = _KEY.match(k)
        if m and torch.is_tensor(v):
            out[f"{m.group(1)}.{m.group(2)}"] = v
    return out


def depths_of(sd: dict[str, Tensor]) -> tuple[int, ...] | None:
    """Per-scale depths from the shapes (groupScale0 then scaleLayers.i), None when they do not chain."""
    try:
        depths = [int(sd["groupScale0.0.weight"].shape[0])]
        i = 0
        while f"scaleLayers.{i}.0.weight" in sd:
            depths.append(int(sd[f"scaleLayers.{i}.0.weight"].shape[0]))
            i += 1
    except (KeyError, AttributeError, IndexError):
        return None
    return tuple(depths)


def load_weights(net: PGGAN, sd: dict[str, Tensor]) -> None:
    """Copy the zoo's tensors (canonical keys) into `net` and set each layer's equalised-lr gain; a
    ValueError names the first tensor that is missing or has the wrong shape."""
    cfg = net.cfg
    last = len(cfg.depths) - 1
    targets: list[tuple[str, EqualConv]] = [("formatLayer", net.format.format)]
    targets += [(f"groupScale0.{j}", c) for j, c in enumerate(net.scales[0].convs)] if last > 0 else []
    for s in range(1, last):
        targets += [(f"scaleLayers.{s - 1}.{j}", c) for j, c in enumerate(net.scales[s].convs)]
    prefix = "groupScale0" if last == 0 else f"scaleLayers.{last - 1}"
    targets += [(f"{prefix}.{j}", c) for j, c in enumerate(net.output.block.convs)]
    targets.append((f"toRGBLayers.{last}", net.output.to_rgb))
    if net.output.blends:
        targets.append((f"toRGBLayers.{last - 1}", net.output.to_rgb_prev))
    with torch.no_grad():
        for key, layer in targets:
            for part in ("weight", "bias"):
                t = sd.get(f"{key}.{part}")
                want = getattr(layer, part)
                if t is None:
                    raise ValueError(f"it has no {key}.{part}")
                if tuple(t.shape) != tuple(want.shape):
                    raise ValueError(f"{key}.{part} has shape {tuple(t.shape)}, not {tuple(want.shape)}")
                if not t.is_floating_point():
                    raise ValueError(f"{key}.{part} is not floating-point")
            w = sd[f"{key}.weight"].float()
            layer.gain = math.sqrt(2.0 / w[0].numel()) if cfg.equalized else 1.0
            layer.weight.copy_(w)
            layer.bias.copy_(sd[f"{key}.bias"].float())
