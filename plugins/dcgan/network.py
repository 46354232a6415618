"""The DCGAN generator rebuilt from a state_dict's shapes."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from studio.errors import CheckpointError

PREFIXES = ("main.", "model.", "")  # pytorch/examples, huggan, a bare Sequential


@dataclass(frozen=True)
class DCGANConfig:
    """Enough to rebuild the Sequential: per conv layer (in, out, kernel, bias), and the key prefix."""

    prefix: str
    convs: tuple[tuple[int, int, int, bool], ...]
    batchnorm: tuple[bool, ...]  # per conv except the last: followed by BatchNorm2d

    @property
    def z_dim(self) -> int:
        return self.convs[0][0]

    @property
    def channels(self) -> int:
        return self.convs[-1][1]

    @property
    def resolution(self) -> int:
        size = self.convs[0][2]  # first layer: stride 1, pad 0 -> k x k from 1 x 1
        for _, _, k, _ in self.convs[1:]:
            size = (size - 1) * 2 - 2 + k
        return size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DCGANConfig":
        return cls(d["prefix"], tuple(tuple(c) for c in d["convs"]), tuple(d["batchnorm"]))


def strip_module_prefix(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop DataParallel's 'module.' so checkpoints saved from a wrapped net load too."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def infer_config(sd: dict[str, Tensor]) -> DCGANConfig | None:
    """The config when `sd` is a DCGAN generator state_dict, else None (so sniffing can say no cheaply)."""
    for prefix in PREFIXES:
        pat = re.compile(re.escape(prefix) + r"(\d+)\.(\w+)$")
        idx: dict[int, dict[str, Tensor]] = {}
        for k, v in sd.items():
            m = pat.match(k)
            if m is None:
                idx = {}
                break
            idx.setdefault(int(m.group(1)), {})[m.group(2)] = v
        if idx:
            return _config_from_layers(prefix, idx)
    return None


def _config_from_layers(prefix: str, idx: dict[int, dict[str, Tensor]]) -> DCGANConfig | None:
    convs: list[tuple[int, int, int, bool]] = []
    bns: list[bool] = []
    for i in sorted(idx):
        p = idx[i]
        w = p.get("weight")
        if w is None or not hasattr(w, "ndim"):
            return None
        if w.ndim == 4:
            if w.shape[2] != w.shape[3] or (convs and convs[-1][1] != w.shape[0]):
                return None
            convs.append((int(w.shape[0]), int(w.shape[1]), int(w.shape[2]), "bias" in p))
            bns.append(False)
        elif w.ndim == 1 and "running_mean" in p and convs and not bns[-1] and w.shape[0] == convs[-1][1]:
            bns[-1] = True
        else:
            return None
    if len(convs) < 2 or bns[-1] or convs[-1][1] not in (1, 3):
        return None
    cfg = DCGANConfig(prefix, tuple(convs), tuple(bns[:-1]))
    if cfg.resolution < 4 or _indices(cfg) != sorted(idx):
        return None
    return cfg


def _indices(cfg: DCGANConfig) -> list[int]:
    """Sequential indices holding parameters in the canonical layout: conv, [bn], act, conv, ..."""
    out, i = [], 0
    for n, _ in enumerate(cfg.convs):
        out.append(i)
        i += 1
        if n < len(cfg.convs) - 1:
            if cfg.batchnorm[n]:
                out.append(i)
                i += 1
            i += 1  # activation
    return out


def build(cfg: DCGANConfig, activation: str = "ReLU") -> nn.Sequential:
    """The pytorch/examples network: ConvT(k, s1, p0) then ConvT(k, s2, p1) blocks, BN + ReLU, Tanh
    (`activation`: what the blocks use instead of ReLU, e.g. "LeakyReLU(0.2)": a state_dict cannot say)."""
    from latent_studio_plugins.dcgan.activations import make_activation

    layers: list[nn.Module] = []
    for n, (cin, cout, k, bias) in enumerate(cfg.convs):
        stride, pad = (1, 0) if n == 0 else (2, 1)
        layers.append(nn.ConvTranspose2d(cin, cout, k, stride, pad, bias=bias))
        if n < len(cfg.convs) - 1:
            if cfg.batchnorm[n]:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU(True) if activation == "ReLU" else make_activation(activation))
    layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def load_weights(net: nn.Sequential, cfg: DCGANConfig, sd: dict[str, Tensor]) -> None:
    own = {k[len(cfg.prefix):]: v.float() if v.is_floating_point() else v
           for k, v in sd.items() if k.startswith(cfg.prefix)}
    try:
        net.load_state_dict(own, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit the inferred DCGAN layout: {str(exc).splitlines()[0]}") from None
