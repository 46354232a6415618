"""The StyleGAN2 generator in our own torch code: one network for every supported weight layout.

Parameters are stored *effective* (equalized-learning-rate gains already multiplied in), so the converters in
convert.py are the only place that knows how rosinality or NVlabs scale their stored tensors. Everything is a
buffer: inference only, and a state_dict that round-trips through safetensors.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from latent_studio_plugins.stylegan.ops import (SQRT2, bias_act, modulated_conv2d, normalize_2nd_moment, upfirdn2d,
                                  upsample2d)
from studio.model.wspace import truncate

ARCHITECTURES = ("skip", "resnet", "orig")
NOISE_MODES = ("const", "random", "none")


@dataclass(frozen=True)
class StyleGAN2Config:
    """Enough to rebuild the network; every field is read from the checkpoint's shapes or recorded kwargs."""

    z_dim: int
    w_dim: int
    resolution: int
    channels: tuple[int, ...]  # feature maps of the blocks at 4, 8, ..., resolution
    c_dim: int = 0
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_features: int = 0  # hidden width of the mapping MLP (0: w_dim)
    architecture: str = "skip"
    conv_clamp: float | None = None
    resample_filter: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)

    def __post_init__(self) -> None:
        log2 = int(round(math.log2(self.resolution)))
        if self.resolution < 4 or 2 ** log2 != self.resolution:
            raise ValueError(f"resolution must be a power of two >= 4, not {self.resolution}")
        if len(self.channels) != log2 - 1:
            raise ValueError(f"need {log2 - 1} channel counts for {self.resolution}px, "
                             f"got {len(self.channels)}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}")

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        return 2 * len(self.channels)

    @property
    def embed_features(self) -> int:
        return self.w_dim if self.c_dim else 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["resample_filter"] = list(self.resample_filter)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StyleGAN2Config":
        known = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in known}
        d["channels"] = tuple(int(c) for c in d["channels"])
        if "resample_filter" in d:
            d["resample_filter"] = tuple(float(v) for v in d["resample_filter"])
        return cls(**d)


def _filter2d(taps: tuple[float, ...]) -> Tensor:
    f = torch.tensor(taps, dtype=torch.float32)
    f = f[:, None] * f[None, :] if f.ndim == 1 else f
    return f / f.sum()


class FullyConnected(nn.Module):
    """y = x W^T + b with effective W, b; optional leaky ReLU * sqrt(2)."""

    def __init__(self, in_features: int, out_features: int, act: str = "linear"):
        super().__init__()
        self.register_buffer("weight", torch.zeros(out_features, in_features))
        self.register_buffer("bias", torch.zeros(out_features))
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        if self.act == "linear":
            return torch.addmm(self.bias.unsqueeze(0), x, self.weight.t())
        return bias_act(x.matmul(self.weight.t()), self.bias, self.act, gain=SQRT2)


class Mapping(nn.Module):
    """z (and class c) to w: normalise, embed, MLP; w_avg is the centre truncation pulls toward."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.cfg = cfg
        hidden = cfg.mapping_features or cfg.w_dim
        if cfg.c_dim:
            self.embed = FullyConnected(cfg.c_dim, cfg.embed_features)
        widths = [cfg.z_dim + cfg.embed_features] + [hidden] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        for i in range(cfg.mapping_layers):
            self.add_module(f"fc{i}", FullyConnected(widths[i], widths[i + 1], act="lrelu"))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z: Tensor, c: Tensor | None = None, truncation: float | Tensor = 1.0,
                truncation_cutoff: int | None = None) -> Tensor:
        cfg = self.cfg
        x = normalize_2nd_moment(z.float())
        if cfg.c_dim:
            if c is None:
                c = torch.zeros(z.shape[0], cfg.c_dim, device=z.device)
            y = normalize_2nd_moment(self.embed(c.float()))
            x = torch.cat([x, y], dim=1)
        for i in range(cfg.mapping_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat(1, cfg.num_ws, 1)
        return truncate(ws, self.w_avg, truncation, truncation_cutoff)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up), noise, bias, leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, up: int,
                 conv_clamp: float | None, kernel: int = 3):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_ch)
        self.register_buffer("weight", torch.zeros(out_ch, in_ch, kernel, kernel))
        self.register_buffer("bias", torch.zeros(out_ch))
        self.register_buffer("noise_const", torch.zeros(resolution, resolution))
        self.register_buffer("noise_strength", torch.zeros(()))
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp
        self.fused = True  # grouped per-sample conv; the ONNX export turns it off (see modulated_conv2d)

    def forward(self, x: Tensor, w: Tensor, f: Tensor, noise: str = "const", gain: float = 1.0,
                noise_scale: Tensor | None = None, noise_seeds: Sequence[int] | None = None,
                noise_map: Tensor | None = None) -> Tensor:
        """`noise_scale` ([N]): per-sample multiplier of this layer's trained noise strength (None: 1);
        `noise_seeds`: per sample, the seed of this layer's random noise (None: torch's global generator);
        `noise_map` ([N, r, r]): per sample, the map used instead of the stored constant noise."""
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up, resample_filter=f,
                             fused=self.fused)
        strength = self.noise_strength if noise_scale is None else \
            self.noise_strength * noise_scale.to(x).reshape(-1, 1, 1, 1)
        if noise == "const":
            const = self.noise_const if noise_map is None else noise_map.to(x).unsqueeze(1)
            x.add_(const * strength)
        elif noise == "random":
            r = self.resolution
            z = torch.randn(x.shape[0], 1, r, r, device=x.device) if noise_seeds is None else \
                seeded_noise(noise_seeds, r, x.device)
            x.add_(z * strength)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, "lrelu", gain=SQRT2 * gain, clamp=clamp, inplace=True)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation (weight holds the 1/sqrt(fan_in) gain)."""

    def __init__(self, in_ch: int, img_ch: int, w_dim: int, conv_clamp: float | None):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_ch)
        self.register_buffer("weight", torch.zeros(img_ch, in_ch, 1, 1))
        self.register_buffer("bias", torch.zeros(img_ch))
        self.conv_clamp = conv_clamp
        self.fused = True

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=False, fused=self.fused)
        return bias_act(x, self.bias, clamp=self.conv_clamp, inplace=True)


class SkipConv(nn.Module):
    """The resnet architecture's 1x1 shortcut: 1x1 conv (effective weight, no bias) and 2x FIR upsample."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(out_ch, in_ch, 1, 1))

    def forward(self, x: Tensor, f: Tensor, gain: float) -> Tensor:
        x = torch.nn.functional.conv2d(x, self.weight)
        fw = f.shape[-1]
        p0, p1 = (fw + 1) // 2, (fw - 2) // 2
        x = upfirdn2d(x, f, up=2, padding=(p0, p1, p0, p1), gain=4)
        return x * gain


class Block(nn.Module):
    """One resolution: [const] or 2x-up conv0, conv1, and ToRGB (every block in skip, else only the last)."""

    def __init__(self, cfg: StyleGAN2Config, res: int, in_ch: int, out_ch: int, is_last: bool):
        super().__init__()
        self.res, self.in_ch, self.is_last = res, in_ch, is_last
        if in_ch == 0:
            self.register_buffer("const", torch.zeros(out_ch, res, res))
        else:
            self.conv0 = SynthesisLayer(in_ch, out_ch, cfg.w_dim, res, up=2, conv_clamp=cfg.conv_clamp)
        self.conv1 = SynthesisLayer(out_ch, out_ch, cfg.w_dim, res, up=1, conv_clamp=cfg.conv_clamp)
        self.has_torgb = is_last or cfg.architecture == "skip"
        if self.has_torgb:
            self.torgb = ToRGB(out_ch, cfg.img_channels, cfg.w_dim, cfg.conv_clamp)
        if cfg.architecture == "resnet" and in_ch > 0:
            self.skip = SkipConv(in_ch, out_ch)


@dataclass
class Op:
    """One step of synthesis: the style rows it reads, whether it adds noise, what it does to the state."""

    name: str
    rows: tuple[int, ...]
    noisy: bool
    fn: Callable[["SynthState", Tensor, str], None] = field(repr=False)
    conv_shapes: tuple[tuple[int, int, int, int, int], ...] = ()  # (out, in, kh, kw, side) per conv
    noise_ids: tuple[int, ...] = ()  # its layers' columns in SynthState.noise_scale


@dataclass
class SynthState:
    x: Tensor  # features
    img: Tensor  # RGB accumulator at x's resolution (zeros until the first ToRGB)
    noise_scale: Tensor | None = None  # (N, noise layers): multipliers of each layer's noise strength
    noise_seeds: tuple[int, ...] | None = None  # per sample, the seed its random noise is drawn from
    noise_maps: Sequence[Tensor] | None = None  # per noise layer, (N, r, r) maps replacing the constant noise


class Synthesis(nn.Module):
    """Blocks 4..resolution, flattened into ops so the studio can cut the forward pass between styles."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("resample_filter", _filter2d(cfg.resample_filter))
        res_list = cfg.block_resolutions
        for i, res in enumerate(res_list):
            in_ch = 0 if i == 0 else cfg.channels[i - 1]
            last = i == len(res_list) - 1
            self.add_module(f"b{res}", Block(cfg, res, in_ch, cfg.channels[i], is_last=last))

    def blocks(self) -> list[Block]:
        return [getattr(self, f"b{r}") for r in self.cfg.block_resolutions]

    def start(self, n: int) -> SynthState:
        b4 = self.blocks()[0]
        x = b4.const.unsqueeze(0).repeat(n, 1, 1, 1)
        return SynthState(x, torch.zeros(n, self.cfg.img_channels, 4, 4, device=x.device, dtype=x.dtype))

    def noise_layers(self) -> list[str]:
        """The layers with a noise input, in order (the columns of SynthState.noise_scale)."""
        return [f"b{b.res}.{c}" for b in self.blocks() for c in ("conv0", "conv1") if hasattr(b, c)]

    def ops(self) -> list[Op]:
        """The forward pass in order; ws rows follow the official indexing (a block's ToRGB shares its row
        with the next block's first conv)."""
        f = self.resample_filter
        resnet = self.cfg.architecture == "resnet"
        out: list[Op] = []
        row = 0
        nidx = {name: i for i, name in enumerate(self.noise_layers())}
        for blk in self.blocks():
            name = f"b{blk.res}"
            if blk.in_ch == 0:
                out.append(Op(f"{name}.conv1", (row,), True, _conv(blk.conv1, row, f, nidx[f"{name}.conv1"]),
                              _shapes(blk, "conv1"), (nidx[f"{name}.conv1"],)))
                row += 1
            elif resnet:
                ids = (nidx[f"{name}.conv0"], nidx[f"{name}.conv1"])
                out.append(Op(name, (row, row + 1), True, _resnet(blk, row, f, ids),
                              _shapes(blk, "conv0", "conv1"), ids))
                row += 2
            else:
                out.append(Op(f"{name}.conv0", (row,), True,
                              _conv(blk.conv0, row, f, nidx[f"{name}.conv0"], up_img=True),
                              _shapes(blk, "conv0"), (nidx[f"{name}.conv0"],)))
                out.append(Op(f"{name}.conv1", (row + 1,), True,
                              _conv(blk.conv1, row + 1, f, nidx[f"{name}.conv1"]),
                              _shapes(blk, "conv1"), (nidx[f"{name}.conv1"],)))
                row += 2
            if blk.has_torgb:
                out.append(Op(f"{name}.torgb", (row,), False, _torgb(blk.torgb, row), _shapes(blk, "torgb")))
        return out

    def forward(self, ws: Tensor, noise: str = "const") -> Tensor:
        st = self.start(ws.shape[0])
        for op in self.ops():
            op.fn(st, ws, noise)
        return st.img


def _shapes(blk: Block, *layers: str) -> tuple[tuple[int, int, int, int, int], ...]:
    """Each named layer's weight shape and the side of the grid it runs on (a 2x-up conv: its input's)."""
    out = []
    for name in layers:
        layer = getattr(blk, name)
        side = blk.res // 2 if getattr(layer, "up", 1) == 2 else blk.res
        out.append((*layer.weight.shape, side))
    return tuple(out)


def _scale(st: SynthState, i: int) -> Tensor | None:
    return None if st.noise_scale is None else st.noise_scale[:, i]


def _seeds(st: SynthState, i: int) -> tuple[int, ...] | None:
    return None if st.noise_seeds is None else tuple(layer_noise_seed(s, i) for s in st.noise_seeds)


def _map(st: SynthState, i: int) -> Tensor | None:
    return None if st.noise_maps is None else st.noise_maps[i]


def layer_noise_seed(seed: int, layer: int) -> int:
    """Noise layer `layer`'s seed for a sample's noise seed: a hash, so layers and nearby seeds share no
    stream (seed + layer would give seed 1's layer 0 the noise of seed 0's layer 1)."""
    digest = hashlib.blake2b(f"stylegan-noise/{seed}/{layer}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seeded_noise(seeds: Sequence[int], resolution: int, device: torch.device | str) -> Tensor:
    """(N, 1, r, r) standard normal noise, sample i drawn from seeds[i] alone: the same pixels whatever
    the batch, the device (drawn on the CPU) or what ran before."""
    rows = [torch.randn(1, resolution, resolution, generator=torch.Generator().manual_seed(int(s)))
            for s in seeds]
    return torch.stack(rows).to(device)


def _conv(layer: SynthesisLayer, row: int, f: Tensor, nid: int,
          up_img: bool = False) -> Callable[[SynthState, Tensor, str], None]:
    def fn(st: SynthState, ws: Tensor, noise: str) -> None:
        st.x = layer(st.x, ws[:, row], f, noise, noise_scale=_scale(st, nid), noise_seeds=_seeds(st, nid),
                     noise_map=_map(st, nid))
        if up_img:
            st.img = upsample2d(st.img, f)
    return fn


def _resnet(blk: Block, row: int, f: Tensor,
            nids: tuple[int, int]) -> Callable[[SynthState, Tensor, str], None]:
    g = math.sqrt(0.5)

    def fn(st: SynthState, ws: Tensor, noise: str) -> None:
        y = blk.skip(st.x, f, gain=g)
        x = blk.conv0(st.x, ws[:, row], f, noise, noise_scale=_scale(st, nids[0]),
                      noise_seeds=_seeds(st, nids[0]), noise_map=_map(st, nids[0]))
        st.x = y + blk.conv1(x, ws[:, row + 1], f, noise, gain=g, noise_scale=_scale(st, nids[1]),
                             noise_seeds=_seeds(st, nids[1]), noise_map=_map(st, nids[1]))
        st.img = upsample2d(st.img, f)
    return fn


def _torgb(layer: ToRGB, row: int) -> Callable[[SynthState, Tensor, str], None]:
    def fn(st: SynthState, ws: Tensor, noise: str) -> None:
        st.img = st.img + layer(st.x, ws[:, row])
    return fn


class StyleGAN2(nn.Module):
    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.cfg = cfg
        self.mapping = Mapping(cfg)
        self.synthesis = Synthesis(cfg)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation: float = 1.0,
                noise: str = "const") -> Tensor:
        return self.synthesis(self.mapping(z, c, truncation), noise)


def random_stylegan2(cfg: StyleGAN2Config, seed: int = 0) -> StyleGAN2:
    """A randomly initialised network (benchmarks and tests): weights at the scales training starts from."""
    net = StyleGAN2(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("resample_filter"):
                continue
            if leaf == "weight":
                fan_in = buf[0].numel()
                buf.copy_(torch.randn(buf.shape, generator=g) / math.sqrt(fan_in))
            elif leaf == "bias" and ".affine." in name:
                buf.copy_(1 + 0.1 * torch.randn(buf.shape, generator=g))
            elif leaf == "noise_strength":
                buf.fill_(0.1)
            elif leaf != "w_avg":
                scale = 0.1 if leaf == "bias" else 1.0
                buf.copy_(scale * torch.randn(buf.shape, generator=g))
        z = torch.randn(1000, cfg.z_dim, generator=g)
        c = None
        if cfg.c_dim:
            c = torch.nn.functional.one_hot(torch.randint(cfg.c_dim, (1000,), generator=g), cfg.c_dim).float()
        net.mapping.w_avg.copy_(net.mapping(z, c)[:, 0].mean(0))
    return net
