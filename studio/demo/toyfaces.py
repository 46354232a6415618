"""ToyFaces: a procedural stand-in for CelebA with known, independent factors.

Real face datasets cannot ship with the app and their labels are noisy and
correlated; ToyFaces gives exact labels and masks for every factor, so latent
edits (e.g. "add glasses") can be checked against ground truth. Faces are drawn
with Pillow at ``SUPERSAMPLE`` x resolution into a palette image (one index per
face part) and box-downsampled, which anti-aliases cheaply and lets the part
masks come from the same drawing.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SUPERSAMPLE = 3  # 4 looks the same at 64 px and is ~20% slower

HAIR_COLOURS = ("Black", "Blond", "Brown")
BINARY_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Eyeglasses", "Male", "Smiling")
CONTINUOUS_FACTORS = ("pos_x", "pos_y", "tilt", "face_width", "skin_tone", "background", "lighting")

# Base rates chosen to be roughly balanced, like a curated CelebA subset.
P_EYEGLASSES = 0.4
P_MALE = 0.5
P_SMILING = 0.5

Seed = int | Sequence[int]


@dataclass(frozen=True, slots=True)
class FaceParams:
    """All factors of one face; continuous factors live in [-1, 1] so they are labels as-is."""

    hair: int  # index into HAIR_COLOURS
    eyeglasses: bool
    male: bool
    smiling: bool
    pos_x: float
    pos_y: float
    tilt: float
    face_width: float
    skin_tone: float
    background: float
    lighting: float

    def binary(self) -> np.ndarray:
        """Labels in BINARY_ATTRIBUTES order (one-hot hair, as CelebA's three hair columns)."""
        hair = [float(self.hair == i) for i in range(len(HAIR_COLOURS))]
        return np.array(hair + [self.eyeglasses, self.male, self.smiling], dtype=np.float32)

    def continuous(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in CONTINUOUS_FACTORS], dtype=np.float32)


@dataclass
class ToyFacesBatch:
    images: np.ndarray  # (N, 64, 64, 3) uint8
    binary: np.ndarray  # (N, 6) float32 0/1, BINARY_ATTRIBUTES order
    continuous: np.ndarray  # (N, 7) float32 in [-1, 1], CONTINUOUS_FACTORS order
    hair_mask: np.ndarray  # (N, 64, 64) bool, pixels mostly covered by scalp hair (not beard/brows)
    glasses_mask: np.ndarray  # (N, 64, 64) bool, every pixel the frames or lenses touch
    params: list[FaceParams]

    def __len__(self) -> int:
        return len(self.params)


def sample_params(rng: np.random.Generator, n: int) -> list[FaceParams]:
    """Draw factors independently; vectorised so the draw order never depends on values."""
    hair = rng.integers(0, len(HAIR_COLOURS), size=n)
    flags = rng.random((n, 3)) < np.array([P_EYEGLASSES, P_MALE, P_SMILING])
    cont = rng.uniform(-1.0, 1.0, size=(n, len(CONTINUOUS_FACTORS)))
    return [
        FaceParams(int(hair[i]), bool(flags[i, 0]), bool(flags[i, 1]), bool(flags[i, 2]),
                   *(float(v) for v in cont[i]))
        for i in range(n)
    ]


def sample(n: int, seed: Seed) -> ToyFacesBatch:
    """Deterministic batch: the same seed gives byte-identical images and labels."""
    return render_batch(sample_params(np.random.default_rng(seed), n))


def sample_overrides(n: int, seed: Seed, **fixed: float) -> ToyFacesBatch:
    """Like ``sample`` with some factors forced; every other factor equals ``sample(n, seed)``'s.

    Keys are names from BINARY_ATTRIBUTES or CONTINUOUS_FACTORS, so paired batches
    (e.g. Eyeglasses=1 vs Eyeglasses=0 under one seed) differ in that factor only,
    which is what attribute-direction arithmetic needs. A hair colour set to 1 is
    forced; set to 0 it is excluded, and faces that drew it get one of the rest.
    """
    forced, allowed = _check_overrides(fixed)
    common: dict[str, object] = {_FLAG_FIELDS[k]: bool(v) for k, v in fixed.items() if k in _FLAG_FIELDS}
    common.update({k: float(v) for k, v in fixed.items() if k in CONTINUOUS_FACTORS})
    if forced is not None:
        common["hair"] = forced
    rng = np.random.default_rng(seed)
    params = sample_params(rng, n)  # drawn first so the shared factors match sample()
    picks = rng.random(n)
    out = []
    for p, pick in zip(params, picks):
        hair = p.hair if p.hair in allowed else allowed[int(pick * len(allowed))]
        out.append(dataclasses.replace(p, **{"hair": hair, **common}))
    return render_batch(out)


_FLAG_FIELDS = {"Eyeglasses": "eyeglasses", "Male": "male", "Smiling": "smiling"}


def _check_overrides(fixed: dict[str, float]) -> tuple[int | None, list[int]]:
    """Validate overrides; return (forced hair index or None, allowed hair indices)."""
    for name, value in fixed.items():
        if name in CONTINUOUS_FACTORS:
            if not -1.0 <= float(value) <= 1.0:
                raise ValueError(f"{name}={value} outside [-1, 1]")
        elif name in BINARY_ATTRIBUTES:
            if value not in (0, 1):
                raise ValueError(f"{name}={value!r}: binary attributes take 0 or 1")
        else:
            raise KeyError(f"unknown factor {name!r}; expected one of {BINARY_ATTRIBUTES + CONTINUOUS_FACTORS}")
    hair_names = BINARY_ATTRIBUTES[:len(HAIR_COLOURS)]
    on = [i for i, h in enumerate(hair_names) if fixed.get(h) == 1]
    allowed = [i for i, h in enumerate(hair_names) if fixed.get(h, 1) == 1]
    if len(on) > 1 or not allowed:
        raise ValueError("hair overrides: at most one colour set to 1, and not all set to 0")
    return (on[0] if on else None), (on or allowed)


# ---------------------------------------------------------------- drawing

# Palette indices: one per face part so masks fall out of the drawing.
BG, SHIRT, NECK, SKIN, HAIR, BEARD, EYE_WHITE, PUPIL, BROW, NOSE, MOUTH, TEETH, LIP, FRAME, EAR = range(15)

_HAIR_RGB = ((28.0, 24.0, 26.0), (238.0, 198.0, 82.0), (112.0, 64.0, 30.0))
_SKIN_LIGHT = (252.0, 222.0, 196.0)
_SKIN_MID = (214.0, 160.0, 118.0)
_SKIN_DARK = (122.0, 80.0, 54.0)
_N_PARTS = 15
_FIXED_RGB = {SHIRT: (70, 88, 120), EYE_WHITE: (245, 245, 245), PUPIL: (40, 30, 30), MOUTH: (125, 28, 40),
              TEETH: (250, 250, 250), LIP: (165, 62, 70), FRAME: (20, 20, 28)}


def skin_rgb(t: float) -> tuple[float, float, float]:
    """Skin ramp light (-1) -> dark (+1) through a mid tone, staying clear of the hair colours."""
    end = _SKIN_LIGHT if t < 0 else _SKIN_DARK
    a = abs(t)
    return tuple(m + (e - m) * a for m, e in zip(_SKIN_MID, end))  # type: ignore[return-value]


def background_rgb(t: float) -> tuple[float, float, float]:
    """Hue ramp green -> blue -> violet; avoids yellow/brown so it never mimics hair."""
    r, g, b = colorsys.hsv_to_rgb(0.33 + 0.22 * (t + 1.0), 0.35, 0.86)
    return r * 255.0, g * 255.0, b * 255.0


def _palette(p: FaceParams) -> list[int]:
    """Per-face RGBA palette; the 4th byte flags hair so that one RGBX conversion yields both
    colour and hair coverage. Pure Python because numpy is slow on 15x4 arrays."""
    skin = skin_rgb(p.skin_tone)
    hair = _HAIR_RGB[p.hair]
    colours: dict[int, tuple[float, ...]] = dict(_FIXED_RGB)
    colours[BG] = background_rgb(p.background)
    for part, k in ((NECK, 0.86), (SKIN, 1.0), (EAR, 0.93), (NOSE, 0.82)):
        colours[part] = tuple(c * k for c in skin)
    colours[HAIR] = hair
    colours[BEARD] = tuple(c * 0.8 for c in hair)
    colours[BROW] = tuple(c * 0.6 + 10.0 for c in hair)
    out: list[int] = []
    for part in range(_N_PARTS):
        out += [int(c + 0.5) for c in colours[part]]  # all colours lie in [0, 255] by construction
        out.append(255 if part == HAIR else 0)
    return out


_COS = np.cos(np.linspace(0.0, 2.0 * math.pi, 32, endpoint=False))
_SIN = np.sin(np.linspace(0.0, 2.0 * math.pi, 32, endpoint=False))
_FILL, _OUTLINE, _LINE = range(3)


def _ellipses(spec: list[tuple[float, float, float, float]]) -> np.ndarray:
    """(k, 32) outlines for k ellipses given as (cx, cy, rx, ry), in one vectorised step."""
    a = np.asarray(spec, dtype=np.float64)
    return (a[:, :1] + 1j * a[:, 1:2]) + _COS * a[:, 2:3] + 1j * (_SIN * a[:, 3:4])


@functools.lru_cache(maxsize=64)
def _unit_arc(a0: float, a1: float, n: int) -> np.ndarray:
    return np.exp(1j * np.radians(np.linspace(a0, a1, n)))


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 16) -> np.ndarray:
    u = _unit_arc(a0, a1, n)
    return complex(cx, cy) + u.real * rx + 1j * (u.imag * ry)


def _face_shapes(p: FaceParams) -> list[tuple[np.ndarray, int, int, bool]]:
    """Draw list of (local points, palette index, fill/outline/line kind, follows head tilt).

    Local coordinates are 64-px units with the head centre at 0 and y down.
    Later shapes cover earlier ones, so the order is the occlusion order.
    """
    w, h = 14.0 + 2.5 * p.face_width, 18.0  # head half-width, half-height
    ey, ex = -1.0, 0.42 * w  # eye line, eye offset
    ears_head_eyes = _ellipses([(-w, 1.0, 2.6, 4.2), (w, 1.0, 2.6, 4.2), (0.0, 0.0, w, h),
                                (-ex, ey, 2.7, 1.8), (ex, ey, 2.7, 1.8),
                                (-ex, ey + 0.1, 1.4, 1.5), (ex, ey + 0.1, 1.4, 1.5)])
    out: list[tuple[np.ndarray, int, int, bool]] = []
    if not p.male:  # long hair hangs behind the head down to the shoulders
        back = np.append(_arc(0, 0, w + 5.0, h + 4.0, 180, 360), [w + 6.0 + 24j, -w - 6.0 + 24j])
        out.append((back, HAIR, _FILL, True))
    out += [(_arc(0, 36.0, 25.0, 11.0, 180, 360, 24), SHIRT, _FILL, False),
            (np.array([-5.5 + 8j, 5.5 + 8j, 6.5 + 27j, -6.5 + 27j]), NECK, _FILL, False),
            (ears_head_eyes[0], EAR, _FILL, True), (ears_head_eyes[1], EAR, _FILL, True),
            (ears_head_eyes[2], SKIN, _FILL, True)]
    if p.male:  # full beard along the jaw with sideburns, moustache, short cap of hair
        jaw = _arc(0, 0, w * 1.03, h * 1.06, -5, 185, 20)
        beard = np.concatenate([jaw, [-w - 1j, -w * 0.8 + 5.5j, -w * 0.4 + 7.5j,
                                      w * 0.4 + 7.5j, w * 0.8 + 5.5j, w - 1j]])
        out += [(beard, BEARD, _FILL, True), (_arc(0, 7.6, 5.2, 1.7, 0, 360, 16), BEARD, _FILL, True)]
        cap = np.concatenate([_arc(0, -0.5, w + 1.2, h + 2.5, 180, 360), [w + 0.3 - 1j, w - 1.2 - 5j],
                              _arc(0, -7.5, w * 0.8, 4.5, 360, 180, 10), [-w + 1.2 - 5j, -w - 0.3 - 1j]])
    else:  # fuller cap with a side-swept fringe
        cap = np.concatenate([_arc(0, -0.5, w + 2.5, h + 3.5, 180, 360), [w + 2.0 + 6j, w - 0.5 + 4j],
                              _arc(w * 0.35, -7.0, w * 0.9, 7.0, 330, 190, 12), [-w + 0.5 + 4j, -w - 2.0 + 6j]])
    out.append((cap, HAIR, _FILL, True))
    out += [(ears_head_eyes[i], EYE_WHITE if i < 5 else PUPIL, _FILL, True) for i in range(3, 7)]
    brow = np.array([-2.8 - 4.4j, 2.8 - 4.4j, 2.6 - 5.6j, -2.6 - 5.6j])
    out += [(brow - ex, BROW, _FILL, True), (brow + ex, BROW, _FILL, True),
            (np.array([-0.2 - 1.0j, 1.6 + 4.6j, -1.6 + 4.6j]), NOSE, _FILL, True)]
    my = 9.0
    if p.smiling:  # open grin: flat upper lip, deep lower curve, band of teeth on top
        mw = 0.42 * w
        upper = _arc(0, my - 2.0, mw, 1.4, 180, 0, 10)
        teeth_edge = _arc(0, my - 0.9, mw * 0.95, 1.2, 175, 5, 8)
        out += [(np.append(upper, _arc(0, my - 1.0, mw * 0.98, 3.8, 0, 180, 14)), MOUTH, _FILL, True),
                (np.append(upper, teeth_edge), TEETH, _FILL, True)]
    else:
        out.append((_arc(0, my, 0.3 * w, 0.9, 0, 360, 16), LIP, _FILL, True))
    if p.eyeglasses:
        rims = _ellipses([(-ex, ey, 4.0, 3.2), (ex, ey, 4.0, 3.2)])
        out += [(rims[0], FRAME, _OUTLINE, True), (rims[1], FRAME, _OUTLINE, True),
                (np.array([-ex + 3.9 + (ey - 1.2) * 1j, ex - 3.9 + (ey - 1.2) * 1j]), FRAME, _LINE, True)]
        out += [(np.array([side * (ex + 4.0) + (ey - 0.6) * 1j, side * (w + 0.5) + (ey - 1.0) * 1j]),
                 FRAME, _LINE, True) for side in (-1.0, 1.0)]
    return out


def _draw_face(p: FaceParams) -> tuple[Image.Image, Image.Image | None]:
    """Palette image of part indices and glasses coverage, both supersampled.

    All points of a face are transformed in one numpy step: per-shape numpy calls
    on tiny arrays were the renderer's main cost.
    """
    shapes = _face_shapes(p)
    sizes = [len(z) for z, *_ in shapes]
    z = np.concatenate([z for z, *_ in shapes])
    tilt = math.radians(14.0 * p.tilt)
    rot = np.repeat([complex(math.cos(tilt), math.sin(tilt)) if r else 1.0 for *_, r in shapes], sizes)
    origin = complex(32.0 + 5.0 * p.pos_x, 30.0 + 3.5 * p.pos_y)
    flat = ((z * rot + origin) * SUPERSAMPLE).view(np.float64).tolist()  # interleaved x, y

    s = SIZE * SUPERSAMPLE
    img = Image.new("P", (s, s), BG)
    d = ImageDraw.Draw(img)
    glass = Image.new("L", (s, s), 0) if p.eyeglasses else None
    g = ImageDraw.Draw(glass) if glass is not None else None
    lw = int(round(1.1 * SUPERSAMPLE))
    i = 0
    for (_, colour, kind, _), n in zip(shapes, sizes):
        xy = flat[i:i + 2 * n]
        i += 2 * n
        if kind == _FILL:
            d.polygon(xy, fill=colour)
        elif kind == _OUTLINE:
            d.polygon(xy, outline=colour, width=lw)
            g.polygon(xy, fill=255, outline=255, width=lw)
        else:
            d.line(xy, fill=colour, width=lw)
            g.line(xy, fill=255, width=lw)
    img.putpalette(_palette(p), "RGBA")
    return img, glass


_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1) * 2.0 - 1.0
_KEY_LIGHT = (1.0 - 0.07 * (_XX + _YY))[None, ..., None]


def _apply_lighting(images: np.ndarray, lighting: np.ndarray, chunk: int = 64) -> None:
    """In place: exposure (+-22%) set by the factor times a fixed soft key light from the top left.

    Chunked so the float temporaries stay in cache.
    """
    for a in range(0, len(images), chunk):
        gain = (1.0 + 0.22 * lighting[a:a + chunk, None, None, None]) * _KEY_LIGHT
        out = images[a:a + chunk] * gain
        out += 0.5
        np.clip(out, 0.0, 255.0, out=out)
        images[a:a + chunk] = out  # truncation after +0.5 rounds


def render_batch(params: Sequence[FaceParams]) -> ToyFacesBatch:
    """Render faces; a pure function of the params so any batch is reproducible."""
    n = len(params)
    rgbx = np.empty((n, SIZE, SIZE, 4), dtype=np.uint8)  # X: hair coverage (see _palette), not alpha
    glasses = np.zeros((n, SIZE, SIZE), dtype=bool)
    for i, p in enumerate(params):
        pal, glass = _draw_face(p)
        rgbx[i] = np.asarray(pal.convert("RGBX").reduce(SUPERSAMPLE))
        if glass is not None:
            glasses[i] = np.asarray(glass.reduce(SUPERSAMPLE)) > 0  # any coverage: thin arms count
    images = np.ascontiguousarray(rgbx[..., :3])
    hair = rgbx[..., 3] >= 128
    _apply_lighting(images, np.array([p.lighting for p in params], dtype=np.float32))
    binary = np.stack([p.binary() for p in params]) if n else np.zeros((0, 6), np.float32)
    cont = np.stack([p.continuous() for p in params]) if n else np.zeros((0, 7), np.float32)
    return ToyFacesBatch(images, binary, cont, hair, glasses, list(params))


def render_face(p: FaceParams) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One face: (64, 64, 3) uint8 image and {"hair", "glasses"} (64, 64) bool masks."""
    b = render_batch([p])
    return b.images[0], {"hair": b.hair_mask[0], "glasses": b.glasses_mask[0]}


def contact_sheet(images: np.ndarray, cols: int = 8, scale: int = 3) -> Image.Image:
    """Grid of images upscaled with nearest neighbour, for looking at samples by eye."""
    n = len(images)
    rows = -(-n // cols)
    sheet = np.full((rows * SIZE, cols * SIZE, 3), 255, dtype=np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        sheet[r * SIZE:(r + 1) * SIZE, c * SIZE:(c + 1) * SIZE] = im
    out = Image.fromarray(sheet)
    return out.resize((out.width * scale, out.height * scale), Image.NEAREST)
