"""Number formats a generator's stages can compute in, and how the stage runner applies one.

The formats and their hardware test live here, beside the stage loop that uses them (studio.model.api);
which format a render uses, and the quality guard, are the renderer's business (studio.render.precision).
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Iterator

import torch

from studio.errors import StudioError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
REDUCED = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.lru_cache(maxsize=None)
def native_bf16(device_type: str) -> bool:
    """Whether `device_type` ("cpu", "cuda", "mps") multiplies bf16 in hardware (else bf16 is emulated and
    slower than fp32)."""
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type != "cpu":
        return False
    flags = cpu_flags()
    if not flags & {"avx512_bf16", "amx_bf16"}:
        return False
    mkldnn = getattr(torch.backends, "mkldnn", None)
    return bool(mkldnn is not None and mkldnn.is_available())


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def check_precision(name: str, device: torch.device) -> str:
    """`name` when the device can compute in it; a StudioError saying why not otherwise."""
    if name not in PRECISIONS:
        raise StudioError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    if name == "fp16" and device.type != "cuda":
        raise StudioError(f"fp16 needs a CUDA GPU (this render runs on {device.type}); use bf16 or auto")
    return name


@contextlib.contextmanager
def computing_in(precision: str, device: torch.device) -> Iterator[None]:
    """Autocast to `precision` on `device` (nothing for fp32)."""
    dtype = REDUCED.get(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
