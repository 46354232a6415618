"""Sniffing and loading DCGAN checkpoints."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from latent_studio_plugins.dcgan.activations import ACTIVATIONS, UPSAMPLE_MODES, ChoosingGenerator, choice
from studio.errors import CheckpointError
from studio.model.api import Generator, ModelInfo
from studio.model.choices import picked_id
from studio.model.probe import Probe

FAMILY = "dcgan"
# Where training scripts keep the generator inside a larger checkpoint dict.
CONTAINER_KEYS = ("netG", "generator", "G", "state_dict", "model_state_dict", "model")


class DCGANPlugin:
    name = "DCGAN"
    formats = ("pytorch/examples netG_*.pth, huggan pytorch_model.bin/.safetensors, "
               "Latent Studio .safetensors, "
               "eriklindernoren PyTorch-GAN gan/wgan_gp/dcgan/lsgan generator.pth, torch.save(model) pickles "
               "of torch.nn built-ins")

    def _read(self, probe: Probe) -> tuple[dict, dict] | None:
        """(state_dict, studio config) when the file is ours to read, else None."""
        from latent_studio_plugins.dcgan.network import infer_config, strip_module_prefix

        header = probe.safetensors_header
        if header is not None:
            meta = header.get("__metadata__") or {}
            if isinstance(meta, dict) and "latent_studio" in meta:
                from studio.model.safeload import studio_config

                try:
                    cfg = studio_config(header, probe.path.name)
                except CheckpointError:
                    return None
                return ({}, cfg) if cfg.get("family") == FAMILY else None
            keys = {k: _Shape(v["shape"]) for k, v in header.items() if k != "__metadata__"}
            return ({}, {}) if infer_config(keys) is not None else None
        sd = probe.state_dict(*CONTAINER_KEYS)
        if sd is None:
            return None
        sd = strip_module_prefix(sd)
        return (sd, {}) if infer_config(sd) is not None else None

    def _hobby(self, probe: Probe) -> tuple[str, Any, dict] | None:
        """("mlp" | "conv", layout, state_dict) for an eriklindernoren PyTorch-GAN generator, else None."""
        from latent_studio_plugins.dcgan.hobby import infer_conv, infer_mlp
        from latent_studio_plugins.dcgan.network import strip_module_prefix

        sd = probe.state_dict(*CONTAINER_KEYS)
        if sd is None:
            return self._pickled_hobby(probe)
        sd = strip_module_prefix(sd)
        mlp = infer_mlp(sd)
        if mlp is not None:
            return "mlp", mlp, sd
        conv = infer_conv(sd)
        return ("conv", conv, sd) if conv is not None else None

    def _pickled_hobby(self, probe: Probe) -> tuple[str, Any, dict] | None:
        """The same for torch.save(generator) of the scripts' own class: (kind, layout, {"index": i}), i the
        module's place among the file's top-level modules."""
        from latent_studio_plugins.dcgan.hobby import infer_conv, infer_mlp

        tree = probe.module_tree()
        for i, (_, rec) in enumerate(tree.modules() if tree is not None else ()):
            if rec.builtin or set(rec.children()) not in ({"model"}, {"l1", "conv_blocks"}):
                continue
            sd = rec.state_dict()
            layout = infer_mlp(sd) if "model" in rec.children() else infer_conv(sd)
            if layout is not None:
                return ("mlp" if "model" in rec.children() else "conv"), layout, {"index": i}
        return None

    def sniff(self, probe: Probe) -> float:
        if self._read(probe) is not None:
            return 0.9
        try:
            if self._hobby(probe) is not None:
                return 0.85
            return 0.8 if whole_module_generator(probe) is not None else 0.0
        except RecursionError:  # a whole-module pickle nested past reason: not ours to read
            return 0.0

    def scaffold(self, probe: Probe) -> Any:
        """`latent-studio plugin new`'s hook: a studio.model.scaffold.PluginSpec for a layout this family
        knows, else None."""
        from latent_studio_plugins.dcgan.scaffold import scaffold

        return scaffold(probe)

    def networks(self) -> SimpleNamespace:
        """The family's network code for trainers (studio.train reaches it through the registry, never by
        import): `Config`, `build(cfg)` and `save(path, net, **meta)`."""
        from latent_studio_plugins.dcgan.network import DCGANConfig, build
        from latent_studio_plugins.dcgan.save import save_dcgan

        return SimpleNamespace(Config=DCGANConfig, build=build, save=save_dcgan)

    def load(self, probe: Probe, device: torch.device) -> Generator:
        from latent_studio_plugins.dcgan.network import build, infer_config, load_weights, strip_module_prefix
        from studio.model.modules import module_generator
        from studio.model.safeload import load_safetensors

        read = self._read(probe)
        if read is None:
            hobby = self._hobby(probe)
            if hobby is not None and "index" in hobby[2]:  # a whole-module pickle: tensors and settings read
                from studio.model.module_pickle import read_module_pickle

                rec = read_module_pickle(probe.path).modules()[hobby[2]["index"]][1]
                return load_hobby(probe, device, hobby[0], hobby[1], rec.state_dict(), pickled_settings(rec))
            if hobby is not None:
                return load_hobby(probe, device, *hobby)
            if whole_module_generator(probe) is not None:
                return load_whole_module(probe, device)
            raise CheckpointError(f"{probe.path.name} is not a DCGAN checkpoint")
        sd, meta = read
        fmt = "pytorch/examples state_dict"
        if probe.safetensors_header is not None:
            sd, meta = load_safetensors(probe.path)
            fmt = "Latent Studio safetensors" if meta else "safetensors state_dict"
        sd = strip_module_prefix(sd)
        cfg = infer_config(sd)
        if cfg is None:
            raise CheckpointError(f"{probe.path.name}: tensors do not form a DCGAN generator")
        if cfg.prefix == "model." and not meta:
            fmt = "huggan state_dict"
        if meta:  # the studio's own file: its trainer's network, nothing to assume
            net = build(cfg)
            load_weights(net, cfg, sd)
            return module_generator(net, _info(cfg, fmt, meta, probe), device=device, model_id=probe.sha256)
        defaults = {"activation": "ReLU"}

        def make(picks: dict[str, str]) -> Generator:
            net = build(cfg, picks["activation"])
            load_weights(net, cfg, sd)
            choices = (choice("activation", "Activation", picks["activation"], ACTIVATIONS,
                              "pytorch/examples uses ReLU", defaults["activation"]),)
            info = replace(_info(cfg, fmt, meta, probe), choices=choices)
            g = module_generator(net, info, device=device, model_id=picked_id(probe.sha256, picks, defaults))
            return ChoosingGenerator.wrap(g, make, picks, probe.path.name)

        return make(dict(defaults))


def _info(cfg: Any, fmt: str, meta: dict, probe: Probe) -> ModelInfo:
    return ModelInfo(
        family=FAMILY, format=fmt, resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim,
        prior=meta.get("prior", "normal"), name=meta.get("name") or Path(probe.path).stem,
        capabilities=frozenset({"walk", "features"}),
    )


def pickled_settings(rec: Any) -> dict[str, str]:
    """What a pickled eriklindernoren Generator records that a state_dict does not: its LeakyReLU slope,
    its (non-leading) BatchNorm eps and its Upsample mode, when every layer agrees."""
    found: dict[str, set[str]] = {"activation": set(), "eps": set(), "upsample": set()}
    for path, r in rec.walk():
        a = r.attributes()
        if r.name == "LeakyReLU" and isinstance(a.get("negative_slope"), float):
            found["activation"].add(f"LeakyReLU({a['negative_slope']:g})")
        elif r.name == "ReLU":
            found["activation"].add("ReLU")
        elif r.name.startswith("BatchNorm") and isinstance(a.get("eps"), float) and path != "conv_blocks.0":
            found["eps"].add(f"{a['eps']:g}")
        elif r.name == "Upsample" and isinstance(a.get("mode"), str):
            found["upsample"].add(a["mode"])
    return {k: next(iter(v)) for k, v in found.items() if len(v) == 1}


def load_hobby(probe: Probe, device: torch.device, kind: str, layout: Any, sd: dict,
               recorded: dict[str, str] | None = None) -> Generator:
    """An eriklindernoren MLP or Upsample-conv generator, its unrecorded hyper-parameters as choices
    (`recorded`: the values a whole-module pickle does record, used instead of assumed)."""
    from latent_studio_plugins.dcgan.hobby import (ERIK_EPS, ConvGenerator, MLPGenerator, image_shapes,
                                                   load_strict, z_flat)
    from studio.model.modules import module_generator, split_into_blocks

    what = probe.path.name
    shapes = [f"{c}x{s}x{s}" for c, s in image_shapes(layout.out_values)] if kind == "mlp" else []
    defaults = {"activation": "LeakyReLU(0.2)", "eps": ERIK_EPS}
    defaults.update({"shape": shapes[0]} if kind == "mlp" else {"upsample": "nearest"})
    recorded = {k: v for k, v in (recorded or {}).items() if k in defaults}
    defaults.update(recorded)
    known = {k: "read from the pickled modules" for k in recorded}

    def make(picks: dict[str, str]) -> Generator:
        eps = float(picks["eps"])
        choices = [choice("activation", "Activation", picks["activation"], ACTIVATIONS,
                          "the PyTorch-GAN scripts' value", defaults["activation"], known.get("activation")),
                   choice("eps", "BatchNorm eps", picks["eps"], (ERIK_EPS, "1e-05"),
                          "the scripts' BatchNorm(C, 0.8), whose 0.8 is eps", defaults["eps"],
                          known.get("eps"))]
        if kind == "mlp":
            c, h, w = (int(v) for v in picks["shape"].split("x"))
            net: torch.nn.Module = MLPGenerator(layout, (c, h, w), picks["activation"], eps)
            blocks = split_into_blocks(net.model, "model.")
            blocks[-1] = (blocks[-1][0], torch.nn.Sequential(blocks[-1][1], torch.nn.Unflatten(1, (c, h, w))))
            choices.append(choice("shape", "Image shape", picks["shape"], tuple(shapes),
                                  "the square split of its output", defaults["shape"]))
            res, channels, fmt = h, c, "eriklindernoren PyTorch-GAN MLP generator state_dict"
        else:
            net = ConvGenerator(layout, picks["activation"], eps, picks["upsample"])
            s = layout.init_size
            blocks = [("l1", torch.nn.Sequential(net.l1, torch.nn.Unflatten(1, (layout.c0, s, s))))]
            blocks += split_into_blocks(net.conv_blocks, "conv_blocks.")
            choices.append(choice("upsample", "Upsample mode", picks["upsample"], UPSAMPLE_MODES,
                                  "nn.Upsample's default", defaults["upsample"], known.get("upsample")))
            res, channels = layout.resolution, layout.channels
            fmt = "eriklindernoren PyTorch-GAN DCGAN/LSGAN generator state_dict"
        load_strict(net, sd, what)
        info = ModelInfo(family=FAMILY if kind == "conv" else "mlp-gan", format=fmt, resolution=res,
                         channels=channels, z_dim=layout.z_dim, prior="normal", name=probe.path.stem,
                         choices=tuple(choices))
        g = module_generator(net, info, device=device, model_id=picked_id(probe.sha256, picks, defaults),
                             input_fn=z_flat(layout.z_dim), blocks=blocks)
        return ChoosingGenerator.wrap(g, make, picks, what)

    return make(dict(defaults))


def whole_module_generator(probe: Probe) -> Any:
    """The generator in a whole-module pickle that needs no guessing (a module_pickle.FoundGenerator)."""
    from studio.model.module_pickle import find_generator

    tree = probe.module_tree()
    return find_generator(tree) if tree is not None else None


def load_whole_module(probe: Probe, device: torch.device) -> Generator:
    """A torch.save(model) generator rebuilt from torch.nn built-ins (tensors read, nothing run)."""
    from studio.model.module_pickle import build_generator, find_generator, read_module_pickle

    tree = read_module_pickle(probe.path)  # the sniff read shapes only
    found = find_generator(tree)
    if found is None:
        raise CheckpointError(f"{probe.path.name} holds no generator this reader can rebuild")
    return build_generator(tree, found, device, probe.sha256, probe.path.stem)


class _Shape:
    """Stands in for a tensor when only a safetensors header's shapes are known."""

    def __init__(self, shape: list[int]):
        self.shape = tuple(shape)
        self.ndim = len(shape)
