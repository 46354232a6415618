"""Sniffing and loading StyleGAN2/3 checkpoints: rosinality .pt, NVlabs .pkl, Latent Studio .safetensors."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from studio.errors import CheckpointError
from studio.model.api import Generator, ModelInfo
from studio.model.probe import Probe
from studio.model.safeload import studio_config

FAMILIES = ("stylegan2", "stylegan3")


class StyleGANPlugin:
    name = "StyleGAN"
    formats = ("NVlabs stylegan2-ada-pytorch / stylegan3 network-snapshot-*.pkl, "
               "rosinality stylegan2-pytorch training/converted .pt, Latent Studio .safetensors")

    def _kind(self, probe: Probe) -> str | None:
        header = probe.safetensors_header
        if header is not None:
            try:
                cfg = studio_config(header, probe.path.name)
            except CheckpointError:
                return None
            return "safetensors" if isinstance(cfg, dict) and cfg.get("family") in FAMILIES else None
        from latent_studio_plugins.stylegan.nvlabs_pickle import looks_like_nvlabs, read_head

        if probe.head[:1] == b"\x80" and looks_like_nvlabs(read_head(probe.path)):
            return "nvlabs"
        if probe.looks_like_torch and _rosinality_entry(probe.torch_object()) is not None:
            return "rosinality"
        return None

    def networks(self) -> SimpleNamespace:
        """The family's network code for trainers and converters (reached through the registry, never by
        import): `StyleGAN2`, `StyleGAN2Config` and `save(path, net, name=, half=, extra=)`."""
        from latent_studio_plugins.stylegan.network import StyleGAN2, StyleGAN2Config
        from latent_studio_plugins.stylegan.save import save_stylegan

        return SimpleNamespace(StyleGAN2=StyleGAN2, StyleGAN2Config=StyleGAN2Config, save=save_stylegan)

    def sniff(self, probe: Probe) -> float:
        return 0.95 if self._kind(probe) is not None else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        from latent_studio_plugins.stylegan.convert import (build, build3, is_stylegan3, nvlabs3_to_canonical,
                                              nvlabs_to_canonical, rosinality_to_canonical)
        from latent_studio_plugins.stylegan.generator import StyleGANGenerator
        from latent_studio_plugins.stylegan.network import StyleGAN2Config
        from latent_studio_plugins.stylegan.network3 import StyleGAN3Config

        kind = self._kind(probe)
        meta: dict[str, Any] = {}
        family = "stylegan2"
        if kind == "nvlabs":
            from latent_studio_plugins.stylegan.nvlabs_pickle import generator_node, load_nvlabs_pickle

            node = generator_node(load_nvlabs_pickle(probe.path), probe.path)
            if is_stylegan3(node):
                family = "stylegan3"
                cfg, state = nvlabs3_to_canonical(node)
            else:
                cfg, state = nvlabs_to_canonical(node)
            fmt = "NVlabs network pickle"
        elif kind == "rosinality":
            obj = probe.torch_object()
            sd, latent_avg, fmt = _rosinality_entry(obj)  # type: ignore[misc]
            cfg, state = rosinality_to_canonical(sd, latent_avg)
            if latent_avg is None:  # training checkpoints carry no average w: estimate it like generate.py
                state["mapping.w_avg"] = _estimate_w_avg(cfg, state)
        elif kind == "safetensors":
            from studio.model.safeload import load_safetensors

            state, meta = load_safetensors(probe.path)
            family = meta.get("family", "stylegan2")
            try:
                config_type = StyleGAN3Config if family == "stylegan3" else StyleGAN2Config
                cfg = config_type.from_dict(meta["config"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"{probe.path.name} has an invalid StyleGAN config: {exc}") from None
            fmt = "Latent Studio safetensors"
        else:
            raise CheckpointError(f"{probe.path.name} is not a StyleGAN checkpoint")
        _check_size(cfg, family, probe)
        net = build3(cfg, state) if family == "stylegan3" else build(cfg, state)
        info = ModelInfo(family=family, format=fmt, resolution=cfg.resolution,
                         name=meta.get("name") or Path(probe.path).stem)
        return StyleGANGenerator(net, info, device=device, model_id=probe.sha256)


def _check_size(cfg: Any, family: str, probe: Probe) -> None:
    """Refuse a config (safetensors metadata, NVlabs constructor arguments) describing a network far larger
    than the file's weights, before building it."""
    from studio.model.claims import check_network

    if family == "stylegan3":
        from latent_studio_plugins.stylegan.network3 import StyleGAN3 as net_type
    else:
        from latent_studio_plugins.stylegan.network import StyleGAN2 as net_type  # type: ignore[assignment]
    blocks = len(getattr(cfg, "layers", None) or getattr(cfg, "channels", ()))
    check_network(lambda: net_type(cfg), probe.path.name, probe.size,
                  counts=(("mapping layers", cfg.mapping_layers), ("synthesis layers", blocks)))


def _rosinality_entry(obj: Any) -> tuple[dict, torch.Tensor | None, str] | None:
    """(g_ema state_dict, latent_avg or None, format name) for rosinality files, else None."""
    from latent_studio_plugins.stylegan.convert import is_rosinality

    if not isinstance(obj, dict):
        return None
    sd = obj.get("g_ema")
    if is_rosinality(sd):
        avg = obj.get("latent_avg")
        kind = "training" if "g" in obj or "args" in obj else "converted"
        fmt = f"rosinality {kind} checkpoint"
        return sd, (avg if torch.is_tensor(avg) else None), fmt
    if is_rosinality(obj):
        return obj, None, "rosinality generator state_dict"
    return None


def _estimate_w_avg(cfg: Any, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean mapping output of 4096 seeded z: deterministic, so truncation is reproducible across loads."""
    from latent_studio_plugins.stylegan.network import Mapping

    m = Mapping(cfg)
    m.load_state_dict({k[len("mapping."):]: v for k, v in state.items() if k.startswith("mapping.")})
    z = torch.randn(4096, cfg.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return m(z)[:, 0].mean(0)
