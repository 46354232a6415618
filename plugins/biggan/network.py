"""BigGAN-deep as pytorch-pretrained-biggan computes it, written from its documented behaviour.

Why functional and folded: every conv and linear is spectral-normed, and in eval mode (the default here)
the stored u and v give sigma = u . (W v) with no power iteration, so each effective weight is fixed at load
(W / sigma). The README's train-mode first call does one power iteration first; `power_iteration=True`
folds that instead. Standing batch-norm statistics are picked by truncation with the package's own
(swapped-weight) rule, per sample, so a batch may mix truncations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class BigGANConfig:
    """config.json as BigGANConfig reads it (json keys override its 128 px defaults)."""

    output_dim: int = 128
    z_dim: int = 128
    class_embed_dim: int = 128  # unused by the package: it assumes embed dim = z_dim
    channel_width: int = 128
    num_classes: int = 1000
    layers: tuple[tuple[bool, int, int], ...] = ()
    attention_layer_position: int = 8
    eps: float = 1e-4
    n_stats: int = 51

    @classmethod
    def from_json(cls, d: dict) -> "BigGANConfig":
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        if "layers" in kw:
            kw["layers"] = tuple((bool(u), int(a), int(b)) for u, a, b in kw["layers"])
        return cls(**kw)


def sn_weight(sd: dict[str, Tensor], name: str, eps: float, power_iteration: bool) -> Tensor:
    """The effective weight of spectral-normed layer `name`: weight_orig / (u . W v)."""
    w = sd[f"{name}.weight_orig"].float()
    u, v = sd[f"{name}.weight_u"].float(), sd[f"{name}.weight_v"].float()
    mat = w.reshape(w.shape[0], -1)
    if power_iteration:  # torch's spectral_norm in training mode: one step from the stored u
        v = F.normalize(mat.t() @ u, dim=0, eps=eps)
        u = F.normalize(mat @ v, dim=0, eps=eps)
    sigma = torch.dot(u, mat @ v)
    return w / sigma


def standing_stats(means: Tensor, variances: Tensor, truncation: Tensor,
                   n_stats: int) -> tuple[Tensor, Tensor]:
    """Per-sample (N, C) mean and variance for truncations (N,), exactly as BigGANBatchNorm picks them:
    coef, start = modf(t / (1 / (n_stats - 1))) in float64, then
    coef * row[start] + (1 - coef) * row[start+1]."""
    step = 1.0 / (n_stats - 1)
    rows_m, rows_v = [], []
    for t in truncation.detach().cpu().double().tolist():
        coef, start = math.modf(t / step)
        i = int(start)
        if coef != 0.0:
            rows_m.append(means[i] * coef + means[i + 1] * (1 - coef))
            rows_v.append(variances[i] * coef + variances[i + 1] * (1 - coef))
        else:
            rows_m.append(means[i])
            rows_v.append(variances[i])
    return torch.stack(rows_m), torch.stack(rows_v)


class StandingBN(nn.Module):
    """BigGANBatchNorm: never batch statistics; conditional ones scale by 1 + scale(cond) and shift by
    offset(cond) (bias-free spectral-normed linears), the last one has plain weight and bias."""

    def __init__(self, sd: dict[str, Tensor], name: str, cfg: BigGANConfig, sn: bool, conditional: bool):
        super().__init__()
        self.n_stats, self.eps, self.conditional = cfg.n_stats, cfg.eps, conditional
        self.register_buffer("means", sd[f"{name}.running_means"].float().clone())
        self.register_buffer("vars", sd[f"{name}.running_vars"].float().clone())
        if conditional:
            self.register_buffer("scale", sn_weight(sd, f"{name}.scale", cfg.eps, sn))
            self.register_buffer("offset", sn_weight(sd, f"{name}.offset", cfg.eps, sn))
        else:
            self.register_buffer("weight", sd[f"{name}.weight"].float().clone())
            self.register_buffer("bias", sd[f"{name}.bias"].float().clone())

    def forward(self, x: Tensor, truncation: Tensor, cond: Tensor | None) -> Tensor:
        mean, var = standing_stats(self.means, self.vars, truncation, self.n_stats)
        mean, var = mean.to(x.dtype)[:, :, None, None], var.to(x.dtype)[:, :, None, None]
        if self.conditional:
            assert cond is not None
            weight = 1 + F.linear(cond, self.scale.to(x.dtype))[:, :, None, None]
            bias = F.linear(cond, self.offset.to(x.dtype))[:, :, None, None]
            return (x - mean) / torch.sqrt(var + self.eps) * weight + bias
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight.to(x.dtype)[:, None, None] \
            + self.bias.to(x.dtype)[:, None, None]


class SNConv(nn.Module):
    def __init__(self, sd: dict[str, Tensor], name: str, cfg: BigGANConfig, sn: bool, padding: int = 0):
        super().__init__()
        self.register_buffer("weight", sn_weight(sd, name, cfg.eps, sn))
        b = sd.get(f"{name}.bias")
        self.register_buffer("bias", b.float().clone() if b is not None else None)
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        b = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv2d(x, self.weight.to(x.dtype), b, padding=self.padding)


class GenBlock(nn.Module):
    """BigGAN-deep block: four (standing BN, ReLU, conv) steps, 1x1 3x3 3x3 1x1, nearest 2x upsampling
    before the first 3x3; the shortcut keeps the first in/2 channels when the width changes."""

    def __init__(self, sd: dict[str, Tensor], name: str, cfg: BigGANConfig, sn: bool, up: bool):
        super().__init__()
        self.up = up
        self.bns = nn.ModuleList(StandingBN(sd, f"{name}.bn_{k}", cfg, sn, True) for k in range(4))
        self.convs = nn.ModuleList(SNConv(sd, f"{name}.conv_{k}", cfg, sn, padding=1 if k in (1, 2) else 0)
                                   for k in range(4))

    def forward(self, x: Tensor, truncation: Tensor, cond: Tensor) -> Tensor:
        x0 = x
        for k in range(4):
            x = F.relu(self.bns[k](x, truncation, cond))
            if k == 1 and self.up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.convs[k](x)
        if x0.shape[1] != x.shape[1]:
            x0 = x0[:, :x0.shape[1] // 2]
        if self.up:
            x0 = F.interpolate(x0, scale_factor=2, mode="nearest")
        return x + x0


class SelfAttn(nn.Module):
    def __init__(self, sd: dict[str, Tensor], name: str, cfg: BigGANConfig, sn: bool):
        super().__init__()
        for part in ("theta", "phi", "g", "o_conv"):
            self.add_module(part, SNConv(sd, f"{name}.snconv1x1_{part}", cfg, sn))
        self.register_buffer("gamma", sd[f"{name}.gamma"].float().clone())

    def forward(self, x: Tensor) -> Tensor:
        n, ch, h, w = x.shape
        theta = self.theta(x).view(n, ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(n, ch // 8, h * w // 4)
        attn = torch.softmax(torch.bmm(theta.permute(0, 2, 1), phi), dim=-1)
        g = F.max_pool2d(self.g(x), 2).view(n, ch // 2, h * w // 4)
        o = self.o_conv(torch.bmm(g, attn.permute(0, 2, 1)).view(n, ch // 2, h, w))
        return x + self.gamma.to(x.dtype) * o


class GenZ(nn.Module):
    """gen_z: the condition vector to a 4x4 map, reshaped TF-style (channels last in the linear output)."""

    def __init__(self, sd: dict[str, Tensor], cfg: BigGANConfig, sn: bool):
        super().__init__()
        self.register_buffer("weight", sn_weight(sd, "generator.gen_z", cfg.eps, sn))
        self.register_buffer("bias", sd["generator.gen_z.bias"].float().clone())
        self.ch = 16 * cfg.channel_width

    def forward(self, cond: Tensor) -> Tensor:
        x = F.linear(cond, self.weight.to(cond.dtype), self.bias.to(cond.dtype))
        return x.view(-1, 4, 4, self.ch).permute(0, 3, 1, 2).contiguous()


class ToRGB(nn.Module):
    """The last standing BN, ReLU, conv_to_rgb, its first 3 channels, tanh."""

    def __init__(self, sd: dict[str, Tensor], cfg: BigGANConfig, sn: bool):
        super().__init__()
        self.bn = StandingBN(sd, "generator.bn", cfg, sn, False)
        self.conv = SNConv(sd, "generator.conv_to_rgb", cfg, sn, padding=1)

    def forward(self, x: Tensor, truncation: Tensor) -> Tensor:
        return torch.tanh(self.conv(F.relu(self.bn(x, truncation, None)))[:, :3])


def layer_kinds(cfg: BigGANConfig) -> list[tuple[str, bool]]:
    """("block" | "attention", up) for generator.layers in order: SelfAttn is inserted at
    attention_layer_position, shifting the later blocks' indices by one."""
    out: list[tuple[str, bool]] = []
    for i, (up, _, _) in enumerate(cfg.layers):
        if i == cfg.attention_layer_position:
            out.append(("attention", False))
        out.append(("block", up))
    return out


def expected_shapes(cfg: BigGANConfig) -> dict[str, tuple[int, ...]]:
    """Every key and shape a pytorch_model.bin for `cfg` holds (what sniff and load check)."""
    ch, z2 = cfg.channel_width, 2 * cfg.z_dim
    out: dict[str, tuple[int, ...]] = {"embeddings.weight": (cfg.z_dim, cfg.num_classes)}

    def sn(name: str, shape: tuple[int, ...], bias: bool) -> None:
        out[f"{name}.weight_orig"] = shape
        out[f"{name}.weight_u"] = (shape[0],)
        out[f"{name}.weight_v"] = (math.prod(shape[1:]),)
        if bias:
            out[f"{name}.bias"] = (shape[0],)

    sn("generator.gen_z", (4 * 4 * 16 * ch, z2), True)
    idx = 0
    for i, (up, cin, cout) in enumerate(cfg.layers):
        if i == cfg.attention_layer_position:
            c, p = ch * cin, f"generator.layers.{idx}"
            out[f"{p}.gamma"] = (1,)
            parts = (("theta", c // 8, c), ("phi", c // 8, c), ("g", c // 2, c), ("o_conv", c, c // 2))
            for part, o, k in parts:
                sn(f"{p}.snconv1x1_{part}", (o, k, 1, 1), False)
            idx += 1
        p, cin, cout = f"generator.layers.{idx}", ch * cin, ch * cout
        mid = cin // 4
        for k, (c_in, c_out, ks) in enumerate(((cin, mid, 1), (mid, mid, 3), (mid, mid, 3), (mid, cout, 1))):
            out[f"{p}.bn_{k}.running_means"] = (cfg.n_stats, c_in)
            out[f"{p}.bn_{k}.running_vars"] = (cfg.n_stats, c_in)
            sn(f"{p}.bn_{k}.scale", (c_in, z2), False)
            sn(f"{p}.bn_{k}.offset", (c_in, z2), False)
            sn(f"{p}.conv_{k}", (c_out, c_in, ks, ks), True)
        idx += 1
    out["generator.bn.weight"] = (ch,)
    out["generator.bn.bias"] = (ch,)
    out["generator.bn.running_means"] = (cfg.n_stats, ch)
    out["generator.bn.running_vars"] = (cfg.n_stats, ch)
    sn("generator.conv_to_rgb", (ch, ch, 3, 3), True)
    return out


def resolution(cfg: BigGANConfig) -> int:
    return 4 * 2 ** sum(up for up, _, _ in cfg.layers)
