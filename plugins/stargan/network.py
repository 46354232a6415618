"""The StarGAN (v1, yunjey/stargan) generator, rebuilt from a state_dict's shapes in our own torch code.

Layout (nn.Sequential `main`, parameter-free ReLU/Tanh take indices too): 7x7 conv on [image, labels]
+ IN + ReLU; `n_down` 4x4 stride-2 convs doubling the width, each + IN + ReLU; `repeat_num` residual
blocks x + IN(conv(ReLU(IN(conv(x))))); `n_down` 4x4 stride-2 transposed convs halving it, each + IN +
ReLU; 7x7 conv to RGB + Tanh. No conv has a bias. The official code always uses n_down = 2.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.errors import CheckpointError


@dataclass(frozen=True)
class StarGANConfig:
    conv_dim: int
    c_dim: int
    repeat_num: int
    n_down: int = 2

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this for the down/up path to return the input's size."""
        return 2 ** self.n_down


class InstanceNorm(nn.Module):
    """InstanceNorm2d(affine=True, track_running_stats=True) as the official test runs it: normalised by
    each sample's own statistics (the solver never calls G.eval()). The running buffers are kept so the
    state_dict loads strictly; `use_running` switches to them (what eval mode would do) for checks only."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.use_running = False
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        if self.use_running:
            return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                   use_input_stats=False, eps=self.eps)
        return F.instance_norm(x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps)


class ResidualBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), InstanceNorm(dim), nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), InstanceNorm(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.main(x)


class StarGANv1(nn.Module):
    """forward(x, c): x (N, 3, H, W) in [-1, 1], c (N, c_dim) target labels -> (N, 3, H, W) in (-1, 1)."""

    def __init__(self, cfg: StarGANConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.conv_dim
        layers: list[nn.Module] = [nn.Conv2d(3 + cfg.c_dim, d, 7, 1, 3, bias=False), InstanceNorm(d),
                                   nn.ReLU(inplace=True)]
        for _ in range(cfg.n_down):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1, bias=False), InstanceNorm(d * 2), nn.ReLU(inplace=True)]
            d *= 2
        layers += [ResidualBlock(d) for _ in range(cfg.repeat_num)]
        for _ in range(cfg.n_down):
            layers += [nn.ConvTranspose2d(d, d // 2, 4, 2, 1, bias=False), InstanceNorm(d // 2),
                       nn.ReLU(inplace=True)]
            d //= 2
        layers += [nn.Conv2d(d, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def blocks(self) -> list[tuple[str, nn.Module]]:
        """Named stages in execution order: input, down1.., res1.., up1.., output."""
        m, n, r = self.main, self.cfg.n_down, self.cfg.repeat_num
        out = [("input", m[0:3])]
        i = 3
        for k in range(n):
            out.append((f"down{k + 1}", m[i:i + 3]))
            i += 3
        for k in range(r):
            out.append((f"res{k + 1}", m[i]))
            i += 1
        for k in range(n):
            out.append((f"up{k + 1}", m[i:i + 3]))
            i += 3
        out.append(("output", m[i:i + 2]))
        return out

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.main(with_labels(x, c))

    def use_running_stats(self, flag: bool) -> None:
        for mod in self.modules():
            if isinstance(mod, InstanceNorm):
                mod.use_running = flag


def with_labels(x: Tensor, c: Tensor) -> Tensor:
    """The first conv's input: the image channels, then each label as a constant plane."""
    c = c.to(x.dtype).reshape(c.shape[0], c.shape[1], 1, 1).expand(-1, -1, x.shape[2], x.shape[3])
    return torch.cat([x, c], dim=1)


_TOP = re.compile(r"main\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_RES = re.compile(r"main\.(\d+)\.main\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def strip_module_prefix(sd: dict[str, Any]) -> dict[str, Any]:
    """Drop DataParallel's 'module.' so checkpoints saved from a wrapped net load too."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def infer_config(sd: dict[str, Any]) -> StarGANConfig | None:
    """The config when `sd` is a StarGAN v1 generator, else None (cheap, so sniffing can say no)."""
    top: dict[int, Any] = {}
    res: set[int] = set()
    for k, v in sd.items():
        if (m := _TOP.match(k)) is not None:
            if m.group(2) == "weight" and getattr(v, "ndim", 0) == 4:
                top[int(m.group(1))] = v
        elif (m := _RES.match(k)) is not None:
            res.add(int(m.group(1)))
        else:
            return None
    if 0 not in top or not res:
        return None
    first = top[0]
    if tuple(first.shape[2:]) != (7, 7) or first.shape[1] <= 3:
        return None
    conv_dim, c_dim = int(first.shape[0]), int(first.shape[1]) - 3
    n_down = sum(1 for i, w in top.items() if i < min(res) and tuple(w.shape[2:]) == (4, 4))
    cfg = StarGANConfig(conv_dim, c_dim, len(res), n_down)
    if n_down < 1 or sorted(res) != list(range(3 + 3 * n_down, 3 + 3 * n_down + len(res))):
        return None
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        expected = StarGANv1(cfg).state_dict()
    if any(k not in expected or tuple(expected[k].shape) != tuple(getattr(sd[k], "shape", ())) for k in sd):
        return None
    return cfg


def load_weights(net: StarGANv1, sd: dict[str, Tensor]) -> None:
    """Strict load, tolerating the num_batches_tracked buffers that PyTorch 0.4.0 checkpoints lack."""
    own = net.state_dict()
    full = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    for k, v in own.items():
        if k.endswith("num_batches_tracked") and k not in full:
            full[k] = v
    try:
        net.load_state_dict(full, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"weights do not fit the inferred StarGAN layout: {first}") from None
