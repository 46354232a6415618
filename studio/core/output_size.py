"""How large saved images and exports are by default, per model.

GAN demos are 32 to 128 px: written at x1 a 64 px GIF or PNG is a thumbnail nobody can use, so small models
default to a whole-number upscale that lands near 256-512 px. The choice the user makes is a panel setting
of the model's workspace (`SAVE_SCALE_KEY`, `EXPORT_SCALE_KEY`), so it is remembered per model, undoable
and saved with the project.
"""
from __future__ import annotations

from typing import Any

SAVE_SCALE_KEY = "save.scale"        # Save image's upscale, a workspace panel setting
EXPORT_SCALE_KEY = "timeline.scale"  # the timeline export's upscale (the timeline panel's setting)
SCALES = (1, 2, 3, 4, 6, 8)          # what the Save image size menu offers
MAX_SCALE = 16


def default_scale(resolution: int) -> int:
    """x4 up to 128 px (64 px -> 256 px, 32 px -> 128 px), x2 up to 256 px, else x1."""
    if resolution <= 0:
        return 1
    if resolution <= 128:
        return 4
    if resolution <= 256:
        return 2
    return 1


def scale_setting(value: Any, resolution: int) -> int:
    """A stored scale as a whole number in range; a missing or malformed value gives the model's default."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        return default_scale(resolution)
    return min(MAX_SCALE, max(1, int(value)))
