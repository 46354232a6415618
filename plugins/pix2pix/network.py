"""The junyanz pytorch-CycleGAN-and-pix2pix generators (models/networks.py), rebuilt from a state_dict's
shapes in our own torch code, under the official module names so the file loads strictly.

- ResnetGenerator (resnet_6blocks / resnet_9blocks, CycleGAN's default): `model` Sequential of ReflectionPad(3),
  7x7 conv, norm, ReLU; two 3x3 stride-2 convs (+ norm, ReLU); n residual blocks x + conv_block(x) with
  conv_block = [ReflectionPad(1), conv3x3, norm, ReLU, (Dropout), ReflectionPad(1), conv3x3, norm]; two
  ConvTranspose2d(k3, s2, p1, output_padding 1) (+ norm, ReLU); ReflectionPad(3), 7x7 conv, Tanh.
- UnetGenerator (unet_128 / unet_256, pix2pix's default): nested UnetSkipConnectionBlocks under
  `model.model`; a block returns cat([x, model(x)]) (skip first), the outermost model(x) alone; Dropout last in
  the num_downs-5 intermediate ngf*8 blocks.

Convs have biases exactly when the norm is InstanceNorm (use_bias), except the U-Net's outermost up conv,
which always has one. Norm and dropout layers are latent_studio_plugins.pix2pix.norms'.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from latent_studio_plugins.pix2pix.norms import Dropout, Norm

@dataclass(frozen=True)
class ResnetConfig:
    input_nc: int
    output_nc: int
    ngf: int
    n_blocks: int
    norm: str
    dropout: bool

    @property
    def name(self) -> str:
        return f"resnet_{self.n_blocks}blocks"


@dataclass(frozen=True)
class UnetConfig:
    input_nc: int
    output_nc: int
    ngf: int
    num_downs: int
    norm: str
    dropout: bool = True  # not in the keys: pix2pix's default (--no_dropout not set)

    @property
    def name(self) -> str:
        return f"unet_{2 ** self.num_downs}"


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool, bias: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), Norm(dim, norm),
                                   nn.ReLU()]
        if dropout:
            layers.append(Dropout())
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), Norm(dim, norm)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, cfg: ResnetConfig):
        super().__init__()
        self.cfg = cfg
        bias, ngf, norm = cfg.norm == "instance", cfg.ngf, cfg.norm
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(cfg.input_nc, ngf, 7, bias=bias),
                                   Norm(ngf, norm), nn.ReLU()]
        for i in range(2):
            m = 2 ** i
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1, bias=bias), Norm(ngf * m * 2, norm), nn.ReLU()]
        layers += [ResnetBlock(ngf * 4, norm, cfg.dropout, bias) for _ in range(cfg.n_blocks)]
        for i in range(2):
            m = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1, bias=bias),
                       Norm(ngf * m // 2, norm), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, cfg.output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def blocks(self) -> list[tuple[str, nn.Module]]:
        """Named stages in execution order: input, down1-2, res1..resN, up1-2, output."""
        m, n = self.model, self.cfg.n_blocks
        out = [("input", m[0:4]), ("down1", m[4:7]), ("down2", m[7:10])]
        out += [(f"res{k + 1}", m[10 + k]) for k in range(n)]
        out += [("up1", m[10 + n:13 + n]), ("up2", m[13 + n:16 + n]), ("output", m[16 + n:19 + n])]
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class UnetBlock(nn.Module):
    """UnetSkipConnectionBlock: `model` holds the official layer order (see the module docstring)."""

    def __init__(self, outer_nc: int, inner_nc: int, norm: str, input_nc: int | None = None,
                 submodule: "UnetBlock | None" = None, outermost: bool = False, innermost: bool = False,
                 dropout: bool = False):
        super().__init__()
        self.outermost, self.innermost = outermost, innermost
        bias = norm == "instance"
        input_nc = outer_nc if input_nc is None else input_nc
        down = nn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=bias)
        if outermost:
            assert submodule is not None
            layers = [down, submodule, nn.ReLU(), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(),
                      nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias), Norm(outer_nc, norm)]
        else:
            assert submodule is not None
            layers = [nn.LeakyReLU(0.2), down, Norm(inner_nc, norm), submodule, nn.ReLU(),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias), Norm(outer_nc, norm)]
            if dropout:
                layers.append(Dropout())
        self.model = nn.Sequential(*layers)
        self.channels = outer_nc  # the channels of this block's input (and of its up path's output)

    def down(self) -> nn.Module:
        m = self.model
        return m[0] if self.outermost else (m[0:2] if self.innermost else m[0:3])

    def up(self) -> nn.Module:
        m = self.model
        return m[2:] if self.outermost or self.innermost else m[4:]

    def forward(self, x: Tensor) -> Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    def __init__(self, cfg: UnetConfig):
        super().__init__()
        self.cfg = cfg
        ngf, norm = cfg.ngf, cfg.norm
        block = UnetBlock(ngf * 8, ngf * 8, norm, innermost=True)
        for _ in range(cfg.num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, norm, submodule=block, dropout=cfg.dropout)
        block = UnetBlock(ngf * 4, ngf * 8, norm, submodule=block)
        block = UnetBlock(ngf * 2, ngf * 4, norm, submodule=block)
        block = UnetBlock(ngf, ngf * 2, norm, submodule=block)
        self.model = UnetBlock(cfg.output_nc, ngf, norm, input_nc=cfg.input_nc, submodule=block, outermost=True)

    def chain(self) -> list[UnetBlock]:
        """The blocks from the outermost to the innermost."""
        out = [self.model]
        while not out[-1].innermost:
            out.append(out[-1].model[1] if out[-1].outermost else out[-1].model[3])
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def number_layers(nets: list[nn.Module], start: int = 0) -> int:
    """Give every Norm and Dropout an ident unique across `nets` (their statistics' and masks' key)."""
    i = start
    for net in nets:
        for m in net.modules():
            if isinstance(m, (Norm, Dropout)):
                m.ident = i
                i += 1
    return i


# -- reading a state_dict --------------------------------------------------------------------------------
_RES_KEY = re.compile(r"model\.(\d+)\.conv_block\.(\d+)\.")
_IN_LEGACY = ("running_mean", "running_var", "num_batches_tracked")


def strip_prefixes(sd: dict[str, Any]) -> dict[str, Any]:
    """Drop DataParallel's 'module.' and torch.compile's '_orig_mod.' (files saved while wrapped)."""
    for p in ("module.", "_orig_mod."):
        if sd and all(k.startswith(p) for k in sd):
            sd = {k[len(p):]: v for k, v in sd.items()}
    return sd


def _norm_kind(sd: dict[str, Any], conv_bias_key: str) -> str:
    if any(k.endswith(".weight") and getattr(v, "ndim", 0) == 1 for k, v in sd.items()):
        return "batch"  # only BatchNorm (affine) has 1-D weights
    return "instance" if conv_bias_key in sd else "none"


def infer_config(sd: dict[str, Any]) -> ResnetConfig | UnetConfig | None:
    """The generator config when `sd` is a junyanz ResNet or U-Net generator, else None (cheap, so a sniff
    can say no); the InstanceNorm running-stat keys old files carry are allowed (see `drop_legacy`)."""
    if not sd or not all(isinstance(k, str) for k in sd):
        return None
    cfg: ResnetConfig | UnetConfig | None = None
    try:
        if "model.model.0.weight" in sd:
            w0, wt = sd["model.model.0.weight"], sd.get("model.model.3.weight")
            if wt is None or w0.ndim != 4 or tuple(w0.shape[2:]) != (4, 4):
                return None
            # every non-outermost block's down conv is its model.1; the deepest one's path counts the nesting
            depth = max(k.count("model.3.") for k in sd if k.startswith("model.model.1.") and k.endswith("model.1.weight"))
            norm = _norm_kind(sd, "model.model.0.bias")
            cfg = UnetConfig(int(w0.shape[1]), int(wt.shape[1]), int(w0.shape[0]), depth + 2, norm)
            if cfg.num_downs < 5:
                return None
        elif "model.1.weight" in sd:
            w0 = sd["model.1.weight"]
            if w0.ndim != 4 or tuple(w0.shape[2:]) != (7, 7):
                return None
            blocks = {int(m.group(1)) for k in sd if (m := _RES_KEY.match(k))}
            conv6 = any(_RES_KEY.match(k) and k.endswith("conv_block.6.weight") and sd[k].ndim == 4 for k in sd)
            if not blocks:
                return None
            norm = _norm_kind(sd, "model.1.bias")
            last = max(int(k.split(".")[1]) for k in sd if re.match(r"model\.\d+\.weight$", k))
            cfg = ResnetConfig(int(w0.shape[1]), int(sd[f"model.{last}.weight"].shape[0]), int(w0.shape[0]),
                               len(blocks), norm, dropout=conv6)
        else:
            return None
    except (AttributeError, KeyError, ValueError, TypeError):
        return None
    expected = expected_shapes(cfg)
    sd = drop_legacy(sd, cfg)
    if set(sd) - set(expected) or set(expected) - set(sd) - {k for k in expected if k.endswith("num_batches_tracked")}:
        return None
    if any(tuple(getattr(sd[k], "shape", ())) != expected[k] for k in sd):
        return None
    return cfg


def expected_shapes(cfg: ResnetConfig | UnetConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        net = build(cfg)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def build(cfg: ResnetConfig | UnetConfig) -> nn.Module:
    return ResnetGenerator(cfg) if isinstance(cfg, ResnetConfig) else UnetGenerator(cfg)


def drop_legacy(sd: dict[str, Any], cfg: ResnetConfig | UnetConfig) -> dict[str, Any]:
    """What BaseModel.__patch_instance_norm_state_dict does: InstanceNorm's running_mean/var (PyTorch <= 0.3,
    or the spring-2018 track_running_stats=True) and num_batches_tracked are dropped, their values unused."""
    if cfg.norm == "batch":
        return sd
    return {k: v for k, v in sd.items() if not k.endswith(_IN_LEGACY)}


def load_weights(net: nn.Module, sd: dict[str, Any], name: str) -> None:
    """Strict load (after dropping the legacy keys), tolerating BatchNorm files from PyTorch 0.4.0 that lack
    num_batches_tracked."""
    from studio.errors import CheckpointError

    cfg = net.cfg  # type: ignore[attr-defined]
    full = {k: (v.float() if v.is_floating_point() else v) for k, v in drop_legacy(sd, cfg).items()}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked") and k not in full:
            full[k] = v
    try:
        net.load_state_dict(full, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{name}: weights do not fit the inferred {cfg.name} layout: "
                              f"{str(exc).splitlines()[0]}") from None
