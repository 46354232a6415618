"""Tiny StyleGAN2 checkpoints written in the official layouts, for tests that must run without ../shared.

The writers invert convert.py (effective tensors back to stored tensors and recorded gains), so loading what
they write exercises the same code paths as real rosinality and NVlabs files; conformance with the official
code itself is checked against the shared fixtures.
"""
from __future__ import annotations

import math
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import Tensor

from latent_studio_plugins.stylegan.network import StyleGAN2, StyleGAN2Config, random_stylegan2

PLACEHOLDER_SRC = "# source omitted (test pickle)"


def tiny_config(c_dim: int = 0, resolution: int = 32, architecture: str = "skip") -> StyleGAN2Config:
    n = int(math.log2(resolution)) - 1
    channels = tuple(max(4, 16 >> max(0, i - 1)) for i in range(n))  # 16, 16, 8, 4, ...: in != out somewhere
    return StyleGAN2Config(z_dim=16, w_dim=16, c_dim=c_dim, resolution=resolution, channels=channels,
                           mapping_layers=2, architecture=architecture)


def tiny_stylegan(c_dim: int = 0, resolution: int = 32, seed: int = 0,
                  architecture: str = "skip") -> StyleGAN2:
    return random_stylegan2(tiny_config(c_dim, resolution, architecture), seed)


def to_rosinality(net: StyleGAN2, lr_mlp: float = 0.01) -> dict[str, Tensor]:
    """The g_ema state_dict rosinality's Generator would hold for this network."""
    cfg, sd = net.cfg, net.state_dict()
    if cfg.c_dim or cfg.architecture != "skip":
        raise ValueError("rosinality generators are unconditional skip networks")
    out: dict[str, Tensor] = {}
    for i in range(cfg.mapping_layers):
        w = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.weight"] = w / (lr_mlp / math.sqrt(w.shape[1]))
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"] / lr_mlp
    out["input.input"] = sd["synthesis.b4.const"][None]
    blur = net.synthesis.resample_filter * 4
    n_up = len(cfg.channels) - 1
    layers = [("b4.conv1", "conv1", 0)]
    for k in range(n_up):
        res = 8 * 2 ** k
        layers += [(f"b{res}.conv0", f"convs.{2 * k}", 2 * k + 1),
                   (f"b{res}.conv1", f"convs.{2 * k + 1}", 2 * k + 2)]
    for ours, theirs, ni in layers:
        p = f"synthesis.{ours}"
        w = sd[f"{p}.weight"]
        out[f"{theirs}.conv.weight"] = (w * math.sqrt(w[0].numel()))[None]
        _mod(out, sd, p, f"{theirs}.conv.modulation")
        out[f"{theirs}.noise.weight"] = sd[f"{p}.noise_strength"].reshape(1)
        out[f"{theirs}.activate.bias"] = sd[f"{p}.bias"]
        out[f"noises.noise_{ni}"] = sd[f"{p}.noise_const"][None, None]
        if ours.endswith("conv0"):
            out[f"{theirs}.conv.blur.kernel"] = blur
    rgbs = [("b4.torgb", "to_rgb1")] + [(f"b{8 * 2 ** k}.torgb", f"to_rgbs.{k}") for k in range(n_up)]
    for ours, theirs in rgbs:
        p = f"synthesis.{ours}"
        w = sd[f"{p}.weight"]
        out[f"{theirs}.conv.weight"] = (w * math.sqrt(w[0].numel()))[None]
        out[f"{theirs}.bias"] = sd[f"{p}.bias"].reshape(1, -1, 1, 1)
        _mod(out, sd, p, f"{theirs}.conv.modulation")
        if theirs != "to_rgb1":
            out[f"{theirs}.upsample.kernel"] = blur
    return {k: v.clone() for k, v in out.items()}


def _mod(out: dict[str, Tensor], sd: dict[str, Tensor], ours: str, theirs: str) -> None:
    w = sd[f"{ours}.affine.weight"]
    out[f"{theirs}.weight"] = w * math.sqrt(w.shape[1])
    out[f"{theirs}.bias"] = sd[f"{ours}.affine.bias"]


# -- NVlabs persistence pickles -------------------------------------------------------------------------

class _Persistent:
    """Pickles as REDUCE(torch_utils.persistence._reconstruct_persistent_obj, (meta,)) like NVlabs modules."""

    def __init__(self, meta: dict):
        self.meta = meta

    def __reduce__(self) -> Any:
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,))


@contextmanager
def fake_nvlabs_modules() -> Iterator[None]:
    """Importable torch_utils.persistence / dnnlib.util names, so pickle can record the official globals."""
    def _reconstruct_persistent_obj(meta: Any) -> Any:  # never called: we only write
        raise RuntimeError("write-only stand-in")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    mods = {"torch_utils": types.ModuleType("torch_utils"), "dnnlib": types.ModuleType("dnnlib"),
            "torch_utils.persistence": types.ModuleType("torch_utils.persistence"),
            "dnnlib.util": types.ModuleType("dnnlib.util")}
    setattr(mods["torch_utils.persistence"], "_reconstruct_persistent_obj", _reconstruct_persistent_obj)
    setattr(mods["dnnlib.util"], "EasyDict", easy)
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def persistent(class_name: str, state: dict, module_src: str = PLACEHOLDER_SRC) -> _Persistent:
    easy = sys.modules["dnnlib.util"].EasyDict
    meta = easy(type="class", version=6, module_src=module_src, class_name=class_name, state=state)
    return _Persistent(meta)


def _node(class_name: str, src: str, params: dict | None = None, buffers: dict | None = None,
          modules: dict | None = None, **attrs: Any) -> _Persistent:
    parameters = {k: torch.nn.Parameter(v.clone(), requires_grad=False) for k, v in (params or {}).items()}
    state = {"training": False, "_non_persistent_buffers_set": set(), "_parameters": parameters,
             "_buffers": dict(buffers or {}), "_modules": dict(modules or {}), **attrs}
    return persistent(class_name, state, src)


def nvlabs_tree(net: StyleGAN2, module_src: str = PLACEHOLDER_SRC) -> _Persistent:
    """The G_ema object stylegan2-ada-pytorch would pickle for this net (call inside fake_nvlabs_modules)."""
    cfg, sd = net.cfg, net.state_dict()

    def fc(prefix: str, lr: float, act: str) -> _Persistent:
        w = sd[f"{prefix}.weight"]
        gain = lr / math.sqrt(w.shape[1])
        params = {"weight": w / gain, "bias": sd[f"{prefix}.bias"] / lr}
        return _node("FullyConnectedLayer", module_src, params, activation=act, weight_gain=gain,
                     bias_gain=lr)

    maps = {f"fc{i}": fc(f"mapping.fc{i}", 0.01, "lrelu") for i in range(cfg.mapping_layers)}
    if cfg.c_dim:
        maps["embed"] = fc("mapping.embed", 1.0, "linear")
    mapping = _node("MappingNetwork", module_src, buffers={"w_avg": sd["mapping.w_avg"]}, modules=maps,
                    num_layers=cfg.mapping_layers, z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim)
    f = sd["synthesis.resample_filter"]
    blocks = {}
    for i, res in enumerate(cfg.block_resolutions):
        p = f"synthesis.b{res}"
        mods = {}
        for conv in ("conv0", "conv1"):
            if f"{p}.{conv}.weight" in sd:
                q = f"{p}.{conv}"
                mods[conv] = _node("SynthesisLayer", module_src,
                                   {"weight": sd[f"{q}.weight"], "bias": sd[f"{q}.bias"],
                                    "noise_strength": sd[f"{q}.noise_strength"]},
                                   {"resample_filter": f, "noise_const": sd[f"{q}.noise_const"]},
                                   {"affine": fc(f"{q}.affine", 1.0, "linear")},
                                   activation="lrelu", use_noise=True, up=2 if conv == "conv0" else 1,
                                   conv_clamp=cfg.conv_clamp, act_gain=math.sqrt(2))
        if f"{p}.torgb.weight" in sd:
            w = sd[f"{p}.torgb.weight"]
            gain = 1 / math.sqrt(w.shape[1])
            rgb = {"weight": w / gain, "bias": sd[f"{p}.torgb.bias"]}
            mods["torgb"] = _node("ToRGBLayer", module_src, rgb,
                                  modules={"affine": fc(f"{p}.torgb.affine", 1.0, "linear")},
                                  weight_gain=gain, conv_clamp=cfg.conv_clamp)
        params = {"const": sd[f"{p}.const"]} if i == 0 else {}
        blocks[f"b{res}"] = _node("SynthesisBlock", module_src, params, {"resample_filter": f}, mods,
                                  in_channels=0 if i == 0 else cfg.channels[i - 1], resolution=res,
                                  architecture=cfg.architecture, is_last=res == cfg.resolution,
                                  conv_clamp=cfg.conv_clamp)
    synthesis = _node("SynthesisNetwork", module_src, modules=blocks, block_resolutions=cfg.block_resolutions,
                      num_ws=cfg.num_ws)
    return _node("Generator", module_src, modules={"synthesis": synthesis, "mapping": mapping},
                 z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
                 img_channels=cfg.img_channels, num_ws=cfg.num_ws,
                 _init_kwargs={"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim})


def write_nvlabs_pickle(path: str | Path, net: StyleGAN2, module_src: str = PLACEHOLDER_SRC,
                        protocol: int = 4) -> None:
    """A network-snapshot pickle shaped like training_loop.py writes (G, D stand-in, G_ema)."""
    with fake_nvlabs_modules():
        g = nvlabs_tree(net, module_src)
        snapshot = {"training_set_kwargs": {"resolution": net.cfg.resolution}, "G": g, "D": None, "G_ema": g,
                    "augment_pipe": None}
        with open(path, "wb") as f:
            pickle.dump(snapshot, f, protocol=protocol)
