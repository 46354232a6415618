"""Sniffing and loading DCGAN checkpoints."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from studio.errors import CheckpointError
from studio.model.api import Generator, ModelInfo
from studio.model.probe import Probe

FAMILY = "dcgan"
# Where training scripts keep the generator inside a larger checkpoint dict.
CONTAINER_KEYS = ("netG", "generator", "G", "state_dict", "model_state_dict", "model")


class DCGANPlugin:
    name = "DCGAN"
    formats = "pytorch/examples netG_*.pth, huggan pytorch_model.bin/.safetensors, Latent Studio .safetensors"

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

    def sniff(self, probe: Probe) -> float:
        return 0.9 if self._read(probe) is not None else 0.0

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
        net = build(cfg)
        load_weights(net, cfg, sd)
        info = ModelInfo(
            family=FAMILY, format=fmt, resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim,
            prior=meta.get("prior", "normal"), name=meta.get("name") or Path(probe.path).stem,
            capabilities=frozenset({"walk", "features"}),
        )
        return module_generator(net, info, device=device, model_id=probe.sha256)


class _Shape:
    """Stands in for a tensor when only a safetensors header's shapes are known."""

    def __init__(self, shape: list[int]):
        self.shape = tuple(shape)
        self.ndim = len(shape)
