"""Limits on what an untrusted file may claim, checked before anything is allocated.

A small file can claim a huge tensor, config dimension, decompressed size, image or timeline; the loaders
compare every such claim with these limits first and refuse with the claim and the limit in one sentence.
Each limit has a sane default and an environment override, `LATENT_STUDIO_<NAME>` (e.g.
LATENT_STUDIO_MAX_IMAGE_PIXELS=400000000), read on every call so a setting applies without a restart.
Stdlib only and Qt-free, so every layer (core included) can use it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from studio.errors import StudioError

ENV_PREFIX = "LATENT_STUDIO_"
MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Budgets:
    """Every limit the loaders apply (the field name in upper case is the environment override)."""

    # a checkpoint's weights (and the network its config describes) at most this multiple of the file's
    # size, plus a fixed allowance for small buffers and tiny files: fp16 weights become fp32 (2x), so 4x
    # leaves room without letting a kilobyte file claim gigabytes
    weights_per_file_byte: float = 4.0
    weights_allowance: int = 64 * MiB
    # an .npz's members unpacked, all together, and any one .npy array (direction files, SeFa factors)
    max_decompressed_bytes: int = 256 * MiB
    # one tensor anywhere (a checkpoint's, an ONNX graph's declared or constant shapes): elements. The
    # largest weight of a 1024 px StyleGAN has 2.4 M; 64 M fp32 elements are 256 MB
    max_array_elements: int = 64 * MiB
    # layers or blocks a config may ask for (NVlabs networks have at most a few dozen): building even on
    # the meta device costs time and memory per layer
    max_layers: int = 512
    # images read from disk (Pillow's decompression-bomb limit), and an image side a file claims that its
    # weights do not bound (StarGAN's attributes.json image_size: every official model is 128 or 256)
    max_image_pixels: int = 100_000_000
    max_resolution: int = 1024
    # frames a timeline or walk may expand to (each becomes a recipe and an image)
    max_frames: int = 100_000
    # JSON inputs: recipes, projects, autosave, .lsdir metadata, sidecars, configs (parsed JSON takes up to
    # ~10x its text in Python objects; a long session's project is a few MB)
    max_json_bytes: int = 32 * MiB
    max_json_depth: int = 64
    max_json_int_digits: int = 20


def current() -> Budgets:
    """The limits in force: defaults, each overridden by its environment variable when that is set."""
    values: dict[str, Any] = {}
    for f in fields(Budgets):
        raw = os.environ.get(ENV_PREFIX + f.name.upper())
        if raw is None or not raw.strip():
            continue
        kind = float if f.type in ("float", float) else int
        try:
            value = kind(raw.strip())
        except ValueError:
            raise StudioError(f"{ENV_PREFIX + f.name.upper()}={raw!r} is not a number") from None
        if value <= 0:
            raise StudioError(f"{ENV_PREFIX + f.name.upper()} must be positive, not {raw!r}")
        values[f.name] = value
    return Budgets(**values)


def env_name(limit: str) -> str:
    """The environment variable that overrides `limit` (named in refusals, so the user can raise it)."""
    return ENV_PREFIX + limit.upper()


def weights_limit(file_bytes: int) -> int:
    """The most bytes of weights a checkpoint of `file_bytes` may claim."""
    b = current()
    return int(file_bytes * b.weights_per_file_byte) + b.weights_allowance


def human(n: float) -> str:
    """Bytes for a message: 1.2 GB, 640 kB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def refuse(error: type[StudioError], what: str, claim: str, limit: str, name: str) -> StudioError:
    """The one-sentence refusal: what claims what, the limit, and the setting that raises it."""
    return error(f"{what} claims {claim}, over the limit of {limit} (set {env_name(name)} to raise it)")
