"""Face alignment (studio.render.align): a ToyFaces photo moved by a known turn and shift is found and put
back; non-face models are not aligned and say so; a missing OpenCV is one clear message naming the extra;
free (turned) crops sample the photo as the model's input."""
from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.photo import ImageLatent, clamp_crop, crop_corners, photo_tensor, warp_crop
from studio.core.recipe import ModelRef, Recipe
from studio.demo import landmarks, toyfaces
from studio.model.api import ModelInfo
from studio.render import align
from studio.render.align import CELEBA, TOYFACES, AlignError, align_face, framing_for, prepare_photo

TOY_INFO = ModelInfo("stylegan2", "safetensors", 64, name="StyleGAN2 ToyFaces 64")


def canonical_faces(n: int, seed: int) -> list[toyfaces.FaceParams]:
    """Held-out faces at the centre of the demos' training framing (no shift, no tilt)."""
    ps = toyfaces.sample_params(np.random.default_rng([990_017, seed]), n)
    return [dataclasses.replace(p, pos_x=0.0, pos_y=0.0, tilt=0.0) for p in ps]


def moved(image: np.ndarray, dx: int, dy: int, angle: float) -> np.ndarray:
    """Turned `angle` degrees anticlockwise about the centre, then shifted; corners in the border colour."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).mean(0)
    return np.asarray(Image.fromarray(image).rotate(angle, Image.Resampling.BICUBIC, translate=(dx, dy),
                                                    fillcolor=tuple(int(v) for v in border)))


def moved_point(p: tuple[float, float], dx: float, dy: float, angle: float, c: float = 32.0) -> tuple[float, float]:
    a = math.radians(angle)
    x, y = p[0] - c, p[1] - c
    return (c + x * math.cos(a) + y * math.sin(a) + dx, c - x * math.sin(a) + y * math.cos(a) + dy)


def in_aligned(p: tuple[float, float], crop: tuple[float, ...], side: int = 64) -> tuple[float, float]:
    """Where the free crop's warp puts a photo point (a side x side photo, a side x side output)."""
    cx, cy, size, angle = crop
    a = math.radians(angle)
    ox, oy = p[0] - cx * side, p[1] - cy * side
    return ((ox * math.cos(a) - oy * math.sin(a)) / size + side / 2,
            (ox * math.sin(a) + oy * math.cos(a)) / size + side / 2)


@pytest.mark.parametrize("dx, dy, angle", [(7, -5, 13.0), (-8, 6, -15.0), (3, 8, 6.0)])
def test_alignment_recovers_a_known_turn_and_shift(dx, dy, angle):
    for p in canonical_faces(4, int(angle) + 20):
        image, _ = toyfaces.render_face(p)
        still = align_face(image, 64, TOYFACES)
        got = align_face(moved(image, dx, dy, angle), 64, TOYFACES)
        assert still.found and got.found and "ToyFaces" in got.message
        assert got.angle - still.angle == pytest.approx(angle, abs=3.0)  # 0.3 px on a 12 px eye line is 1.5°
        cx, cy = moved_point((still.crop[0] * 64, still.crop[1] * 64), dx, dy, angle)
        assert got.crop[0] * 64 == pytest.approx(cx, abs=1.0) and got.crop[1] * 64 == pytest.approx(cy, abs=1.0)
        assert got.crop[2] == pytest.approx(still.crop[2], rel=0.05)
        # the face's true landmarks land where they land when the unmoved photo is aligned
        truth = landmarks.true_landmarks(p)
        for name, point in truth.items():
            assert math.dist(in_aligned(moved_point(point, dx, dy, angle), got.crop),
                             in_aligned(point, still.crop)) < 1.0
        for name in align.NAMES:  # the detector saw the moved points where they went
            assert math.dist(got.landmarks[name], moved_point(truth[name], dx, dy, angle)) < 1.25


def test_a_photo_at_a_larger_size_aligns_to_the_model_resolution():
    p = canonical_faces(1, 3)[0]
    image, _ = toyfaces.render_face(p)
    big = np.asarray(Image.fromarray(moved(image, 5, 4, 10.0)).resize((256, 256), Image.Resampling.BICUBIC))
    small, large = align_face(moved(image, 5, 4, 10.0), 64, TOYFACES), align_face(big, 64, TOYFACES)
    assert large.found and large.image.shape == (64, 64, 3)
    assert large.angle == pytest.approx(small.angle, abs=1.5)
    assert np.abs(large.image.astype(int) - small.image.astype(int)).mean() < 8


def test_no_face_is_found_false_and_the_centred_square():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    got = align_face(noise, 64, TOYFACES)
    assert not got.found and got.crop[:3] == (0.5, 0.5, 1.0) and "no ToyFaces face found" in got.message
    image, note = prepare_photo(noise, TOY_INFO)[::2]
    assert image is noise and "no ToyFaces face" in note


def test_framing_follows_the_training_data():
    assert framing_for(TOY_INFO) is TOYFACES
    assert framing_for(ModelInfo("stargan", "ckpt", 128, attributes=("Black_Hair", "Male", "Young"))) is CELEBA
    assert framing_for(ModelInfo("stylegan2", "pkl", 1024, name="StyleGAN2 FFHQ 1024")).name == "FFHQ"
    assert framing_for(ModelInfo("dcgan", "pth", 64, name="DCGAN LSUN bedroom")) is None


def test_a_non_face_domain_is_not_aligned_and_says_so():
    info = ModelInfo("dcgan", "pth", 64, name="DCGAN LSUN bedroom")
    image = toyfaces.sample(1, [990_017, 1]).images[0]
    for choice in (None, True):
        out, result, note = prepare_photo(image, info, choice)
        assert out is image and result is None and note == "alignment skipped: DCGAN LSUN bedroom was not trained on faces"
    assert prepare_photo(image, TOY_INFO, False) == (image, None, "")


def test_a_tensor_is_aligned_only_when_asked():
    p = canonical_faces(1, 5)[0]
    image = moved(toyfaces.render_face(p)[0], 6, 0, 0.0)
    x = torch.from_numpy(image.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    assert prepare_photo(x, TOY_INFO)[0] is x  # a generator's own output is taken as it is
    out, result, _ = prepare_photo(x, TOY_INFO, True)
    assert result.found and result.crop[0] * 64 == pytest.approx(32 + 6, abs=1.0)


def test_missing_opencv_is_one_message_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now fails as if not installed
    monkeypatch.setattr(align, "_CASCADES", None)
    image = np.full((128, 128, 3), 128, np.uint8)
    with pytest.raises(AlignError, match=r"latent-studio\[align\]") as exc:
        align_face(image, 128, CELEBA)
    assert "\n" not in str(exc.value)
    assert not align.opencv_available()
    info = ModelInfo("stargan", "ckpt", 128, attributes=("Black_Hair", "Male", "Young"))
    out, result, note = prepare_photo(image, info)  # the default goes on unaligned and says why
    assert out is image and result is None and note.startswith("alignment skipped:") and "[align]" in note
    with pytest.raises(AlignError):
        prepare_photo(image, info, True)  # asked for: an error


def test_opencv_finds_no_face_in_a_flat_photo():
    pytest.importorskip("cv2", reason="OpenCV is the optional 'align' extra")
    got = align_face(np.full((160, 160, 3), 200, np.uint8), 128, CELEBA)
    assert not got.found and got.image.shape == (128, 128, 3)


# -- free crops ------------------------------------------------------------------------------------------------
def test_a_free_crop_without_a_turn_is_the_photo_and_a_quarter_turn_is_rot90():
    image = toyfaces.sample(1, [990_017, 2]).images[0]
    pil = Image.fromarray(image)
    assert np.array_equal(warp_crop(pil, (0.5, 0.5, 1.0, 0.0), 64), image)
    assert np.array_equal(warp_crop(pil, (0.5, 0.5, 1.0, 90.0), 64), np.rot90(image, -1))
    # past the edge the border pixels repeat
    right = warp_crop(pil, (1.0, 0.5, 1.0, 0.0), 64)
    assert np.array_equal(right[:, :32], image[:, 32:]) and np.array_equal(right[:, 40], image[:, 63])


def test_a_free_crop_is_a_recipe_crop_and_the_model_input():
    image = toyfaces.sample(1, [990_017, 3]).images[0]
    crop = (0.55, 0.45, 0.8, 12.5)
    latent = ImageLatent("/tmp/x.png", "", crop)
    r = Recipe(ModelRef("m", "id"), latent)
    assert Recipe.from_json(r.to_json()).latent.crop == crop
    x = photo_tensor(Image.fromarray(image), crop, 64)
    expected = warp_crop(Image.fromarray(image), crop, 64).astype(np.float32) / 127.5 - 1
    assert torch.allclose(x[0].permute(1, 2, 0), torch.from_numpy(expected))
    assert clamp_crop(64, 64, (2.0, -1.0, 9.0, 370.0)) == (1.0, 0.0, 4.0, 10.0)
    corners = crop_corners(100, 100, (0.5, 0.5, 1.0, 90.0))  # top left of the model's view: bottom left
    assert corners[0] == pytest.approx((0.0, 100.0), abs=1e-9)
