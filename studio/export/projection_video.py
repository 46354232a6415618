"""A video of a projection's optimisation: the photo beside the current estimate, one frame per step.

It is what `latent-studio project --video out.mp4` writes. Frames stream into the export writers (MP4 via
ffmpeg, GIF / WebP via Pillow, or a PNG folder) under a temporary name that is renamed only when the
projection finished, so a cancelled or failed run leaves nothing under the final name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from studio.export import safe
from studio.export.writers import ExportOptions, FrameWriter, format_of, open_writer, upscale
from studio.render.engine import to_uint8

VIDEO_SIDE = 256  # frames are upscaled (nearest) to at least this many pixels a side
GAP = 2           # model pixels of black between the photo and the estimate


class ProjectionVideo:
    """Collects the estimate of each step and writes [photo | estimate] frames to `target`."""

    def __init__(self, target: Path, photo: Tensor, total: int, force: bool = False, fps: float = 30.0):
        self.fmt = format_of(target)  # an unknown extension is refused before any step runs
        safe.check_target(target, force)
        safe.sweep_stale(target)
        self.target, self.force = target, force
        side = int(photo.shape[-1])
        self.scale = max(1, -(-VIDEO_SIDE // side))
        self.options = ExportOptions(fps=fps, scale=self.scale, quality=90,
                                     chroma="444" if self.fmt == ".mp4" else "420")
        self.photo = to_uint8(photo)[0]
        self.tmp = safe.temp_path(target)
        self.writer: FrameWriter = open_writer(self.fmt, self.tmp, self.options, total)
        self.frames = 0

    def add(self, estimate: Tensor) -> None:
        """One step's estimate (1, C, H, W) in [-1, 1]."""
        est = to_uint8(estimate)[0]
        gap = np.zeros((est.shape[0], GAP, 3), np.uint8)
        frame = np.concatenate([self.photo, gap, est], axis=1)[None]
        self.writer.write(upscale(frame, self.scale, False))
        self.frames += 1

    def finish(self) -> Path:
        """Close the file and move it to its name."""
        try:
            self.writer.close()
            safe.commit(self.tmp, self.target, self.force)
        except BaseException:
            self.abort()
            raise
        return self.target

    def abort(self) -> None:
        """Stop and delete the temporary (a failed or cancelled projection)."""
        self.writer.abort()
        safe.discard(self.tmp)
