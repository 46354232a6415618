"""A StarGAN v2 exported by `latent-studio convert` (mapping, style encoder, encoder and decoder graphs).

It shares the torch family's recipe rules (studio.model.style_codes), with ONNX Runtime sessions in place
of the torch networks, so recipes (photo, domain values, seed or reference style) mean exactly the same,
and a domain toggle re-runs only the decoder stage (its cache key is the style code)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from latent_studio_plugins.onnx.generator import ORTStage, _numpy
from studio.errors import CheckpointError
from studio.model.api import Generator, ModelInfo, StageContext
from studio.model.photo_input import IMAGE, photo_key
from studio.model.style_codes import STYLE, STYLE_KEY, StyleCodeTranslator


class _Session:
    """An ONNX graph of one tensor in and one out, called like the torch module it replaces."""

    def __init__(self, session: Any):
        self.session = session
        self.input = session.get_inputs()[0].name

    def __call__(self, x: Tensor) -> Tensor:
        out = self.session.run(None, {self.input: _numpy(x)})[0]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(x.device)


class _DecoderStage:
    """The decoder graph: features from the previous stage, the style code from the context."""

    def __init__(self, name: str, session: Any):
        self.name, self.session = name, session

    def inputs(self, ctx: StageContext) -> bytes:
        return ctx.extras[STYLE_KEY]

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        assert x is not None
        out = self.session.run(None, {"x": _numpy(x), "style": _numpy(ctx.extras[STYLE])})[0]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(x.device)


class ONNXStarGANv2(StyleCodeTranslator, Generator):
    """StarGAN v2 with ONNX Runtime sessions in place of the torch networks (recipes mean the same)."""

    def __init__(self, info: ModelInfo, stages: Sequence[Any], mapping: _Session, style_encoder: _Session,
                 latent_dim: int, multiple: int, device: torch.device | str = "cpu", model_id: str = "",
                 notes: Sequence[str] = ()):
        self.set_style_networks(mapping, style_encoder, latent_dim, len(info.attributes), multiple)
        super().__init__(info, stages, device=device, model_id=model_id)
        self.notes = list(notes)

    @property
    def providers(self) -> list[str]:
        return list(self.stages[0].session.get_providers())  # type: ignore[attr-defined]


def load_stargan_v2(folder: Path, manifest: dict[str, Any], device: torch.device, model_id: str) -> ONNXStarGANv2:
    from latent_studio_plugins.onnx.plugin import FAMILY, MANIFEST
    from latent_studio_plugins.onnx.runtime import open_session

    info = manifest.get("info")
    files = [manifest.get("mapping"), manifest.get("style_encoder")] + [s["file"] for s in manifest["stages"]]
    if not isinstance(info, dict) or not isinstance(info.get("attributes"), list) \
            or not isinstance(info.get("resolution"), int) or not isinstance(manifest.get("latent_dim"), int) \
            or len(manifest["stages"]) != 2 \
            or not all(isinstance(f, str) and "/" not in f and "\\" not in f for f in files):
        raise CheckpointError(f"{folder.name}/{MANIFEST}: a StarGAN v2 export names its domains, resolution, "
                              "latent size, mapping and style-encoder graphs and two stages")
    for f in files:
        if not (folder / f).is_file():
            raise CheckpointError(f"{folder.name}/{MANIFEST} lists {f}, which is missing")
    notes: list[str] = []
    mapping, style_encoder, encoder, decoder = (open_session(folder / f, notes) for f in files)
    names = tuple(str(a) for a in info["attributes"])
    enc_name, dec_name = (str(s["name"]) for s in manifest["stages"])
    stages = [ORTStage(enc_name, encoder, encoder.get_outputs()[0].name,
                       first_feeds=lambda ctx: {"image": _numpy(ctx.extras[IMAGE])}, reads=photo_key),
              _DecoderStage(dec_name, decoder)]
    model_info = ModelInfo(
        family=FAMILY, resolution=info["resolution"], channels=3, z_dim=0, attributes=names,
        format=f"Latent Studio ONNX export of a StarGAN v2 model (opset {manifest.get('opset', '?')}, "
               "mapping, style encoder, encoder and decoder)",
        layer_names=(enc_name, dec_name), name=str(info.get("name") or folder.name),
        capabilities=frozenset(info.get("capabilities") or {"attributes", "translate"}),
    )
    return ONNXStarGANv2(model_info, stages, _Session(mapping), _Session(style_encoder), manifest["latent_dim"],
                         int(manifest.get("multiple", 4)), device=device, model_id=model_id, notes=notes)
