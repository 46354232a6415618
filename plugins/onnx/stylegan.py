"""A StyleGAN2 or 3 exported by `latent-studio convert` (mapping.onnx + synthesis.onnx): W-space recipes as
for the torch family (truncation toward the manifest's w_avg, W walks, style mixing, StyleGAN3's translate /
rotate); synthesis is one stage, StyleGAN2's noise baked in as the network's constant noise."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from latent_studio_plugins.onnx.generator import ONNXGenerator, ORTStage, _numpy
from studio.errors import CheckpointError, RecipeError
from studio.model.api import ModelInfo, StageContext
from studio.model.wspace import WSpaceRecipes, truncate


class SynthesisFeeds:
    """ws (and for StyleGAN3 one input transform per sample, the stored one where the recipe has none) from
    the context, as graph feeds and as the stage's cache key."""

    def __init__(self, stored_transform: Tensor | None):
        self.stored = stored_transform

    def __call__(self, ctx: StageContext) -> dict[str, np.ndarray]:
        assert ctx.ws is not None
        feeds = {"ws": _numpy(ctx.ws)}
        if self.stored is not None:
            t = ctx.extras.get("transform")
            t = self.stored if t is None else torch.as_tensor(t, dtype=torch.float32).cpu()
            feeds["transform"] = _numpy(t.reshape(-1, 3, 3).expand(len(ctx.ws), 3, 3))
        return feeds

    def key(self, ctx: StageContext) -> bytes:
        return b"|".join(f"{k}{v.shape}".encode() + v.tobytes() for k, v in self(ctx).items())


class ONNXStyleGAN(WSpaceRecipes, ONNXGenerator):
    """`map`, `synthesize` and `generate` as for the torch StyleGAN family (constant noise only)."""

    def __init__(self, info: ModelInfo, stages: Sequence[ORTStage], mapping: Any, w_avg: Tensor,
                 device: torch.device | str = "cpu", model_id: str = "", notes: Sequence[str] = (),
                 transform: Tensor | None = None, style_resolutions: Sequence[int] = ()):
        super().__init__(info, stages, device=device, model_id=model_id, notes=notes)
        self.mapping = mapping
        self._w_avg = w_avg
        self._transform = transform
        self.is_stylegan3 = transform is not None
        self._style_resolutions = list(style_resolutions)

    def stored_transform(self) -> Tensor:
        assert self._transform is not None
        return self._transform

    @property
    def w_avg(self) -> Tensor:
        return self._w_avg.to(self.device)

    def style_resolutions(self) -> list[int]:
        if len(self._style_resolutions) == self.info.num_ws:
            return list(self._style_resolutions)
        return [min(4 * 2 ** (r // 2), self.info.resolution) for r in range(self.info.num_ws)]

    def map(self, z: Tensor | np.ndarray, c: Tensor | None = None, truncation: float | Tensor = 1.0,
            truncation_cutoff: int | None = None) -> Tensor:
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, self.info.z_dim)
        feeds = {"z": _numpy(z)}
        if self.info.c_dim:
            c = torch.zeros(len(z), self.info.c_dim) if c is None else torch.as_tensor(c, dtype=torch.float32)
            feeds["c"] = _numpy(c.reshape(-1, self.info.c_dim))
        ws = torch.from_numpy(self.mapping.run(None, feeds)[0]).to(self.device)
        return truncate(ws, self.w_avg, truncation if not torch.is_tensor(truncation) else
                        truncation.to(self.device), truncation_cutoff)

    def _ws_context(self, ws: Tensor, noise: str, z: Tensor | None = None, transform: Tensor | None = None,
                    noise_seeds: Sequence[int] | None = None) -> StageContext:
        if noise != "const" and not self.is_stylegan3:  # StyleGAN3 has no noise inputs
            raise RecipeError(f"this ONNX StyleGAN has its constant noise built in; noise {noise!r} needs "
                              "the torch checkpoint")
        extras: dict = {"noise": noise}
        if transform is not None:
            extras["transform"] = self._checked_transform(transform, len(ws))
        return StageContext(z=z, ws=ws, extras=extras, key_fields=())


def load_stylegan(folder: Path, manifest: dict[str, Any], device: torch.device, model_id: str) -> ONNXStyleGAN:
    from latent_studio_plugins.onnx.graph import read_graph
    from latent_studio_plugins.onnx.plugin import FAMILY, MANIFEST
    from latent_studio_plugins.onnx.runtime import open_session

    files = [manifest.get("mapping"), manifest["stages"][0]["file"]]
    if not all(isinstance(f, str) and "/" not in f and "\\" not in f for f in files) \
            or len(manifest["stages"]) != 1:
        raise CheckpointError(f"{folder.name}/{MANIFEST}: a StyleGAN export names one mapping and one "
                              "synthesis graph")
    for f in files:
        if not (folder / f).is_file():
            raise CheckpointError(f"{folder.name}/{MANIFEST} lists {f}, which is missing")
    map_io, syn_io = read_graph(folder / files[0]), read_graph(folder / files[1])
    ws_in = next((t for t in syn_io.inputs if t.name == "ws"), None)
    z_in = next((t for t in map_io.inputs if t.name == "z"), None)
    c_in = next((t for t in map_io.inputs if t.name == "c"), None)
    if ws_in is None or ws_in.rank != 3 or not ws_in.dim(1) or not ws_in.dim(2) or z_in is None \
            or not z_in.dim(1) or not syn_io.outputs or syn_io.outputs[0].rank != 4:
        raise CheckpointError(f"{folder.name}: {files[0]} must take z (N, z_dim) and {files[1]} ws "
                              "(N, num_ws, w_dim) and return images (N, C, H, W)")
    num_ws, w_dim, z_dim = ws_in.dim(1), ws_in.dim(2), z_in.dim(1)
    w_avg = torch.tensor(manifest.get("w_avg") or [], dtype=torch.float32)
    if tuple(w_avg.shape) != (w_dim,):
        raise CheckpointError(f"{folder.name}/{MANIFEST}: w_avg must hold {w_dim} numbers")
    transform = None
    if any(t.name == "transform" for t in syn_io.inputs):  # StyleGAN3
        try:
            transform = torch.tensor(manifest["transform"], dtype=torch.float32).reshape(3, 3)
        except (KeyError, TypeError, ValueError, RuntimeError):
            raise CheckpointError(f"{folder.name}/{MANIFEST}: a StyleGAN3 export needs its 3x3 input "
                                  "\"transform\"") from None
    feeds = SynthesisFeeds(transform)
    notes: list[str] = []
    mapping = open_session(folder / files[0], notes)
    stage = ORTStage(manifest["stages"][0]["name"], open_session(folder / files[1], notes),
                     syn_io.outputs[0].name, first_feeds=feeds, reads=feeds.key)
    ws = torch.from_numpy(np.asarray(mapping.run(None, _probe_feeds(z_dim, c_in))[0]))
    img = stage(None, StageContext(ws=ws))
    if img.ndim != 4 or img.shape[1] not in (1, 3):
        raise CheckpointError(f"{folder.name}: synthesis returned shape {tuple(img.shape)}, not images")
    src = manifest.get("info") or {}
    info = ModelInfo(
        family=FAMILY, resolution=int(img.shape[-1]), channels=int(img.shape[1]), z_dim=z_dim, w_dim=w_dim,
        num_ws=num_ws, c_dim=(c_in.dim(1) or 0) if c_in is not None else 0, prior=manifest.get("prior", "normal"),
        format=f"Latent Studio ONNX export of a {manifest.get('family', '?')} model (opset "
               f"{manifest.get('opset', syn_io.opset)}, mapping + synthesis"
               + (")" if transform is not None else ", constant noise)"),
        layer_names=(stage.name,),
        capabilities=frozenset({"walk", "style_mix"} | ({"transform"} if transform is not None else set())),
        name=str(src.get("name") or folder.name),
    )
    res = manifest.get("style_resolutions")
    res = [int(r) for r in res] if isinstance(res, list) and all(isinstance(r, int) for r in res) else []
    return ONNXStyleGAN(info, [stage], mapping, w_avg, device=device, model_id=model_id, notes=notes,
                        transform=transform, style_resolutions=res)


def _probe_feeds(z_dim: int, c_in: Any) -> dict[str, np.ndarray]:
    feeds = {"z": np.random.default_rng(0).standard_normal((1, z_dim)).astype(np.float32)}
    if c_in is not None:
        feeds["c"] = np.zeros((1, c_in.dim(1) or 1), np.float32)
    return feeds
