"""A small landmark regressor for ToyFaces photos: the pupils and the mouth, and whether a face is there.

Face alignment (studio.render.align) needs the eyes and the mouth of a photo that may be shifted, turned and
scaled well past the demos' training framing. The hand-made detector (studio.demo.landmarks) reads the drawn
parts and is exact on faces near that framing, but loses a turned face's eyes behind a glasses rim or a brow;
this net learns the points from ToyFaces drawn with their true landmarks (studio.demo.landmarks.
true_landmarks) under random similarity warps, and a presence score from non-faces (noise, colour fields,
backgrounds, shuffled faces). 64 x 64 RGB in, 3 points (pixels) and a logit out; ~190 k weights stored as
float16 safetensors with the architecture in the metadata (loading never unpickles).

    nice -n 19 python -m studio.demo.landmark_net --out resources/landmarks/toyfaces_landmarks.safetensors

The seeds drawn for training are [0x1A4D, i]; bench/alignment.py measures on held-out seeds [990017, ...].
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from studio.demo import toyfaces

SIZE = 64
TRAIN_SEED = 0x1A4D
NAMES = ("left_eye", "right_eye", "mouth")
MAX_TURN, MAX_SHIFT, SCALES = 25.0, 11.0, (0.8, 1.25)  # the warps trained on (the bench uses +-15 deg, +-8 px)
NEGATIVE_SHARE = 0.15
PRESENT = 0.5  # presence probability above which a face is found


class LandmarkNet(nn.Module):
    """Four stride-2 convolutions (64 -> 4 px) and two linear layers: 6 coordinates (in units of half the
    image side around its centre) and one presence logit."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        chans = [3, w, 2 * w, 4 * w, 4 * w]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, 2, 1) for a, b in zip(chans, chans[1:]))
        self.fc = nn.Linear(4 * w * 16, 128)
        self.out = nn.Linear(128, 7)
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = F.leaky_relu(c(x), 0.1)
        return self.out(F.leaky_relu(self.fc(x.flatten(1)), 0.1))


def _to_input(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def predict(net: LandmarkNet, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 64, 64, 3) uint8 -> points (N, 3, 2) in pixels (x right, y down; NAMES order) and the probability
    (N,) that a face is there."""
    with torch.no_grad():
        out = net(_to_input(images)).numpy()
    pts = (out[:, :6].reshape(-1, 3, 2) + 1.0) * (SIZE / 2)
    return pts, 1.0 / (1.0 + np.exp(-out[:, 6]))


@functools.lru_cache(maxsize=2)
def load(path: str | Path) -> LandmarkNet:
    """The net from a safetensors file of `save` (architecture from its metadata)."""
    with safe_open(str(path), "pt") as f:
        meta = json.loads((f.metadata() or {}).get("landmark_net", "{}"))
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    net = LandmarkNet(int(meta.get("width", 16)))
    net.load_state_dict(state)
    return net.eval()


# -- training data ------------------------------------------------------------------------------------------
def _warp(image: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The photo turned, scaled and shifted about its centre (corners filled with its border colour or its
    edge pixels), and its points moved the same way."""
    angle = math.radians(rng.uniform(-MAX_TURN, MAX_TURN))
    scale = math.exp(rng.uniform(*np.log(SCALES)))
    dx, dy = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
    c = SIZE / 2
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    fwd = np.array([[cos, sin], [-sin, cos]])  # anticlockwise on screen (y down)
    moved = (pts - c) @ fwd.T + c + (dx, dy)
    inv = np.linalg.inv(fwd)
    off = np.array([c, c]) - inv @ np.array([c + dx, c + dy])
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).mean(0)
    out = Image.fromarray(image).transform((SIZE, SIZE), Image.Transform.AFFINE,
                                           (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1]),
                                           Image.Resampling.BILINEAR, fillcolor=tuple(int(v) for v in border))
    return np.asarray(out), moved


def _negative(rng: np.random.Generator, face: np.ndarray) -> np.ndarray:
    kind = rng.integers(4)
    if kind == 0:  # noise
        return rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    if kind == 1:  # a smooth colour field
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        return np.asarray(Image.fromarray(small).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    if kind == 2:  # a ToyFaces background with its lighting, no face
        return np.broadcast_to(face[:1, :1], face.shape).copy()
    tiles = face.reshape(4, 16, 4, 16, 3).transpose(0, 2, 1, 3, 4).reshape(16, 16, 16, 3)  # shuffled face
    tiles = tiles[rng.permutation(16)]
    return tiles.reshape(4, 4, 16, 16, 3).transpose(0, 2, 1, 3, 4).reshape(SIZE, SIZE, 3)


def make_data(n: int, seed: int = TRAIN_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n photos (uint8), their points (n, 3, 2) and presence (n,) drawn from seeds [seed, i]."""
    from studio.demo.landmarks import true_landmarks

    rng = np.random.default_rng([seed, n])
    params = toyfaces.sample_params(rng, n)
    faces = toyfaces.render_batch(params).images
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    pts = np.zeros((n, 3, 2), np.float32)
    present = np.ones(n, np.float32)
    for i, (im, p) in enumerate(zip(faces, params)):
        if rng.random() < NEGATIVE_SHARE:
            images[i], present[i] = _negative(rng, im), 0.0
            continue
        truth = true_landmarks(p)
        images[i], pts[i] = _warp(im, np.array([truth[k] for k in NAMES]), rng)
    return images, pts, present


def train(n: int, epochs: int, seed: int = TRAIN_SEED, log=print) -> tuple[LandmarkNet, dict]:
    torch.manual_seed(seed)
    started = time.perf_counter()
    images, pts, present = make_data(n, seed)
    log(f"data: {n} photos in {time.perf_counter() - started:.0f} s")
    x = _to_input(images)
    y = torch.from_numpy(pts.reshape(n, 6) / (SIZE / 2) - 1.0)
    m = torch.from_numpy(present)
    net = LandmarkNet()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    steps = epochs * (n // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    for epoch in range(epochs):
        order = torch.randperm(n)
        for b in range(n // 128):
            idx = order[b * 128:(b + 1) * 128]
            out = net(x[idx])
            err = F.smooth_l1_loss(out[:, :6], y[idx], reduction="none", beta=0.02).mean(1)
            loss = (err * m[idx]).sum() / m[idx].sum().clamp(min=1) + 0.1 * F.binary_cross_entropy_with_logits(
                out[:, 6], m[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f} ({time.perf_counter() - started:.0f} s)")
    return net.eval(), {"photos": n, "epochs": epochs, "seed": seed, "seconds": round(time.perf_counter() - started)}


def save(net: LandmarkNet, path: Path, info: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"landmark_net": json.dumps({"width": net.width, "names": NAMES, **info})}
    save_file({k: v.detach().half().contiguous() for k, v in net.state_dict().items()}, str(path), meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=30000)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    net, info = train(args.photos, args.epochs)
    save(net, args.out, info)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
