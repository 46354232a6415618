"""The projection's user-visible choices, without torch (the CLI's parser and the GUI's options dialog read
them at start-up; studio.render.projection does the work)."""
from __future__ import annotations

SPACES = ("w", "w+", "z")
# "pixel": multi-scale pixel + image-gradient loss. The only one shipped: no perceptual network (VGG /
# LPIPS) ships inside a registry package here, and no bundled checkpoint carries its discriminator.
LOSSES = ("pixel",)
DEFAULT_STEPS = 200  # 64 px W+: about 6 s on one core of this 2-core CPU (30 dB at 300 steps)
