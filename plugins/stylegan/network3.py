"""The StyleGAN3 (alias-free, configs t and r) generator in our own torch code.

Same mapping network as StyleGAN2; synthesis is Fourier-feature input, then layers of modulated conv and
filtered leaky ReLU (upsample with an FIR, activate, downsample with an FIR), each reading one style row.
All per-layer settings (sampling, padding, filters) are read from the checkpoint, never recomputed, so the
designed filters are used exactly as stored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from latent_studio_plugins.stylegan.network import FullyConnected, Mapping
from latent_studio_plugins.stylegan.ops import SQRT2, bias_act, demodulation, fuse, upfirdn2d


@dataclass(frozen=True)
class LayerSpec:
    name: str
    in_channels: int
    out_channels: int
    conv_kernel: int
    up: int
    down: int
    padding: tuple[int, int, int, int]
    is_torgb: bool
    conv_clamp: float | None
    up_taps: int
    down_taps: int
    down_radial: bool


@dataclass(frozen=True)
class StyleGAN3Config:
    z_dim: int
    w_dim: int
    resolution: int
    layers: tuple[LayerSpec, ...]
    input_channels: int
    input_size: tuple[int, int]  # (width, height) of the Fourier-feature grid, margins included
    input_sampling_rate: float
    input_bandwidth: float
    c_dim: int = 0
    img_channels: int = 3
    mapping_layers: int = 2
    mapping_features: int = 0
    output_scale: float = 0.25

    @property
    def num_ws(self) -> int:
        return len(self.layers) + 1

    @property
    def embed_features(self) -> int:
        return self.w_dim if self.c_dim else 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = [asdict(s) for s in self.layers]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StyleGAN3Config":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["layers"] = tuple(LayerSpec(**{**s, "padding": tuple(s["padding"])}) for s in d["layers"])
        d["input_size"] = tuple(d["input_size"])
        return cls(**d)


def modulated_conv2d_sg3(x: Tensor, weight: Tensor, styles: Tensor, padding: int, demodulate: bool,
                         input_gain: Tensor, fused: bool = True) -> Tensor:
    """StyleGAN3's modulated conv: weights and styles pre-normalised (styles over the whole batch, as the
    official code does; demodulation cancels that scale, so samples stay independent), demodulated, scaled
    by the layer's input gain, then one grouped convolution.

    Not fused (a batch, or the ONNX export): the styles scale the activations around one shared convolution and the
    batch-wide style scale is left out (demodulation cancels it), so the graph has no batch-sized group
    count; same maths up to float rounding."""
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
    if not fuse(fused, n):  # a batch: one shared convolution (see ops.fuse)
        out = torch.nn.functional.conv2d(x * (styles * input_gain)[:, :, None, None], weight, padding=padding)
        if demodulate:
            out = out * demodulation(weight, styles).to(out.dtype)[:, :, None, None]
        return out
    if demodulate:
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.unsqueeze(1).unsqueeze(3).unsqueeze(4)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().unsqueeze(2).unsqueeze(3).unsqueeze(4)
    w = w * input_gain.expand(n, i).unsqueeze(1).unsqueeze(3).unsqueeze(4)
    x = x.reshape(1, -1, *x.shape[2:])
    x = torch.nn.functional.conv2d(x, w.reshape(-1, i, kh, kw), padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


def filtered_lrelu(x: Tensor, fu: Tensor, fd: Tensor, b: Tensor, up: int, down: int,
                   padding: tuple[int, int, int, int], gain: float, slope: float,
                   clamp: float | None) -> Tensor:
    """Bias, FIR upsample, leaky ReLU (* gain, clamp) at the higher rate, FIR downsample: the alias-free
    nonlinearity, as separate vectorised ops."""
    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up * up)
    x = bias_act(x, None, "lrelu", gain=gain, clamp=clamp, alpha=slope, inplace=True)
    return upfirdn2d(x, fd, down=down)


class SynthesisInput(nn.Module):
    """Fourier features whose rotation and translation come from ws[0] (and an optional user transform)."""

    def __init__(self, cfg: StyleGAN3Config):
        super().__init__()
        c = cfg.input_channels
        self.cfg = cfg
        self.affine = FullyConnected(cfg.w_dim, 4)
        self.register_buffer("weight", torch.zeros(c, c))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.zeros(c, 2))
        self.register_buffer("phases", torch.zeros(c))

    def forward(self, w: Tensor, transform: Tensor | None = None) -> Tensor:
        """`transform` replaces the stored input transform: [3, 3], or [N, 3, 3] for one per sample."""
        cfg = self.cfg
        n = w.shape[0]
        transforms = self.transform if transform is None else transform.to(self.transform)
        transforms = transforms.reshape(-1, 3, 3)  # one for all samples, or one per sample
        freqs, phases = self.freqs.unsqueeze(0), self.phases.unsqueeze(0)
        t = self.affine(w)  # (cos, sin, tx, ty) up to scale
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat(n, 1, 1)
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device).unsqueeze(0).repeat(n, 1, 1)
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ transforms
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        bw, sr = cfg.input_bandwidth, cfg.input_sampling_rate
        amplitudes = (1 - (freqs.norm(dim=2) - bw) / (sr / 2 - bw)).clamp(0, 1)
        sw, sh = cfg.input_size
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * sw / sr
        theta[1, 1] = 0.5 * sh / sr
        grids = torch.nn.functional.affine_grid(theta.unsqueeze(0), [1, 1, sh, sw], align_corners=False)
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ self.weight.t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer3(nn.Module):
    def __init__(self, spec: LayerSpec, w_dim: int):
        super().__init__()
        self.spec = spec
        k = spec.conv_kernel
        self.affine = FullyConnected(w_dim, spec.in_channels)
        self.register_buffer("weight", torch.zeros(spec.out_channels, spec.in_channels, k, k))
        self.register_buffer("bias", torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones(()))
        self.register_buffer("up_filter", torch.ones(spec.up_taps) if spec.up_taps > 1 else torch.ones(1))
        down_shape = (spec.down_taps, spec.down_taps) if spec.down_radial else (spec.down_taps,)
        self.register_buffer("down_filter", torch.ones(down_shape) if spec.down_taps > 1 else torch.ones(1))
        self.fused = True  # grouped per-sample conv; the ONNX export turns it off

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        s = self.spec
        styles = self.affine(w)
        if s.is_torgb:
            styles = styles * (1 / np.sqrt(s.in_channels * s.conv_kernel ** 2))
        x = modulated_conv2d_sg3(x, self.weight, styles, s.conv_kernel - 1, not s.is_torgb,
                                 self.magnitude_ema.rsqrt(), fused=self.fused)
        gain, slope = (1.0, 1.0) if s.is_torgb else (SQRT2, 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, s.up, s.down, s.padding, gain,
                              slope, s.conv_clamp)


class Synthesis3(nn.Module):
    def __init__(self, cfg: StyleGAN3Config):
        super().__init__()
        self.cfg = cfg
        self.input = SynthesisInput(cfg)
        for spec in cfg.layers:
            self.add_module(spec.name, SynthesisLayer3(spec, cfg.w_dim))

    def layers(self) -> list[SynthesisLayer3]:
        return [getattr(self, s.name) for s in self.cfg.layers]

    def forward(self, ws: Tensor, transform: Tensor | None = None) -> Tensor:
        x = self.input(ws[:, 0], transform)
        for i, layer in enumerate(self.layers()):
            x = layer(x, ws[:, i + 1])
        return x * self.cfg.output_scale


class StyleGAN3(nn.Module):
    def __init__(self, cfg: StyleGAN3Config):
        super().__init__()
        self.cfg = cfg
        self.mapping = Mapping(cfg)  # type: ignore[arg-type]  # reads only the shared mapping fields
        self.synthesis = Synthesis3(cfg)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation: float = 1.0,
                transform: Tensor | None = None) -> Tensor:
        return self.synthesis(self.mapping(z, c, truncation), transform)
