"""Frame writers, one per output format, chosen by the target's extension.

Each writer receives frames as (N, H, W, 3) uint8 batches and writes them to a path it is given (the
temporary name; renaming is the caller's job, see studio.export.safe). GIF and WebP are assembled by
Pillow at the end, so they keep the (small) frames in memory; MP4 streams to ffmpeg; a PNG sequence
writes each frame as it comes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from studio.export.ownership import image_mark
from studio.export.safe import ExportError

FORMATS = {".mp4": "MP4 video (H.264)", ".gif": "animated GIF", ".webp": "animated WebP",
           "": "PNG sequence (a folder)"}
SIDECAR_IN_FOLDER = "recipes.json"


@dataclass(frozen=True)
class ExportOptions:
    """How frames are encoded. `quality` is 1-100 (100: lossless WebP, near-lossless MP4).

    MP4 `chroma` "420" plays everywhere but halves colour resolution, which smears the pixel-sized detail
    of small, unscaled GAN frames; "444" keeps it (for fidelity; some players cannot play it).
    """

    fps: float = 24.0
    scale: int = 1
    smooth: bool = False
    quality: int = 90
    chroma: str = "420"
    precision: str = "fp32"  # what frames compute in (studio.render.precision); fp32: exactly the recipes

    def __post_init__(self) -> None:
        if not (0 < self.fps <= 240):
            raise ExportError(f"fps must be between 0 and 240, not {self.fps}")
        if not isinstance(self.scale, int) or not 1 <= self.scale <= 16:
            raise ExportError(f"scale must be a whole number from 1 to 16, not {self.scale}")
        if not 1 <= self.quality <= 100:
            raise ExportError(f"quality must be between 1 and 100, not {self.quality}")
        if self.chroma not in ("420", "444"):
            raise ExportError(f"chroma must be 420 or 444, not {self.chroma!r}")
        from studio.model.numerics import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ExportError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")


class FrameWriter(Protocol):
    def write(self, frames: np.ndarray) -> None: ...
    def close(self) -> None: ...   # finish the file (may take a while for GIF/WebP)
    def abort(self) -> None: ...   # stop without finishing; the caller deletes the temporary


def format_of(path: Path) -> str:
    """The format key for a target: its extension, or "" (a folder of PNGs) when it has none."""
    ext = path.suffix.lower()
    if ext == ".png":
        raise ExportError(f"{path.name}: a PNG sequence is written into a folder; give a name without an "
                          f"extension, e.g. {path.with_suffix('').name}")
    if ext not in FORMATS:
        known = ", ".join(k for k in FORMATS if k)
        raise ExportError(f"cannot export to {path.name!r}: use {known}, or a folder name for PNG frames")
    return ext


def upscale(frames: np.ndarray, scale: int, smooth: bool) -> np.ndarray:
    """Integer upscale of (N, H, W, 3) frames: pixel-exact nearest, or bicubic when `smooth`."""
    if scale == 1:
        return frames
    if not smooth:
        return frames.repeat(scale, axis=1).repeat(scale, axis=2)
    from PIL import Image

    n, h, w, _ = frames.shape
    return np.stack([np.asarray(Image.fromarray(f).resize((w * scale, h * scale), Image.Resampling.BICUBIC))
                     for f in frames]) if n else frames


def open_writer(fmt: str, tmp: Path, options: ExportOptions, total: int) -> FrameWriter:
    if fmt == "":
        return PngSequenceWriter(tmp, total)
    if fmt == ".mp4":
        return Mp4Writer(tmp, options)
    return PillowAnimationWriter(tmp, fmt, options)


def frame_name(i: int, total: int) -> str:
    """Zero-padded so names sort in frame order: frame_0000.png ... (wider for long sequences)."""
    return f"frame_{i:0{max(4, len(str(max(total - 1, 0))))}d}.png"


class PngSequenceWriter:
    def __init__(self, folder: Path, total: int):
        self.folder = folder
        self.total = total
        self.count = 0
        self.mark = image_mark("PNG")  # a folder of marked frames can be replaced with --force, sidecar or not
        folder.mkdir()

    def write(self, frames: np.ndarray) -> None:
        from PIL import Image

        for f in frames:
            Image.fromarray(f).save(self.folder / frame_name(self.count, self.total), format="PNG",
                                    compress_level=4, **self.mark)
            self.count += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class PillowAnimationWriter:
    """GIF or WebP through Pillow's save_all (frames kept until close)."""

    def __init__(self, path: Path, fmt: str, options: ExportOptions):
        self.path = path
        self.fmt = "GIF" if fmt == ".gif" else "WEBP"
        self.options = options
        self.frames: list[np.ndarray] = []

    def write(self, frames: np.ndarray) -> None:
        self.frames.extend(frames)

    def close(self) -> None:
        from PIL import Image

        if not self.frames:
            raise ExportError("nothing to write: the sequence has no frames")
        images = [Image.fromarray(f) for f in self.frames]
        duration = 1000.0 / self.options.fps
        kw: dict = {"save_all": True, "append_images": images[1:], "loop": 0}
        if self.fmt == "GIF":
            # GIF counts in centiseconds; per-frame durations keep the average rate exact (e.g. 24 fps).
            ends = [round((i + 1) * duration / 10) * 10 for i in range(len(images))]
            kw["duration"] = [e - (ends[i - 1] if i else 0) for i, e in enumerate(ends)]
            kw["optimize"] = False
        else:
            kw["duration"] = round(duration)
            kw["quality"] = self.options.quality
            kw["lossless"] = self.options.quality >= 100
            kw["method"] = 4
        images[0].save(self.path, format=self.fmt, **kw)

    def abort(self) -> None:
        self.frames.clear()


class Mp4Writer:
    """H.264 in MP4 through imageio-ffmpeg's bundled ffmpeg."""

    def __init__(self, path: Path, options: ExportOptions):
        self.path = path
        self.options = options
        self._gen = None

    def crf(self) -> int:
        """quality 100 -> crf 1 (visually lossless), 80 -> 9, 45 -> 23 (x264's default)."""
        return int(round(1 + 0.4 * (100 - self.options.quality)))

    def _open(self, w: int, h: int) -> None:
        import imageio_ffmpeg

        if w % 2 or h % 2:
            raise ExportError(f"H.264 needs even frame sizes, not {w}x{h}; use --scale 2")
        self._gen = imageio_ffmpeg.write_frames(
            str(self.path), (w, h), fps=self.options.fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out=f"yuv{self.options.chroma}p", quality=None, macro_block_size=2, ffmpeg_log_level="error",
            output_params=["-crf", str(self.crf()), "-preset", "fast", "-threads", "1", "-movflags", "+faststart"])
        # one encoder thread: small frames gain nothing from more, and they would compete with rendering
        self._gen.send(None)

    def write(self, frames: np.ndarray) -> None:
        if self._gen is None:
            self._open(frames.shape[2], frames.shape[1])
        for f in frames:
            self._gen.send(np.ascontiguousarray(f))

    def close(self) -> None:
        if self._gen is None:
            raise ExportError("nothing to write: the sequence has no frames")
        gen, self._gen = self._gen, None
        gen.close()

    def abort(self) -> None:
        if self._gen is not None:
            gen, self._gen = self._gen, None
            try:
                gen.close()
            except Exception:  # ffmpeg may already be gone; the temporary is deleted anyway
                pass
