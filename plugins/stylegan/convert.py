"""Mapping each official weight layout onto our one network (network.py): names, shapes and gains.

rosinality/stylegan2-pytorch stores raw weights and applies equalized-lr scales at run time with constants in
its code; NVlabs records each layer's gain on the module (weight_gain, bias_gain), which we read from the
pickle rather than assume. Both become effective tensors under our names.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import torch
from torch import Tensor

from latent_studio_plugins.stylegan.network import StyleGAN2, StyleGAN2Config
from studio.errors import CheckpointError

ROSINALITY_LR_MLP = 0.01  # Generator(lr_mlp=0.01) default; train.py never changes it


# -- rosinality ----------------------------------------------------------------------------------------

def is_rosinality(sd: Any) -> bool:
    keys = ("input.input", "conv1.conv.weight", "style.1.weight")
    return isinstance(sd, dict) and all(k in sd for k in keys)


def rosinality_to_canonical(sd: dict[str, Tensor], latent_avg: Tensor | None = None,
                            lr_mlp: float = ROSINALITY_LR_MLP) -> tuple[StyleGAN2Config, dict[str, Tensor]]:
    """Config (channel counts from tensor shapes, never from the code's hard-coded table) and our state."""
    if not is_rosinality(sd):
        raise CheckpointError("not a rosinality stylegan2-pytorch generator state_dict")
    sd = {k: v.float() for k, v in sd.items() if torch.is_tensor(v)}
    try:
        n_mlp = max(int(m.group(1)) for k in sd if (m := re.match(r"style\.(\d+)\.weight$", k)))
        n_rgbs = 1 + len({int(m.group(1)) for k in sd if (m := re.match(r"to_rgbs\.(\d+)\.", k))})
        resolution = 4 * 2 ** (n_rgbs - 1)
        w_dim = sd["style.1.weight"].shape[1]
        channels = [sd["conv1.conv.weight"].shape[1]] + [sd[f"convs.{2 * k}.conv.weight"].shape[1]
                                                         for k in range(n_rgbs - 1)]
        img_channels = sd["to_rgb1.conv.weight"].shape[1]
        kernel = sd.get("convs.0.conv.blur.kernel", sd.get("to_rgbs.0.upsample.kernel"))
        taps = _separable_taps(kernel) if kernel is not None else (1.0, 3.0, 3.0, 1.0)
        cfg = StyleGAN2Config(z_dim=w_dim, w_dim=w_dim, resolution=resolution, channels=tuple(channels),
                              img_channels=img_channels, mapping_layers=n_mlp, resample_filter=taps)
        out: dict[str, Tensor] = {}
        for i in range(n_mlp):
            w = sd[f"style.{i + 1}.weight"]
            out[f"mapping.fc{i}.weight"] = w * (lr_mlp / math.sqrt(w.shape[1]))
            out[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.bias"] * lr_mlp
        out["mapping.w_avg"] = (latent_avg.reshape(-1).float() if latent_avg is not None
                                else torch.zeros(w_dim))
        out["synthesis.b4.const"] = sd["input.input"][0]
        layers = [("b4.conv1", "conv1", 0)]
        for k in range(n_rgbs - 1):
            res = 8 * 2 ** k
            layers += [(f"b{res}.conv0", f"convs.{2 * k}", 2 * k + 1),
                       (f"b{res}.conv1", f"convs.{2 * k + 1}", 2 * k + 2)]
        for ours, theirs, noise_idx in layers:
            w = sd[f"{theirs}.conv.weight"][0]
            p = f"synthesis.{ours}"
            out[f"{p}.weight"] = w * (1 / math.sqrt(w[0].numel()))
            out[f"{p}.bias"] = sd[f"{theirs}.activate.bias"]
            out[f"{p}.noise_strength"] = sd[f"{theirs}.noise.weight"].reshape(())
            out[f"{p}.noise_const"] = sd[f"noises.noise_{noise_idx}"][0, 0]
            _affine(out, p, sd, f"{theirs}.conv.modulation")
        rgbs = [("b4.torgb", "to_rgb1")]
        rgbs += [(f"b{8 * 2 ** k}.torgb", f"to_rgbs.{k}") for k in range(n_rgbs - 1)]
        for ours, theirs in rgbs:
            w = sd[f"{theirs}.conv.weight"][0]
            p = f"synthesis.{ours}"
            out[f"{p}.weight"] = w * (1 / math.sqrt(w[0].numel()))
            out[f"{p}.bias"] = sd[f"{theirs}.bias"].reshape(-1)
            _affine(out, p, sd, f"{theirs}.conv.modulation")
    except (KeyError, IndexError, ValueError) as exc:
        raise CheckpointError(f"incomplete rosinality StyleGAN2 generator: missing or malformed {exc}") \
            from None
    return cfg, out


def _affine(out: dict[str, Tensor], ours: str, sd: dict[str, Tensor], theirs: str) -> None:
    w = sd[f"{theirs}.weight"]
    out[f"{ours}.affine.weight"] = w * (1 / math.sqrt(w.shape[1]))  # EqualLinear(lr_mul=1)
    out[f"{ours}.affine.bias"] = sd[f"{theirs}.bias"]


def _separable_taps(k: Tensor) -> tuple[float, ...]:
    """1-D taps whose normalised outer product is the stored 2-D FIR kernel (any gain drops out)."""
    k = k.float()
    k = k / k.sum()
    taps = k.sum(dim=1)
    if not torch.allclose(taps[:, None] * taps[None, :], k, atol=1e-6):
        raise CheckpointError("resampling filter is not separable; only [1, 3, 3, 1]-style filters work")
    return tuple(float(v) for v in taps / taps.max())


# -- NVlabs ----------------------------------------------------------------------------------------------

class NVNode:
    """Stand-in for one pickled persistent module: its class name and __dict__, and nothing that runs."""

    def __init__(self, class_name: str, state: dict):
        self.class_name = class_name
        self.state = state

    def child(self, name: str) -> "NVNode":
        node = (self.state.get("_modules") or {}).get(name)
        if not isinstance(node, NVNode):
            raise CheckpointError(f"{self.class_name} has no submodule {name!r}")
        return node

    def has(self, name: str) -> bool:
        return isinstance((self.state.get("_modules") or {}).get(name), NVNode)

    def tensor(self, name: str) -> Tensor:
        for group in ("_parameters", "_buffers"):
            t = (self.state.get(group) or {}).get(name)
            if torch.is_tensor(t):
                return t.detach().float()
        raise CheckpointError(f"{self.class_name} has no tensor {name!r}")

    def attr(self, name: str, default: Any = None) -> Any:
        return self.state.get(name, default)


def nvlabs_to_canonical(G: NVNode) -> tuple[StyleGAN2Config, dict[str, Tensor]]:
    """Rebuild a stylegan2-ada-pytorch Generator from its recorded constructor kwargs and tensors."""
    if G.class_name != "Generator":
        raise CheckpointError(f"expected an NVlabs Generator, found {G.class_name}")
    mapping, synthesis = G.child("mapping"), G.child("synthesis")
    try:
        z_dim, c_dim, w_dim = int(G.attr("z_dim")), int(G.attr("c_dim")), int(G.attr("w_dim"))
        resolution, img_channels = int(G.attr("img_resolution")), int(G.attr("img_channels"))
        n_map = _mapping_layers(mapping)
        block_res = list(synthesis.attr("block_resolutions"))
        blocks = [synthesis.child(f"b{r}") for r in block_res]
        channels = tuple(int(b.tensor("const").shape[0]) if i == 0
                         else int(b.child("conv0").tensor("weight").shape[0]) for i, b in enumerate(blocks))
        archs = {b.attr("architecture") for b in blocks}
        clamps = {b.attr("conv_clamp") for b in blocks}
        if len(archs) != 1 or len(clamps) != 1:
            raise CheckpointError("blocks with mixed architectures or clamps are not supported")
        taps = _separable_taps(blocks[0].tensor("resample_filter"))
        hidden = int(mapping.child("fc0").tensor("weight").shape[0]) if n_map > 1 else w_dim
        clamp = clamps.pop()
        cfg = StyleGAN2Config(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, resolution=resolution, channels=channels,
                              img_channels=img_channels, mapping_layers=n_map, mapping_features=hidden,
                              architecture=str(archs.pop()),
                              conv_clamp=None if clamp is None else float(clamp),
                              resample_filter=taps)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"NVlabs generator has unexpected settings: {exc}") from None
    if int(G.attr("num_ws", cfg.num_ws)) != cfg.num_ws:
        raise CheckpointError(f"NVlabs generator has {G.attr('num_ws')} style inputs; expected {cfg.num_ws}")
    out: dict[str, Tensor] = {}
    names = [f"fc{i}" for i in range(n_map)] + (["embed"] if c_dim else [])
    for n in names:
        _fc(out, f"mapping.{n}", mapping.child(n))
    try:
        out["mapping.w_avg"] = mapping.tensor("w_avg")
    except CheckpointError:
        last = out.get(f"mapping.fc{n_map - 1}.weight")  # sized by stored weights, never by the claimed w_dim
        out["mapping.w_avg"] = torch.zeros(last.shape[0] if last is not None else 0)
    for i, (res, b) in enumerate(zip(block_res, blocks)):
        p = f"synthesis.b{res}"
        if i == 0:
            out[f"{p}.const"] = b.tensor("const")
        for conv in ("conv0", "conv1"):
            if not b.has(conv):
                continue
            layer = b.child(conv)
            if layer.attr("activation", "lrelu") != "lrelu" or not layer.attr("use_noise", True):
                raise CheckpointError(f"{p}.{conv}: only leaky-ReLU layers with noise inputs are supported")
            out[f"{p}.{conv}.weight"] = layer.tensor("weight")
            out[f"{p}.{conv}.bias"] = layer.tensor("bias")
            out[f"{p}.{conv}.noise_const"] = layer.tensor("noise_const")
            out[f"{p}.{conv}.noise_strength"] = layer.tensor("noise_strength").reshape(())
            _fc(out, f"{p}.{conv}.affine", layer.child("affine"))
        if b.has("torgb"):
            rgb = b.child("torgb")
            out[f"{p}.torgb.weight"] = rgb.tensor("weight") * float(rgb.attr("weight_gain"))
            out[f"{p}.torgb.bias"] = rgb.tensor("bias")
            _fc(out, f"{p}.torgb.affine", rgb.child("affine"))
        if b.has("skip"):
            skip = b.child("skip")
            out[f"{p}.skip.weight"] = skip.tensor("weight") * float(skip.attr("weight_gain"))
    return cfg, out


def _mapping_layers(mapping: NVNode) -> int:
    """The recorded num_layers, which must name layers the pickle holds (a claim of a billion layers would
    otherwise be looped over before the first missing one is noticed)."""
    n = int(mapping.attr("num_layers"))
    held = len(mapping.state.get("_modules") or {})
    if not 0 < n <= held:
        raise CheckpointError(f"NVlabs mapping network claims {n} layers but holds {held} modules")
    return n


def _fc(out: dict[str, Tensor], ours: str, node: NVNode) -> None:
    out[f"{ours}.weight"] = node.tensor("weight") * float(node.attr("weight_gain"))
    if (node.state.get("_parameters") or {}).get("bias") is not None:
        out[f"{ours}.bias"] = node.tensor("bias") * float(node.attr("bias_gain"))


# -- building ----------------------------------------------------------------------------------------------

def build(cfg: StyleGAN2Config, state: dict[str, Tensor]) -> StyleGAN2:
    """Our network with `state` loaded strictly, so a wrong name or shape is reported, not ignored."""
    net = StyleGAN2(cfg)
    state = dict(state)
    state.setdefault("synthesis.resample_filter", net.state_dict()["synthesis.resample_filter"])
    _load_strict(net, state)
    return net.eval()


def _load_strict(net: torch.nn.Module, state: dict[str, Tensor]) -> None:
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"weights do not fit the StyleGAN2 layout (missing: {missing[:3]}, "
                              f"unexpected: {unexpected[:3]})")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(f"{k} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}")
    net.load_state_dict({k: v.float() for k, v in state.items()})


# -- NVlabs StyleGAN3 ---------------------------------------------------------------------------------------

def is_stylegan3(G: NVNode) -> bool:
    return G.has("synthesis") and G.child("synthesis").has("input")


def nvlabs3_to_canonical(G: NVNode) -> tuple[Any, dict[str, Tensor]]:
    """Rebuild a stylegan3 Generator (t or r) from its recorded per-layer settings and tensors."""
    from latent_studio_plugins.stylegan.network3 import LayerSpec, StyleGAN3Config

    mapping, synthesis = G.child("mapping"), G.child("synthesis")
    inp = synthesis.child("input")
    try:
        names = [str(n) for n in synthesis.attr("layer_names")]
        specs = []
        for n in names:
            L = synthesis.child(n)
            w = L.tensor("weight")
            clamp = L.attr("conv_clamp")
            specs.append(LayerSpec(
                name=n, in_channels=int(w.shape[1]), out_channels=int(w.shape[0]),
                conv_kernel=int(w.shape[2]),
                up=int(L.attr("up_factor")), down=int(L.attr("down_factor")),
                padding=tuple(int(p) for p in L.attr("padding")), is_torgb=bool(L.attr("is_torgb")),
                conv_clamp=None if clamp is None else float(clamp), up_taps=int(L.attr("up_taps")),
                down_taps=int(L.attr("down_taps")), down_radial=bool(L.attr("down_radial"))))
        n_map = _mapping_layers(mapping)
        w_dim = int(G.attr("w_dim"))
        size = [int(v) for v in np.asarray(inp.attr("size")).reshape(-1)]
        cfg = StyleGAN3Config(
            z_dim=int(G.attr("z_dim")), w_dim=w_dim, c_dim=int(G.attr("c_dim")),
            resolution=int(G.attr("img_resolution")), img_channels=int(G.attr("img_channels")),
            layers=tuple(specs), input_channels=int(inp.attr("channels")), input_size=(size[0], size[-1]),
            input_sampling_rate=float(inp.attr("sampling_rate")),
            input_bandwidth=float(inp.attr("bandwidth")),
            mapping_layers=n_map,
            mapping_features=int(mapping.child("fc0").tensor("weight").shape[0]) if n_map > 1 else w_dim,
            output_scale=float(synthesis.attr("output_scale", 1.0)))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"NVlabs StyleGAN3 generator has unexpected settings: {exc}") from None
    if int(G.attr("num_ws", cfg.num_ws)) != cfg.num_ws:
        raise CheckpointError(f"NVlabs generator has {G.attr('num_ws')} style inputs; expected {cfg.num_ws}")
    out: dict[str, Tensor] = {}
    for n in [f"fc{i}" for i in range(cfg.mapping_layers)] + (["embed"] if cfg.c_dim else []):
        _fc(out, f"mapping.{n}", mapping.child(n))
    out["mapping.w_avg"] = mapping.tensor("w_avg")
    p = "synthesis.input"
    out[f"{p}.weight"] = inp.tensor("weight") / np.sqrt(cfg.input_channels)
    for b in ("transform", "freqs", "phases"):
        out[f"{p}.{b}"] = inp.tensor(b)
    _fc(out, f"{p}.affine", inp.child("affine"))
    for spec in cfg.layers:
        L, q = synthesis.child(spec.name), f"synthesis.{spec.name}"
        for t in ("weight", "bias", "magnitude_ema"):
            out[f"{q}.{t}"] = L.tensor(t)
        for f in ("up_filter", "down_filter"):
            buf = (L.state.get("_buffers") or {}).get(f)
            out[f"{q}.{f}"] = buf.float() if torch.is_tensor(buf) else torch.ones(1)  # 1 tap: identity
        _fc(out, f"{q}.affine", L.child("affine"))
    return cfg, out


def build3(cfg: Any, state: dict[str, Tensor]) -> Any:
    from latent_studio_plugins.stylegan.network3 import StyleGAN3

    net = StyleGAN3(cfg)
    _load_strict(net, state)
    return net.eval()
