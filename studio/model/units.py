"""Applying a batch's unit edits to a stage's output, and their share of that stage's cache key.

Generic over families: a stage's features are its output, or, for a stage that carries extra state beside
them (StyleGAN's running RGB), the leading channels that its `features(out)` returns.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import torch
from torch import Tensor

from studio.core.units import UnitEdit
from studio.errors import RecipeError

UnitPlan = tuple[tuple[UnitEdit, ...], ...]  # per sample of a batch: its unit edits in recipe order


def check_layers(plan: UnitPlan, layer_names: Sequence[str]) -> None:
    """A clear error for an edit naming a layer the model does not have."""
    known = set(layer_names)
    for edits in plan:
        for e in edits:
            if e.layer not in known:
                raise RecipeError(f"unit edit names layer {e.layer!r}, which this model does not have "
                                  f"(layers: {', '.join(layer_names)})")


def stage_key(plan: UnitPlan, layer: str) -> bytes:
    """The unit edits at `layer` for the whole batch, as bytes; empty when there are none, so a stage's key
    without unit edits is exactly what it was before unit editing existed."""
    parts = [b"".join(e.key() for e in edits if e.layer == layer) for edits in plan]
    if not any(parts):
        return b""
    h = hashlib.blake2b(b"units", digest_size=16)
    for p in parts:
        h.update(p + b"#")
    return h.digest()


def apply_to_stage(stage: object, out: Tensor, plan: UnitPlan) -> Tensor:
    """`out` with the unit edits at this stage's layer applied to its feature channels."""
    name = getattr(stage, "name", "")
    if not any(e.layer == name for edits in plan for e in edits):
        return out
    feats = stage_features(stage, out)
    edited = apply_edits(feats, plan, name)
    if feats.shape[1] == out.shape[1]:
        return edited
    return torch.cat([edited, out[:, feats.shape[1]:]], dim=1)  # the features lead (StyleGAN: RGB rides last)


def stage_features(stage: object, out: Tensor) -> Tensor:
    """The feature maps in a stage's output: a stage carrying extra state beside them (StyleGAN's running
    RGB) says which part through `features`."""
    return stage.features(out) if hasattr(stage, "features") else out  # type: ignore[attr-defined]


def apply_edits(feats: Tensor, plan: UnitPlan, layer: str) -> Tensor:
    """Feature maps (N, C, H, W) with each sample's edits at `layer` applied in order."""
    if len(plan) != feats.shape[0]:
        raise RecipeError(f"{len(plan)} samples' unit edits for a batch of {feats.shape[0]}")
    n_units = feats.shape[1]
    out = feats.clone()
    for i, edits in enumerate(plan):
        for e in edits:
            if e.layer != layer:
                continue
            bad = [u for u in e.units if u >= n_units]
            if bad:
                raise RecipeError(f"unit edit on {layer!r}: units {bad} out of range "
                                  f"(the layer has {n_units})")
            idx = torch.tensor(e.units, dtype=torch.long, device=out.device)
            x = out[i, idx]
            new = x * e.value if e.op == "scale" else torch.full_like(x, e.value)
            if e.mask is not None:
                if feats.ndim != 4:
                    raise RecipeError(f"unit edit on {layer!r}: a mask needs spatial feature maps")
                m = torch.from_numpy(e.mask.to_array(feats.shape[2], feats.shape[3]))
                m = m.to(device=out.device, dtype=out.dtype)
                new = x + m * (new - x)
            out[i, idx] = new
    return out
