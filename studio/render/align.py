"""Face alignment: find a face's eyes and mouth in a photo and turn, scale and shift it into the framing
the model was trained on, so a tilted or off-centre photo is projected or translated as a training face
would be (an unaligned one gives a garbled result).

The answer is a free crop of the photo (studio.core.photo: centre, side and angle of a turned square) that
carries the similarity transform, so the StarGAN photo view can show it and the user can move it by hand,
and recipes store it as any crop. Which framing a model wants follows from its training data
(`framing_for`): the bundled demos trained on ToyFaces, whose eyes and mouth sit at fixed places; a model
named for CelebA or FFHQ, or with CelebA attributes, gets that data set's eye-mouth framing; any other
domain (bedrooms, digits, unknown) is not aligned, and the caller says so.

Detectors, each offline: ToyFaces faces by a small landmark regressor trained on ToyFaces drawn with their
true landmarks under random turns, shifts and scales (studio.demo.landmark_net, weights in
resources/landmarks/ with a manifest; bench/alignment.py compares it with the hand-made part detector of
studio.demo.landmarks); real faces by OpenCV's Haar cascades for the face and the eyes, whose model files ship inside the
opencv-python-headless wheel (the optional `align` extra; without it a clear AlignError names the extra).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.photo import DEFAULT_CROP, Crop, clamp_crop, warp_crop
from studio.errors import StudioError

Point = tuple[float, float]
NAMES = ("left_eye", "right_eye", "mouth")  # left and right as seen in the image
OPENCV_EXTRA = "pip install 'latent-studio[align]' (opencv-python-headless, whose wheel ships the Haar cascades)"


class AlignError(StudioError):
    """Alignment cannot run (its detector is not installed, or the image is not a photo)."""


@dataclass(frozen=True)
class Framing:
    """Where a training face's eyes and mouth lie, as fractions of the image side (x right, y down), and
    which detector finds them. `scale_by` "mouth": the side follows the eye-to-mouth distance alone (ToyFaces
    vary the face's width but never that distance); "both": the mean of that and the eye distance."""

    name: str
    left_eye: Point
    right_eye: Point
    mouth: Point
    detector: str  # "toyfaces" or "opencv"
    scale_by: str = "both"

    def points(self, resolution: int) -> dict[str, Point]:
        """The framing's landmarks in pixels of a resolution x resolution image."""
        return {n: (getattr(self, n)[0] * resolution, getattr(self, n)[1] * resolution) for n in NAMES}


# Measured: the mean true pupils and mouth of 400 ToyFaces drawn with pos_x = pos_y = tilt = 0 (the centre of
# the demos' training framing), in 64 px units.
TOYFACES = Framing("ToyFaces", (26.17 / 64, 29.09 / 64), (37.83 / 64, 29.09 / 64), (32.07 / 64, 39.21 / 64),
                   "toyfaces", "mouth")
# CelebA's aligned faces (178 x 218) have mean eyes near (69, 111) and (108, 111) and mouth corners near
# (72, 152) and (105, 152); after the official CenterCrop(178) (rows 20..198) those are these fractions.
CELEBA = Framing("CelebA", (69 / 178, 91 / 178), (108 / 178, 91 / 178), (88.5 / 178, 132 / 178), "opencv")
# FFHQ's aligner centres the crop 0.1 eye-to-mouth below the eyes with a side of 3.6 eye-to-mouth distances
# (when that term of its max() wins): eyes at y 0.472, mouth at 0.75, the eyes a quarter side apart.
FFHQ = Framing("FFHQ", (0.375, 0.472), (0.625, 0.472), (0.5, 0.75), "opencv")
FRAMINGS = {f.name.lower(): f for f in (TOYFACES, CELEBA, FFHQ)}

# CelebA's attribute names that say "a face" (a StarGAN or a labelled model trained on it).
_FACE_ATTRIBUTES = {"Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young", "Smiling", "Eyeglasses",
                    "Bald", "Mustache", "Wearing_Hat", "Pale_Skin", "Heavy_Makeup", "Attractive"}


def framing_for(info: Any) -> Framing | None:
    """The framing a model's training faces had, or None for a domain that is not faces (no alignment).

    `info`: a ModelInfo (its name, e.g. "StyleGAN2 ToyFaces 64", and attribute names say the data set)."""
    from studio.model.labellers import trained_on_toyfaces

    if trained_on_toyfaces(info):
        return TOYFACES
    text = f"{getattr(info, 'name', '')} {getattr(info, 'family', '')}".lower()
    if "ffhq" in text:
        return FFHQ
    if re.search(r"celeb|\bfaces?\b", text) or len(_FACE_ATTRIBUTES & set(getattr(info, "attributes", ()))) >= 2:
        return CELEBA
    return None


@dataclass(frozen=True)
class Alignment:
    """What `align_face` found: `found` says whether a face was; `crop` is the free crop of the photo that
    frames it (DEFAULT_CROP, the centred square, when none was found), `image` that crop at the model's
    resolution, `landmarks` the eyes and mouth in photo pixels (the ones found), `message` one line for the
    user."""

    found: bool
    crop: Crop
    image: np.ndarray
    landmarks: dict[str, Point] = field(default_factory=dict)
    framing: Framing = TOYFACES
    message: str = ""

    @property
    def angle(self) -> float:
        """Degrees the photo's face was turned anticlockwise (the crop's angle)."""
        return float(self.crop[3]) if len(self.crop) == 4 else 0.0


def _as_pil(image: Any):
    from PIL import Image

    if hasattr(image, "convert") and hasattr(image, "size"):
        return image.convert("RGB")
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise AlignError(f"alignment needs a uint8 (H, W, 3) photo, not {a.dtype} {a.shape}")
    return Image.fromarray(np.ascontiguousarray(a[..., :3]))


def align_face(image: Any, resolution: int, framing: Framing = TOYFACES) -> Alignment:
    """Detect the face in `image` (uint8 H x W x 3 array or PIL image), fit the turn, scale and shift that
    puts its eyes and mouth where `framing` has them, and warp it to resolution x resolution.

    No face found: `found` False and the centred square, so a caller can go on unaligned and say so."""
    pil = _as_pil(image)
    points = detect_landmarks(np.asarray(pil), framing)
    crop = crop_from_landmarks(points, framing, pil.size, resolution)
    if crop is None:
        crop = clamp_crop(*pil.size, DEFAULT_CROP)
        return Alignment(False, crop, warp_crop(pil, crop, resolution), points, framing,
                         f"no {framing.name} face found: the photo's centred square is used unaligned")
    a = crop[3]
    return Alignment(True, crop, warp_crop(pil, crop, resolution), points, framing,
                     f"aligned to the {framing.name} framing (turned {a:+.1f}°, side {crop[2]:.2f})")


def detect_landmarks(rgb: np.ndarray, framing: Framing) -> dict[str, Point]:
    """The eyes and mouth found in an (H, W, 3) uint8 photo, in pixels, by the framing's detector (a part
    not found is left out)."""
    if framing.detector == "toyfaces":
        return toyfaces_landmarks(rgb)
    if framing.detector == "opencv":
        return _opencv_landmarks(rgb)
    raise AlignError(f"unknown face detector {framing.detector!r}")


_TOY_SIDE = 64  # ToyFaces' drawing size: the detectors are made for it
TOY_METHODS = ("net", "rules")


def toyfaces_net_path() -> Path:
    from studio.bundled import resources_dir

    return resources_dir() / "landmarks" / "toyfaces_landmarks.safetensors"


def toyfaces_landmarks(rgb: np.ndarray, method: str = "net") -> dict[str, Point]:
    """A ToyFaces photo's pupils and mouth in its pixels. "net": the bundled landmark regressor
    (studio.demo.landmark_net; nothing when it sees no face); "rules": the hand-made part detector
    (studio.demo.landmarks.find_landmarks), its mouth refined to include a grin's teeth.
    bench/alignment.py measures both on held-out photos; the net is the one used."""
    small = _toyfaces_scale(rgb)
    if method == "net":
        from studio.demo import landmark_net

        path = toyfaces_net_path()
        if not path.is_file():
            raise AlignError(f"the ToyFaces landmark model {path} is missing; reinstall Latent Studio")
        pts, present = landmark_net.predict(landmark_net.load(path), small[None])
        found: dict[str, Point | None] = ({n: (float(x), float(y)) for n, (x, y) in zip(NAMES, pts[0])}
                                          if present[0] >= landmark_net.PRESENT else {})
    elif method == "rules":
        from studio.demo.landmarks import find_landmarks

        found = find_landmarks(small)
    else:
        raise AlignError(f"unknown ToyFaces landmark method {method!r} (known: {', '.join(TOY_METHODS)})")
        if found.get("mouth") is not None:  # its red centroid sits below a grin's true centre
            found["mouth"] = _toy_mouth(small, found["mouth"])
    k = max(rgb.shape[:2]) / _TOY_SIDE
    return {n: (p[0] * k, p[1] * k) for n, p in found.items() if p is not None}


def _toy_mouth(rgb: np.ndarray, rough: Point) -> Point:
    """The mouth's centre with its teeth: the detector's mouth is the centroid of the red pixels, which sits
    a pixel below a grin's true centre (its white teeth are on top); here white pixels within the red blob's
    columns and up to 3 px above it count too, so a grin and a closed mouth share one place."""
    x0, y0 = int(rough[0]), int(rough[1])
    a = rgb[max(0, y0 - 6):y0 + 6, max(0, x0 - 7):x0 + 8].astype(np.float32)
    r, g = a[..., 0], a[..., 1]
    red = np.clip(r / np.maximum(g, 1.0) - 2.0, 0.0, 1.0) * (r > 60)
    if red.sum() < 1.0:
        return rough
    rows, cols = np.nonzero(red > 0.2)
    white = np.clip((a.min(-1) - 200.0) / 40.0, 0.0, 1.0)
    band = np.zeros_like(white)
    band[max(0, rows.min() - 3):rows.max() + 1, cols.min():cols.max() + 1] = 1.0
    w = red + white * band
    ys, xs = np.mgrid[0:w.shape[0], 0:w.shape[1]]
    total = float(w.sum())
    return (float((xs * w).sum()) / total + max(0, x0 - 7) + 0.5, float((ys * w).sum()) / total + max(0, y0 - 6) + 0.5)


def _toyfaces_scale(rgb: np.ndarray) -> np.ndarray:
    """The photo padded square (edge pixels repeated) and resized to ToyFaces' 64 px, where the detector's
    eye template fits."""
    from PIL import Image

    h, w = rgb.shape[:2]
    side = max(h, w)
    if (h, w) != (side, side):
        rgb = np.pad(rgb, ((0, side - h), (0, side - w), (0, 0)), mode="edge")
    if side == _TOY_SIDE:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((_TOY_SIDE, _TOY_SIDE), Image.Resampling.BOX
                                                  if side > _TOY_SIDE else Image.Resampling.BILINEAR))


def crop_from_landmarks(points: dict[str, Point], framing: Framing, size: tuple[int, int],
                        resolution: int) -> Crop | None:
    """The free crop (cx, cy, size, angle) of a photo of `size` (w, h) whose warp puts the found eyes
    (and mouth, when found) at the framing's places; None without both eyes.

    The turn is the mean of the eye line's and the eye-to-mouth line's (FFHQ's aligner combines the two
    the same way), the scale per `framing.scale_by`, and the shift puts the midpoint of eyes and mouth where
    the framing has it."""
    if "left_eye" not in points or "right_eye" not in points:
        return None
    c = {n: complex(*p) for n, p in framing.points(resolution).items()}
    s = {n: complex(*p) for n, p in points.items()}
    if s["left_eye"].real > s["right_eye"].real:  # the detector's left is the image's left
        s["left_eye"], s["right_eye"] = s["right_eye"], s["left_eye"]
    eyes_c, eyes_s = c["right_eye"] - c["left_eye"], s["right_eye"] - s["left_eye"]
    if abs(eyes_s) < 1e-6:
        return None
    mid_c, mid_s = (c["left_eye"] + c["right_eye"]) / 2, (s["left_eye"] + s["right_eye"]) / 2
    turn = eyes_s / eyes_c
    scale = abs(turn)
    anchor_c, anchor_s = mid_c, mid_s
    if "mouth" in s:
        down_c, down_s = c["mouth"] - mid_c, s["mouth"] - mid_s
        if abs(down_s) > 1e-6:
            by_mouth = down_s / down_c
            turn = turn / abs(turn) + by_mouth / abs(by_mouth)
            scale = abs(by_mouth) if framing.scale_by == "mouth" else (scale + abs(by_mouth)) / 2
            anchor_c, anchor_s = (mid_c + c["mouth"]) / 2, (mid_s + s["mouth"]) / 2
    if abs(turn) < 1e-9:
        return None
    u = turn / abs(turn) * scale  # output pixel offsets -> photo pixel offsets (y down)
    centre = anchor_s + u * (complex(resolution / 2, resolution / 2) - anchor_c)
    w, h = size
    angle = -math.degrees(math.atan2(u.imag, u.real))
    return clamp_crop(w, h, (centre.real / w, centre.imag / h, scale * resolution / min(w, h), angle))


# -- real faces: OpenCV's Haar cascades ---------------------------------------------------------------------
def opencv_available() -> bool:
    try:
        _cascades()
    except AlignError:
        return False
    return True


_CASCADES: tuple[Any, Any, Any] | None = None


def _cascades() -> tuple[Any, Any, Any]:
    """(cv2, face cascade, eye cascade), loaded once from the files inside the opencv wheel."""
    global _CASCADES
    if _CASCADES is None:
        try:
            import cv2
        except ImportError:
            raise AlignError(f"aligning real faces needs OpenCV: {OPENCV_EXTRA}") from None
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        face = cv2.CascadeClassifier(folder + "haarcascade_frontalface_default.xml")
        eye = cv2.CascadeClassifier(folder + "haarcascade_eye.xml")
        if face.empty() or eye.empty():
            raise AlignError(f"this OpenCV ({cv2.__version__}) ships no Haar cascades (OpenCV 5 dropped them): "
                             f"{OPENCV_EXTRA}, version below 5")
        _CASCADES = (cv2, face, eye)
    return _CASCADES


def _opencv_landmarks(rgb: np.ndarray) -> dict[str, Point]:
    """Largest frontal face; the two eyes the eye cascade finds in its upper half (eye centres); the mouth
    where a face's is for those eyes (CelebA's mean: as far below the eyes' midpoint as the eyes are apart),
    since no cascade finds a mouth reliably. Eyes not found: their mean places in the face box."""
    cv2, face_c, eye_c = _cascades()
    grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))
    side = min(grey.shape)
    faces = face_c.detectMultiScale(grey, 1.1, 5, minSize=(max(24, side // 8),) * 2)
    if len(faces) == 0:
        return {}
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    top = grey[y:y + h // 2, x:x + w]
    eyes = eye_c.detectMultiScale(top, 1.1, 5, minSize=(max(6, w // 10),) * 2, maxSize=(w // 2,) * 2)
    centres = sorted(((x + ex + ew / 2, y + ey + eh / 2, ew * eh) for ex, ey, ew, eh in eyes),
                     key=lambda e: -e[2])[:2]
    if len(centres) == 2 and abs(centres[0][0] - centres[1][0]) > w / 5:
        (lx, ly, _), (rx, ry, _) = sorted(centres)
    else:  # the Haar face box puts the eyes near 30 % and 70 % across, 38 % down
        lx, ly, rx, ry = x + 0.3 * w, y + 0.38 * h, x + 0.7 * w, y + 0.38 * h
    mid = complex((lx + rx) / 2, (ly + ry) / 2)
    mouth = mid + (complex(rx, ry) - complex(lx, ly)) * 1j * (41 / 39)  # eyes 39 px apart, mouth 41 below
    return {"left_eye": (lx, ly), "right_eye": (rx, ry), "mouth": (mouth.real, mouth.imag)}


# -- what projection and translation call ---------------------------------------------------------------------
def prepare_photo(image: Any, info: Any, align: bool | None = None) -> tuple[Any, Alignment | None, str]:
    """The photo as a model should see it: (image to use, the Alignment or None, one line for the user).

    `align` None (the default) aligns photos (a path, PIL image or uint8 array) for face domains and leaves
    tensors (a generator's own output) as they are; True aligns a tensor too and fails clearly where
    alignment cannot run; False never aligns. A non-face domain, or a photo without a face, goes on as it is,
    and the line says so."""
    if align is False:
        return image, None, ""
    framing = framing_for(info)
    name = getattr(info, "name", "") or getattr(info, "family", "this model")
    if framing is None:
        return image, None, f"alignment skipped: {name} was not trained on faces"
    import torch

    if torch.is_tensor(image):
        if align is None:
            return image, None, ""
        x = image.detach().float().cpu()
        x = x[0] if x.ndim == 4 else x
        if x.ndim != 3 or x.shape[0] not in (1, 3):
            raise AlignError(f"cannot align a tensor shaped {list(image.shape)}")
        image = ((x.expand(3, -1, -1).permute(1, 2, 0).numpy() + 1.0) * 127.5).clip(0, 255).round().astype(np.uint8)
    elif isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        from studio.core.photo import open_photo

        image = open_photo(image)
    try:
        result = align_face(image, int(info.resolution), framing)
    except AlignError as exc:
        if align:
            raise
        return image, None, f"alignment skipped: {exc}"
    return (result.image if result.found else image), result, result.message


def align_latent(latent: Any, info: Any, align: bool | None = None) -> tuple[Any, Alignment | None, str]:
    """A photo latent (studio.core.photo.ImageLatent) with its crop set to the alignment, for translators:
    (latent, the Alignment or None, one line for the user). `align` as in `prepare_photo`; a photo without a
    face, or a non-face domain, keeps its crop."""
    from dataclasses import replace

    from studio.core.photo import open_photo

    if align is False:
        return latent, None, ""
    framing = framing_for(info)
    if framing is None:
        name = getattr(info, "name", "") or getattr(info, "family", "this model")
        return latent, None, f"alignment skipped: {name} was not trained on faces"
    try:
        result = align_face(open_photo(latent.path), int(info.resolution), framing)
    except AlignError as exc:
        if align:
            raise
        return latent, None, f"alignment skipped: {exc}"
    return (replace(latent, crop=result.crop) if result.found else latent), result, result.message
