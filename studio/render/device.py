"""Choosing the compute device: cuda > mps > cpu, unless the user says otherwise."""
from __future__ import annotations

import os

import torch

DEVICE_ENV = "LATENT_STUDIO_DEVICE"


def select_device(override: "str | torch.device | None" = None) -> torch.device:
    """The override (argument, then $LATENT_STUDIO_DEVICE) or the fastest device present."""
    choice = override if override not in (None, "", "auto") else os.environ.get(DEVICE_ENV, "auto")
    if isinstance(choice, torch.device):
        return choice
    if choice != "auto":
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("CUDA was requested but no CUDA device is available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return {"mps": "Apple GPU (MPS)", "cpu": f"CPU ({torch.get_num_threads()} threads)"}.get(device.type, str(device))
