"""StarGAN v2 (clovaai/stargan-v2) networks, rebuilt from a `*_nets_ema.ckpt`'s shapes in our own torch code.

Generator: 3x3 conv from RGB; encoder residual blocks (InstanceNorm, LeakyReLU 0.2, 2x average-pool
down-sampling, 1x1 learned shortcut when the width changes, sum / sqrt(2)); decoder residual blocks whose
norms are AdaIN from the style code ((1 + gamma) * IN(x) + beta; 2x nearest up-sampling); IN + LeakyReLU
+ 1x1 conv to RGB. With w_hpf > 0 (CelebA-HQ) decoder blocks drop their shortcut and the official code adds
high-passed encoder features under face masks from a landmark network (FAN); without masks (what we run)
that path is skipped, as in the official forward with masks=None. Mapping network: z -> 4 shared linear
layers -> one 4-layer head per domain. Style encoder: conv, down-sampling blocks, 4x4 conv -> one linear
head per domain.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.errors import CheckpointError

SQRT2 = math.sqrt(2)


@dataclass(frozen=True)
class StarGANv2Config:
    img_size: int
    style_dim: int
    latent_dim: int
    num_domains: int
    w_hpf: float
    max_conv_dim: int = 512
    dim_in: int = 0  # width after from_rgb; 0: the official 2**14 // img_size

    @property
    def hpf(self) -> bool:
        return self.w_hpf > 0


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class ResBlk(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.norm1 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.norm2 = nn.InstanceNorm2d(dim_in, affine=True) if normalize else nn.Identity()
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: Tensor) -> Tensor:
        sc = x if self.conv1x1 is None else self.conv1x1(x)
        h = self.conv1(_lrelu(self.norm1(x)))
        if self.downsample:
            sc, h = F.avg_pool2d(sc, 2), F.avg_pool2d(h, 2)
        h = self.conv2(_lrelu(self.norm2(h)))
        return (sc + h) / SQRT2


class AdaIN(nn.Module):
    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * F.instance_norm(x, eps=1e-5) + beta


class AdainResBlk(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, style_dim: int, shortcut: bool, upsample: bool = False):
        super().__init__()
        self.upsample, self.shortcut = upsample, shortcut
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        h = _lrelu(self.norm1(x, s))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv2(_lrelu(self.norm2(self.conv1(h), s)))
        if not self.shortcut:
            return h
        sc = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        sc = sc if self.conv1x1 is None else self.conv1x1(sc)
        return (h + sc) / SQRT2


def _widths(cfg: StarGANv2Config, n: int) -> list[int]:
    d = cfg.dim_in or 2 ** 14 // cfg.img_size
    out = [d]
    for _ in range(n):
        d = min(d * 2, cfg.max_conv_dim)
        out.append(d)
    return out


class GeneratorV2(nn.Module):
    def __init__(self, cfg: StarGANv2Config):
        super().__init__()
        n = int(math.log2(cfg.img_size)) - 4 + (1 if cfg.hpf else 0)
        w = _widths(cfg, n)
        self.from_rgb = nn.Conv2d(3, w[0], 3, 1, 1)
        self.encode = nn.ModuleList([ResBlk(w[i], w[i + 1], True, True) for i in range(n)]
                                    + [ResBlk(w[-1], w[-1], True) for _ in range(2)])
        up = [AdainResBlk(w[i + 1], w[i], cfg.style_dim, not cfg.hpf, upsample=True) for i in range(n)]
        self.decode = nn.ModuleList([AdainResBlk(w[-1], w[-1], cfg.style_dim, not cfg.hpf) for _ in range(2)]
                                    + up[::-1])
        self.to_rgb = nn.Sequential(nn.InstanceNorm2d(w[0], affine=True), nn.LeakyReLU(0.2),
                                    nn.Conv2d(w[0], 3, 1))

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        x = self.from_rgb(x)
        for block in self.encode:
            x = block(x)
        for block in self.decode:
            x = block(x, s)
        return self.to_rgb(x)


class MappingNetwork(nn.Module):
    def __init__(self, cfg: StarGANv2Config):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(cfg.latent_dim, 512), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(512, 512), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList([nn.Sequential(
            nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
            nn.Linear(512, cfg.style_dim)) for _ in range(cfg.num_domains)])

    def forward(self, z: Tensor) -> Tensor:
        """Style codes for every domain: (N, num_domains, style_dim)."""
        h = self.shared(z)
        return torch.stack([head(h) for head in self.unshared], dim=1)


class StyleEncoder(nn.Module):
    def __init__(self, cfg: StarGANv2Config):
        super().__init__()
        n = int(math.log2(cfg.img_size)) - 2
        w = _widths(cfg, n)
        blocks: list[nn.Module] = [nn.Conv2d(3, w[0], 3, 1, 1)]
        blocks += [ResBlk(w[i], w[i + 1], downsample=True) for i in range(n)]
        blocks += [nn.LeakyReLU(0.2), nn.Conv2d(w[-1], w[-1], 4, 1, 0), nn.LeakyReLU(0.2)]
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList([nn.Linear(w[-1], cfg.style_dim) for _ in range(cfg.num_domains)])

    def forward(self, x: Tensor) -> Tensor:
        """Style codes of images x for every domain: (N, num_domains, style_dim)."""
        h = self.shared(x).flatten(1)
        return torch.stack([head(h) for head in self.unshared], dim=1)


PARTS = ("generator", "mapping_network", "style_encoder")
_IGNORED = ("hpf.filter",)  # a buffer later versions save; 2020 checkpoints lack it; both load


def _strip(sd: dict[str, Any]) -> dict[str, Any]:
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def split_checkpoint(obj: Any) -> dict[str, dict[str, Any]] | None:
    """The three state_dicts of a nets_ema checkpoint, or None when `obj` is not one."""
    if not isinstance(obj, dict) or not all(isinstance(obj.get(p), dict) for p in PARTS):
        return None
    return {p: _strip(obj[p]) for p in PARTS}


def infer_config(parts: dict[str, dict[str, Any]]) -> StarGANv2Config | None:
    """The config from shapes: the image size from the style encoder's depth (it must end at 4x4), the
    widths from the convs, w_hpf from the generator's depth (one extra block) and its filter when saved."""
    g, m, e = parts["generator"], parts["mapping_network"], parts["style_encoder"]
    try:
        dim0 = int(g["from_rgb.weight"].shape[0])
        style_dim = int(g["decode.0.norm1.fc.weight"].shape[1])
        latent_dim = int(m["shared.0.weight"].shape[1])
    except (KeyError, AttributeError, IndexError, TypeError):
        return None

    def count(sd: dict[str, Any], pattern: str) -> int:
        return len({mm.group(1) for k in sd if (mm := re.match(pattern, k))})

    n_enc = count(g, r"encode\.(\d+)\.conv1\.weight$")
    n_dec = count(g, r"decode\.(\d+)\.conv1\.weight$")
    domains = count(m, r"unshared\.(\d+)\.")
    n_style = count(e, r"shared\.(\d+)\.conv1\.weight$")
    if n_style < 1 or domains < 1 or n_enc != n_dec:
        return None
    img_size = 2 ** (n_style + 2)
    plain = int(math.log2(img_size)) - 4 + 2
    if n_enc not in (plain, plain + 1):
        return None
    w_hpf = 0.0
    if n_enc == plain + 1:
        filt = g.get("hpf.filter")
        w_hpf = float(8.0 / filt[1, 1]) if getattr(filt, "ndim", 0) == 2 else 1.0
    widths = [int(v.shape[0]) for sd in (g, e) for k, v in sd.items()
              if re.match(r"(encode|shared)\.\d+\.conv2\.weight$", k)]
    cfg = StarGANv2Config(img_size, style_dim, latent_dim, domains, w_hpf, max(widths + [dim0]), dim0)
    with torch.device("meta"):  # shapes only
        nets = build(cfg)
    for name, net in zip(PARTS, nets):
        want = net.state_dict()
        have = {k: v for k, v in parts[name].items() if k not in _IGNORED}
        if set(want) != set(have) or any(
                tuple(want[k].shape) != tuple(getattr(have[k], "shape", ())) for k in want):
            return None
    return cfg


def build(cfg: StarGANv2Config) -> tuple[GeneratorV2, MappingNetwork, StyleEncoder]:
    return GeneratorV2(cfg), MappingNetwork(cfg), StyleEncoder(cfg)


def load_weights(nets: tuple[nn.Module, ...], parts: dict[str, dict[str, Any]]) -> None:
    for name, net in zip(PARTS, nets):
        sd = {k: (v.float() if v.is_floating_point() else v)
              for k, v in parts[name].items() if k not in _IGNORED}
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{name} weights do not fit the inferred StarGAN v2 layout: "
                                  f"{str(exc).splitlines()[0]}") from None
