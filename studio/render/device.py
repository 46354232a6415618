"""Choosing the compute device: cuda > mps > cpu, unless the user says otherwise."""
from __future__ import annotations

import os

import torch

from studio.errors import StudioError

DEVICE_ENV = "LATENT_STUDIO_DEVICE"


class DeviceError(StudioError, ValueError):
    """The requested device is not there: one line for the CLI and the GUI, never a traceback."""


def select_device(override: "str | torch.device | None" = None) -> torch.device:
    """The override (argument, then $LATENT_STUDIO_DEVICE) or the fastest device present.

    A named device this machine lacks is a DeviceError that says where the name came from, so a stale
    environment variable is found at once instead of failing later inside torch."""
    from_env = override in (None, "", "auto")
    choice = os.environ.get(DEVICE_ENV, "auto").strip() if from_env else override
    if isinstance(choice, torch.device):
        return choice
    if choice in ("", "auto"):
        return fastest_device()
    source = f" ({DEVICE_ENV}={choice})" if from_env else ""
    fix = f"; unset {DEVICE_ENV} or set it to auto or cpu" if from_env else ""
    try:
        dev = torch.device(choice)
    except (RuntimeError, ValueError):
        raise DeviceError(f"{choice!r} is not a device{source}: use auto, cpu, cuda, cuda:N or mps"
                          f"{fix}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"CUDA was requested{source} but no CUDA device is available{fix}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"{choice} was requested{source} but this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s){fix}")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"the Apple GPU (mps) was requested{source} but is not available here{fix}")
    return dev


def fastest_device() -> torch.device:
    """cuda > mps > cpu, whatever the environment says."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def startup_device() -> tuple[torch.device, str | None]:
    """The GUI's device and, when $LATENT_STUDIO_DEVICE names one that is missing, the message to show: the
    app still opens (on the fastest device present) rather than ending in a traceback before its window."""
    try:
        return select_device(), None
    except DeviceError as exc:
        dev = fastest_device()
        return dev, f"{exc}. Running on {describe(dev)} instead."


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return {"mps": "Apple GPU (MPS)", "cpu": f"CPU ({torch.get_num_threads()} threads)"}.get(device.type, str(device))
