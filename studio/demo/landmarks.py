"""ToyFaces landmarks: where the eyes and the mouth are, exactly for a drawn face and measured in any image.

`true_landmarks` reads a face's own drawing (the part-index image ToyFaces renders from), so it is exact;
`find_landmarks` measures the same points in an RGB image (a ToyFaces photo or a demo model's sample) from
what the parts look like: a pupil is a dark spot with brighter pixels 2 px to its left, right, above and
below (a brow, a glasses rim or the mouth is dark along a line, so one side of it is dark too), and the
mouth is the red blob below the eyes. bench/drag.py checks `find_landmarks` against `true_landmarks` on
ToyFaces photos first, then uses it to see whether a drag moved the face part and not just the handle.

Coordinates are image pixels at 64 px: x right, y down, pixel i spans [i, i+1) (its centre is i + 0.5).
"""
from __future__ import annotations

import functools

import numpy as np

from studio.demo import toyfaces

NAMES = ("left_eye", "right_eye", "mouth")
MIN_EYE_SCORE = 0.4  # normalised correlation with the drawn eye an eye must reach
MOUTH_RATIO = 2.0    # red / green above this is lip or mouth (skin, hair and beard stay below 1.8)


def true_landmarks(p: toyfaces.FaceParams) -> dict[str, tuple[float, float]]:
    """The centroids of the face's pupils (left and right in the image) and of its mouth parts, from its
    supersampled part drawing."""
    parts, _ = toyfaces._draw_face(p)  # noqa: SLF001 - the drawing is the ground truth
    idx = np.asarray(parts)
    s = toyfaces.SUPERSAMPLE
    ys, xs = np.nonzero(idx == toyfaces.PUPIL)
    cx = (xs.min() + xs.max()) / 2
    out: dict[str, tuple[float, float]] = {}
    for name, side in (("left_eye", xs < cx), ("right_eye", xs >= cx)):
        out[name] = ((xs[side].mean() + 0.5) / s, (ys[side].mean() + 0.5) / s)
    ys, xs = np.nonzero(np.isin(idx, (toyfaces.MOUTH, toyfaces.TEETH, toyfaces.LIP)))
    out["mouth"] = ((xs.mean() + 0.5) / s, (ys.mean() + 0.5) / s)
    return out


def _luma(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _centroid(weights: np.ndarray, x0: int, y0: int) -> tuple[float, float]:
    ys, xs = np.mgrid[0:weights.shape[0], 0:weights.shape[1]]
    total = float(weights.sum())
    return (float((xs * weights).sum()) / total + x0 + 0.5, float((ys * weights).sum()) / total + y0 + 0.5)


@functools.lru_cache(maxsize=4)
def eye_template(scale: float = 1.0) -> np.ndarray:
    """ToyFaces' eye as drawn (a white ellipse 2.7 x 1.8 px with a dark pupil 1.4 x 1.5 px, on skin), as
    grey levels on a 7 x 5 pixel grid (a glasses rim, 4 px out, falls outside it), zero-mean and unit-norm
    (for normalised correlation)."""
    ss = 8
    h, w = int(round(5 * scale)) | 1, int(round(7 * scale)) | 1
    ys, xs = np.mgrid[0:h * ss, 0:w * ss]
    x = ((xs + 0.5) / ss - w / 2) / scale
    y = ((ys + 0.5) / ss - h / 2) / scale
    t = np.full(x.shape, 0.7)
    t[(x / 2.7) ** 2 + (y / 1.8) ** 2 <= 1] = 1.0
    t[(x / 1.4) ** 2 + ((y - 0.1) / 1.5) ** 2 <= 1] = 0.15
    t = t.reshape(h, ss, w, ss).mean((1, 3))
    t -= t.mean()
    return t / np.linalg.norm(t)


def eye_score(image: np.ndarray) -> np.ndarray:
    """Normalised correlation of the luminance with `eye_template` at every pixel (the template's centre
    there): 1 where the image looks exactly like a drawn eye, whatever the skin's brightness; 0 at the
    border."""
    lum = _luma(image)
    h, w = lum.shape
    t = eye_template(w / toyfaces.SIZE)
    th, tw = t.shape
    win = np.lib.stride_tricks.sliding_window_view(lum, (th, tw))  # (h - th + 1, w - tw + 1, th, tw)
    centred = win - win.mean((2, 3), keepdims=True)
    norm = np.sqrt((centred ** 2).sum((2, 3)))
    ncc = (centred * t).sum((2, 3)) / np.maximum(norm, 1e-3)
    score = np.zeros_like(lum)
    score[th // 2:th // 2 + ncc.shape[0], tw // 2:tw // 2 + ncc.shape[1]] = np.where(norm > 20.0, ncc, 0.0)
    return score


def _largest_blob(weights: np.ndarray) -> np.ndarray:
    """`weights` kept only on its largest 8-connected region of positive pixels (by summed weight)."""
    on = weights > 0
    labels = np.zeros(on.shape, np.int32)
    best, best_sum, n = 0, 0.0, 0
    h, w = on.shape
    for y0, x0 in zip(*np.nonzero(on)):
        if labels[y0, x0]:
            continue
        n += 1
        labels[y0, x0] = n
        stack, total = [(y0, x0)], 0.0
        while stack:
            y, x = stack.pop()
            total += float(weights[y, x])
            for yy in range(max(0, y - 1), min(h, y + 2)):
                for xx in range(max(0, x - 1), min(w, x + 2)):
                    if on[yy, xx] and not labels[yy, xx]:
                        labels[yy, xx] = n
                        stack.append((yy, xx))
        if total > best_sum:
            best, best_sum = n, total
    return np.where(labels == best, weights, 0.0) if best else weights * 0.0


def _peaks(score: np.ndarray, floor: float) -> list[tuple[float, int, int]]:
    """Local maxima (3 x 3) of `score` above `floor`, as (score, x, y), best first."""
    h, w = score.shape
    pad = np.pad(score, 1, constant_values=-np.inf)
    nb = np.stack([pad[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])
    ys, xs = np.nonzero((score >= nb.max(0)) & (score > floor))
    return sorted(((float(score[y, x]), int(x), int(y)) for y, x in zip(ys, xs)), reverse=True)


def _mouth_below(red: np.ndarray, eyes: tuple[tuple[int, int], tuple[int, int]], k: float
                 ) -> tuple[float, float] | None:
    """The centroid of the largest red blob where a face with these eyes has its mouth: 5 to 15 px below
    their midpoint, within 8 px of it side to side (the mouth sits 10 px below, 2.5 px aside at most tilt)."""
    (xa, ya), (xb, yb) = eyes
    mx, my = (xa + xb) / 2, (ya + yb) / 2
    h, w = red.shape
    y0, y1 = int(max(0, my + 5 * k)), int(min(h, my + 15 * k + 1))
    x0, x1 = int(max(0, mx - 8 * k)), int(min(w, mx + 8 * k + 1))
    win = _largest_blob(red[y0:y1, x0:x1])
    return _centroid(win, x0, y0) if win.sum() >= 0.5 else None


def find_landmarks(image: np.ndarray) -> dict[str, tuple[float, float] | None]:
    """The pupils and the mouth measured in an (H, W, 3) uint8 image of a ToyFaces-like face (None where a
    part is not found). Eyes: of the peaks of `eye_score`, the pair with the highest summed score that sits
    as a face's eyes do (8 to 16 px apart side by side) and has a mouth 6 to 14 px below their midpoint and
    at most 4 px aside, else the best pair; each
    refined to the score's centroid in a 3 x 3 window. Mouth: the centroid of the largest blob of red
    pixels (weighted by how red) where that face's mouth is (see `_mouth_below`)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"landmarks need an (H, W, 3) image, not {img.shape}")
    img = img[..., :3]
    h, w = img.shape[:2]
    k = w / toyfaces.SIZE
    out: dict[str, tuple[float, float] | None] = {n: None for n in NAMES}
    rgb = img.astype(np.float32)
    ratio = rgb[..., 0] / np.maximum(rgb[..., 1], 1.0)
    red = np.clip(ratio - MOUTH_RATIO, 0.0, 1.0) * (rgb[..., 0] > 60)
    score = eye_score(img)
    peaks = _peaks(score, MIN_EYE_SCORE)[:12]
    best: tuple[bool, float] = (False, -1.0)
    pick = None
    for i, (sa, xa, ya) in enumerate(peaks):
        for sb, xb, yb in peaks[i + 1:]:
            if not (8 * k <= abs(xa - xb) <= 16 * k and abs(ya - yb) <= 5 * k):
                continue
            mouth = _mouth_below(red, ((xa, ya), (xb, yb)), k)
            mx, my = (xa + xb) / 2 + 0.5, (ya + yb) / 2 + 0.5
            fits = mouth is not None and abs(mouth[0] - mx) <= 4 * k and 6 * k <= mouth[1] - my <= 14 * k
            rank = (fits, sa + sb)
            if rank > best:
                best, pick = rank, (((xa, ya), (xb, yb)), mouth)
    if pick is not None:
        pair, out["mouth"] = pick
        eyes = []
        for x, y in pair:
            x0, y0 = max(0, x - 1), max(0, y - 1)
            win = np.clip(score[y0:y + 2, x0:x + 2], 0, None)
            eyes.append(_centroid(win, x0, y0))
        eyes.sort()
        out["left_eye"], out["right_eye"] = eyes[0], eyes[1]
    return out
