"""Photo input: every kind of file a user drops becomes an upright RGB image or one clear PhotoError;
the crop reproduces the official CelebA CenterCrop-then-Resize and can be moved and scaled."""
from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.photo import (DEFAULT_CROP, ImageLatent, clamp_crop, crop_box, image_latent, latent_tensor,
                               open_photo, photo_tensor)
from studio.core.recipe import ModelRef, Recipe
from studio.errors import PhotoError, RecipeError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def halves(w: int, h: int, first=RED, second=BLUE, vertical: bool = True) -> Image.Image:
    """Top/bottom (vertical) or left/right halves in two colours: orientation shows at a glance."""
    a = np.zeros((h, w, 3), np.uint8)
    if vertical:
        a[: h // 2], a[h // 2:] = first, second
    else:
        a[:, : w // 2], a[:, w // 2:] = first, second
    return Image.fromarray(a)


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")])
def test_formats_open_as_rgb(tmp_path, fmt, suffix):
    path = tmp_path / f"p{suffix}"
    halves(64, 48).save(path, fmt, **({"quality": 95} if fmt != "PNG" else {}))
    im = open_photo(path)
    assert im.mode == "RGB" and im.size == (64, 48)
    a = np.asarray(im, np.int16)
    assert np.abs(a[5, 5] - RED).max() < 40 and np.abs(a[-5, 5] - BLUE).max() < 40


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    upright = halves(40, 60)  # portrait: red on top
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # how a sideways camera stores it: 60x40
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "phone.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(path).size == (60, 40)
    im = open_photo(path)
    assert im.size == (40, 60)
    a = np.asarray(im, np.int16)
    assert np.abs(a[5, 20] - RED).max() < 40 and np.abs(a[-5, 20] - BLUE).max() < 40


def test_alpha_is_composited_on_white(tmp_path):
    a = np.zeros((40, 40, 4), np.uint8)
    a[..., 0] = 255  # red everywhere...
    a[:20, :, 3] = 0  # ...transparent on top
    a[20:, :, 3] = 128  # half transparent below
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    px = np.asarray(open_photo(tmp_path / "a.png"), np.int16)
    assert (px[:20] == 255).all()
    assert np.abs(px[30, 5] - (255, 127, 127)).max() <= 1
    la = Image.fromarray(np.stack([np.zeros((40, 40), np.uint8), np.full((40, 40), 0, np.uint8)], -1), "LA")
    la.save(tmp_path / "la.png")
    assert (np.asarray(open_photo(tmp_path / "la.png")) == 255).all()
    p = Image.new("P", (40, 40), 1)
    p.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    p.save(tmp_path / "p.png", transparency=1)
    assert (np.asarray(open_photo(tmp_path / "p.png")) == 255).all()


def test_grayscale_is_promoted_and_16_bit_scaled(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 50).astype(np.uint8), (40, 1))
    Image.fromarray(ramp, "L").save(tmp_path / "g.png")
    im = open_photo(tmp_path / "g.png")
    a = np.asarray(im)
    assert im.mode == "RGB" and (a[..., 0] == ramp).all() and (a[..., 1] == ramp).all() and (a[..., 2] == ramp).all()
    deep = (ramp.astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "g16.png")
    a16 = np.asarray(open_photo(tmp_path / "g16.png"), np.int16)
    assert np.abs(a16[..., 0] - ramp).max() <= 1  # scaled to 8 bit, not clipped to white


def _png_header_only(path: Path, w: int, h: int) -> None:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = struct.pack(">I", 0) + b"IDAT" + struct.pack(">I", zlib.crc32(b"IDAT"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + idat)


def _truncated_jpeg(path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(path, "JPEG")
    path.write_bytes(path.read_bytes()[:3000])


BAD = {
    "missing": (lambda p: None, "no such photo"),
    "folder": (lambda p: p.mkdir(), "is a folder"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "not an image": (lambda p: p.write_text("hello, I am a text file"), "not an image"),
    "truncated": (_truncated_jpeg, "truncated or corrupt"),
    "too small": (lambda p: Image.new("RGB", (31, 100)).save(p, "PNG"), "31x100 pixels; a photo needs at least 32"),
    "too large": (lambda p: Image.new("L", (8001, 40)).save(p, "PNG"), "8001x40 pixels; photos over 8000"),
    "bomb header": (lambda p: _png_header_only(p, 30000, 30000), "too large"),
    "gif": (lambda p: Image.new("RGB", (40, 40)).save(p, "GIF"), "GIF image; photos must be JPEG, PNG or WebP"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_photos_give_a_clear_message(tmp_path, case):
    make, message = BAD[case]
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(PhotoError, match=message):
        open_photo(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_photo(tmp_path):
    path = tmp_path / "locked.png"
    Image.new("RGB", (40, 40)).save(path)
    path.chmod(0)
    try:
        with pytest.raises(PhotoError, match="permission denied"):
            open_photo(path)
    finally:
        path.chmod(0o644)


def test_default_crop_is_the_official_celeba_center_crop(tmp_path):
    rng = np.random.default_rng(1)
    celeb = Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8))
    assert crop_box(178, 218, DEFAULT_CROP) == (0, 20, 178, 198)  # torchvision CenterCrop(178)
    x = photo_tensor(celeb, DEFAULT_CROP, 128)
    assert x.shape == (1, 3, 128, 128) and x.min() >= -1 and x.max() <= 1
    ref = np.asarray(celeb.crop((0, 20, 178, 198)).resize((128, 128), Image.Resampling.BILINEAR), np.float32)
    assert np.allclose(x[0].permute(1, 2, 0).numpy(), ref / 127.5 - 1, atol=1e-6)


def test_crop_moves_scales_and_stays_inside():
    im = halves(200, 100, vertical=False)  # red left, blue right
    x = photo_tensor(im, (0.25, 0.5, 0.8), 32)  # 80 px square centred in the red half
    assert np.allclose(x[0, :, 4:-4, 4:-4].mean((1, 2)).numpy(), (1, -1, -1), atol=1e-6)
    x = photo_tensor(im, (0.75, 0.5, 0.8), 32)
    assert np.allclose(x[0, :, 4:-4, 4:-4].mean((1, 2)).numpy(), (-1, -1, 1), atol=1e-6)
    assert clamp_crop(200, 100, (0.0, 0.0, 1.0)) == (0.25, 0.5, 1.0)  # pushed back inside
    assert clamp_crop(200, 100, (0.5, 0.5, 3.0))[2] == 1.0 and clamp_crop(200, 100, (0.5, 0.5, 0.001))[2] > 0
    left, top, right, bottom = crop_box(200, 100, (0.99, 0.01, 0.5))
    assert right <= 200 and top >= 0 and right - left == bottom - top == 50


def test_image_latent_hashes_caches_and_round_trips(tmp_path):
    path = tmp_path / "me.png"
    halves(60, 80).save(path)
    lat = image_latent(path, (0.5, 0.5, 2.0))
    assert lat.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and lat.crop == (0.5, 0.5, 1.0)
    a, b = latent_tensor(lat, 32), latent_tensor(lat, 32)
    assert a is b and a.shape == (1, 3, 32, 32)  # decoded once per file state, crop and size
    r = Recipe(ModelRef("g.ckpt"), lat)
    assert Recipe.from_json(r.to_json()) == r
    halves(60, 80, BLUE, RED).save(path)
    with pytest.raises(PhotoError, match="changed since this recipe"):
        latent_tensor(lat, 32)
    assert latent_tensor(ImageLatent(str(path)), 32)[0, 2, 0, 0] == 1.0  # no hash: the current file, blue on top


@pytest.mark.parametrize("bad", [
    {"path": ""}, {"path": "a.png", "crop": (0.5, 0.5)}, {"path": "a.png", "crop": (0.5, 0.5, 0.0)},
    {"path": "a.png", "crop": (0.5, float("nan"), 1.0)}, {"path": 3},
])
def test_image_latent_validation(bad):
    with pytest.raises(RecipeError):
        ImageLatent(**bad)
