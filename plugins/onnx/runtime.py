"""ONNX Runtime sessions: the fastest installed provider (TensorRT > CUDA > CPU), falling back to CPU."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from studio.errors import CheckpointError

log = logging.getLogger(__name__)

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def require_ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError("running ONNX models needs onnxruntime: pip install 'latent-studio[onnx]' "
                              "(or the [gpu] extra; not both)") from None
    return onnxruntime


def preferred_providers() -> list[str]:
    available = set(require_ort().get_available_providers())
    return [p for p in PROVIDER_ORDER if p in available]


def open_session(path: Path, notes: list[str] | None = None) -> Any:
    """An InferenceSession on the best provider; a provider that fails to start is noted and skipped.

    Threads follow torch's setting, so `torch.set_num_threads(1)` limits both runtimes alike.
    """
    ort = require_ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    providers = preferred_providers()
    while providers:
        try:
            return ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:
            if providers == ["CPUExecutionProvider"]:
                raise CheckpointError(f"onnxruntime cannot run {path.name}: {_first_line(exc)}") from None
            msg = f"{providers[0]} failed for {path.name} ({_first_line(exc)}); falling back"
            log.warning(msg)
            if notes is not None:
                notes.append(msg)
            providers = providers[1:]
    raise CheckpointError("onnxruntime has no usable execution provider")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
