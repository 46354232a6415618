"""Input photos for image-to-image models: opening, a movable square crop, and the model's input tensor.

Phone and camera photos arrive sideways (EXIF orientation), with alpha, in grayscale or 16 bit, or broken;
each becomes an upright RGB image or one clear PhotoError. The default crop is the official CelebA test
pipeline (CenterCrop(178) then Resize(128) on 178x218 aligned faces): the centred square of the shorter
side. A crop is (cx, cy, size): the centre as fractions of width and height, the side as a fraction of
the shorter side, so it survives resizing the photo and reads the same in every recipe. Face alignment
(studio.render.align) gives a free crop (cx, cy, size, angle): the square turned `angle` degrees
anticlockwise on the photo, allowed past its edges (edge pixels repeat there), so a tilted or off-centre
face comes out upright and framed as the model's training faces were.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from studio import budgets
from studio.core.recipe import Recipe, register_edit_type, register_latent_type
from studio.errors import PhotoError, RecipeError
from studio.files import regular_file

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image as PILImage
    from torch import Tensor

Crop = tuple[float, ...]  # (cx, cy, size) or (cx, cy, size, angle): fractions of width, height, shorter side; degrees
DEFAULT_CROP: Crop = (0.5, 0.5, 1.0)
MAX_FREE_CROP = 4.0  # a free crop's side may reach this many shorter sides (a small face far from centre)
MIN_SIDE = 32  # smaller photos hold too little face for any model to read
MAX_SIDE = 8000  # decompression-bomb guard: a small file must not decode into gigabytes
MAX_FILE_BYTES = 200 << 20
MIN_CROP = 0.05  # the smallest crop side, as a fraction of the shorter side
FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP"}  # MPO: phone JPEGs with extra frames


@register_latent_type
@dataclass(frozen=True)
class ImageLatent:
    """An input photo as a recipe's starting point: its path, content hash and crop."""

    kind: ClassVar[str] = "image"
    path: str
    sha256: str = ""
    crop: Crop = DEFAULT_CROP

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise RecipeError("image latent needs the photo's path")
        if not isinstance(self.sha256, str):
            raise RecipeError("image latent sha256 must be a string")
        c = self.crop
        if not (isinstance(c, tuple) and len(c) in (3, 4) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in c)):
            raise RecipeError("image crop must be [cx, cy, size] or [cx, cy, size, angle]")
        if c[2] <= 0:
            raise RecipeError(f"image crop size must be positive, not {c[2]}")


@register_edit_type
@dataclass(frozen=True)
class StyleSource:
    """Where a multi-domain translator (StarGAN v2) takes its style: a seed through its mapping network,
    or, when `path` is set, a reference photo (path, sha256, crop as in ImageLatent) through its style
    encoder."""

    kind: ClassVar[str] = "style_source"
    seed: int = 0
    path: str = ""
    sha256: str = ""
    crop: Crop = DEFAULT_CROP

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise RecipeError(f"style seed must be a non-negative integer, not {self.seed!r}")
        if self.path:
            self.reference()  # validates path, hash and crop

    def reference(self) -> ImageLatent | None:
        return ImageLatent(self.path, self.sha256, self.crop) if self.path else None


def style_source(recipe: Recipe) -> StyleSource:
    return next((e for e in recipe.edits if isinstance(e, StyleSource)), StyleSource())


def with_style_source(recipe: Recipe, seed: int = 0, reference: ImageLatent | None = None) -> Recipe:
    """The recipe with its style taken from `seed`, or from the `reference` photo when given."""
    kept = tuple(e for e in recipe.edits if not isinstance(e, StyleSource))
    src = StyleSource(int(seed)) if reference is None else StyleSource(
        int(seed), reference.path, reference.sha256, reference.crop)
    return replace(recipe, edits=kept + (src,))


def open_photo(path: str | os.PathLike) -> "PILImage.Image":
    """The photo as an upright 8-bit RGB image (alpha composited on white), or a PhotoError saying why not."""
    return _decode(_read_bytes(Path(path)), Path(path).name)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise PhotoError(f"no such photo: {path}")
    if path.is_dir():
        raise PhotoError(f"{path} is a folder, not a photo")
    regular_file(path, "photo", PhotoError)  # a FIFO or a device would block or never end
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PhotoError(f"{path.name} is over {MAX_FILE_BYTES >> 20} MB; that is no photo to translate")
        return path.read_bytes()
    except PermissionError:
        raise PhotoError(f"{path.name} cannot be read (permission denied)") from None
    except OSError as exc:
        raise PhotoError(f"{path.name} cannot be read: {exc.strerror or exc}") from None


def _decode(data: bytes, name: str) -> "PILImage.Image":
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise PhotoError(f"{name} is empty")
    max_pixels = budgets.current().max_image_pixels
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses twice this itself, before decoding anything
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we refuse such sizes ourselves
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise PhotoError(f"{name} is not an image Latent Studio can read (JPEG, PNG or WebP)") from None
        except Image.DecompressionBombError:
            raise PhotoError(f"{name} is far too large to open safely "
                             f"(over {MAX_SIDE} pixels on a side)") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise PhotoError(f"{name} is truncated or corrupt ({exc})") from None
    if im.format not in FORMATS:
        raise PhotoError(f"{name} is a {im.format} image; photos must be JPEG, PNG or WebP")
    w, h = im.size
    if max(w, h) > MAX_SIDE:
        raise PhotoError(f"{name} is {w}x{h} pixels; photos over {MAX_SIDE} pixels on a side are refused "
                         "(decompression-bomb guard). Downscale it first")
    if w * h > max_pixels:
        raise budgets.refuse(PhotoError, name, f"{w}x{h} pixels", f"{max_pixels:,} pixels", "max_image_pixels")
    if min(w, h) < MIN_SIDE:
        raise PhotoError(f"{name} is only {w}x{h} pixels; a photo needs at least {MIN_SIDE} on each side")
    try:
        im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PhotoError(f"{name} is truncated or corrupt ({exc})") from None
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a malformed EXIF block must not cost the photo: keep it as stored
        pass
    return _to_rgb(im)


def _to_rgb(im: "PILImage.Image") -> "PILImage.Image":
    import numpy as np
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grayscale: scale, do not clip
        a = np.asarray(im, np.float64)
        a = a / 257.0 if a.max() > 255 else a
        im = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def is_free(crop: Crop) -> bool:
    """A free crop (from alignment) carries an angle and may reach past the photo's edges."""
    return len(crop) == 4


def clamp_crop(width: int, height: int, crop: Crop) -> Crop:
    """The nearest crop lying inside the photo: side within [MIN_CROP, 1], square wholly inside. A free
    crop keeps its angle (in (-180, 180]) and only has its centre kept on the photo and its side within
    [MIN_CROP, MAX_FREE_CROP]."""
    if is_free(crop):
        cx, cy, size, angle = (float(v) for v in crop)
        angle = -((-angle + 180.0) % 360.0 - 180.0)
        return (min(1.0, max(0.0, cx)), min(1.0, max(0.0, cy)), min(MAX_FREE_CROP, max(MIN_CROP, size)), angle)
    cx, cy, size = (float(v) for v in crop)
    size = min(1.0, max(MIN_CROP, size))
    side = size * min(width, height)
    hx, hy = side / 2 / width, side / 2 / height
    return (min(1 - hx, max(hx, cx)), min(1 - hy, max(hy, cy)), size)


def crop_corners(width: int, height: int, crop: Crop) -> list[tuple[float, float]]:
    """The crop square's corners in photo pixels (top left, top right, bottom right, bottom left of what
    the model sees), after clamping: what a view draws."""
    c = clamp_crop(width, height, crop)
    side = c[2] * min(width, height)
    angle = math.radians(c[3]) if is_free(c) else 0.0
    ux, uy = math.cos(angle), -math.sin(angle)  # the crop's x axis on the photo (y down)
    vx, vy = math.sin(angle), math.cos(angle)   # its y axis
    x0, y0 = c[0] * width, c[1] * height
    return [(x0 + side * (a * ux + b * vx), y0 + side * (a * uy + b * vy))
            for a, b in ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5))]


def warp_crop(im: "PILImage.Image", crop: Crop, resolution: int) -> "np.ndarray":
    """A free crop at resolution x resolution, (R, R, 3) uint8: bilinear samples of the turned square, edge
    pixels repeated past the photo, and the photo first box-reduced when the square spans over twice the
    output's pixels (so a large photo is averaged, not aliased)."""
    import numpy as np

    w, h = im.size
    cx, cy, size, angle = clamp_crop(w, h, crop if is_free(crop) else (*crop, 0.0))
    side = size * min(w, h)
    factor = max(1, int(side / resolution / 2))
    src = np.asarray(im.reduce(factor) if factor > 1 else im, np.float32)
    a = math.radians(angle)
    t = ((np.arange(resolution) + 0.5) / resolution - 0.5) * side
    ox, oy = np.meshgrid(t, t)  # offsets along the crop's x and y axes, photo pixels
    x = (cx * w + ox * math.cos(a) + oy * math.sin(a)) / factor - 0.5
    y = (cy * h - ox * math.sin(a) + oy * math.cos(a)) / factor - 0.5
    sh, sw = src.shape[:2]
    x, y = np.clip(x, 0, sw - 1), np.clip(y, 0, sh - 1)
    x0, y0 = np.minimum(x.astype(int), sw - 2).clip(0), np.minimum(y.astype(int), sh - 2).clip(0)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x1, y1 = np.minimum(x0 + 1, sw - 1), np.minimum(y0 + 1, sh - 1)
    top = src[y0, x0] * (1 - fx) + src[y0, x1] * fx
    bottom = src[y1, x0] * (1 - fx) + src[y1, x1] * fx
    return np.clip(top * (1 - fy) + bottom * fy + 0.5, 0, 255).astype(np.uint8)


def crop_box(width: int, height: int, crop: Crop) -> tuple[int, int, int, int]:
    """The crop as a whole-pixel (left, top, right, bottom) box inside the photo, after clamping (a free
    crop: the box around its turned square, cut to the photo)."""
    if is_free(crop):
        xs, ys = zip(*crop_corners(width, height, crop))
        return (max(0, math.floor(min(xs))), max(0, math.floor(min(ys))),
                min(width, math.ceil(max(xs))), min(height, math.ceil(max(ys))))
    cx, cy, size = clamp_crop(width, height, crop)
    side = max(1, round(size * min(width, height)))
    left = min(width - side, max(0, round(cx * width - side / 2)))
    top = min(height - side, max(0, round(cy * height - side / 2)))
    return (left, top, left + side, top + side)


def photo_tensor(im: "PILImage.Image", crop: Crop, resolution: int) -> "Tensor":
    """(1, 3, R, R) float32 in [-1, 1]: crop, then PIL's antialiased bilinear resize, exactly as the
    official pipeline's CenterCrop and Resize do on PIL images (resizing inside a box would differ at the
    edges, where the filter reaches past the crop). A free crop (alignment's) is sampled by `warp_crop`."""
    import numpy as np
    import torch
    from PIL import Image

    if is_free(crop):
        small = warp_crop(im, crop, resolution)
    else:
        small = im.crop(crop_box(im.width, im.height, crop))
        small = small.resize((resolution, resolution), Image.Resampling.BILINEAR)
    a = np.asarray(small, np.float32) / 127.5 - 1.0
    return torch.from_numpy(a.transpose(2, 0, 1).copy()).unsqueeze(0)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_latent(path: str | os.PathLike, crop: Crop = DEFAULT_CROP) -> ImageLatent:
    """The latent for a photo the user opened: checked readable now, hashed so a recipe notices edits."""
    p = Path(path).expanduser().resolve()
    im, sha = _decoded(*_stat_key(p))
    return ImageLatent(str(p), sha, clamp_crop(im.width, im.height, crop))


def latent_tensor(latent: ImageLatent, resolution: int) -> "Tensor":
    """The model input for an image latent, cached by file identity, crop and size so a toggle that
    re-renders does not decode the photo again. The tensor is shared: do not modify it in place."""
    p = Path(latent.path).expanduser()
    key = _stat_key(p)
    _, sha = _decoded(*key)
    if latent.sha256 and latent.sha256 != sha:
        raise PhotoError(f"{p.name} has changed since this recipe was made; open the photo again")
    return _tensor(*key, tuple(float(v) for v in latent.crop), int(resolution))


def _stat_key(p: Path) -> tuple[str, int, int]:
    try:
        st = p.stat()
    except FileNotFoundError:
        raise PhotoError(f"the input photo {p} is missing (moved or deleted?)") from None
    except OSError as exc:
        raise PhotoError(f"the input photo {p} cannot be read: {exc.strerror or exc}") from None
    return str(p), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=2)  # decoded photos can be tens of MB each
def _decoded(path: str, mtime_ns: int, size: int) -> tuple["PILImage.Image", str]:
    data = _read_bytes(Path(path))
    return _decode(data, Path(path).name), file_sha256(data)


@lru_cache(maxsize=32)
def _tensor(path: str, mtime_ns: int, size: int, crop: Crop, resolution: int) -> "Tensor":
    im, _ = _decoded(path, mtime_ns, size)
    return photo_tensor(im, crop, resolution)
