"""Drag to edit (issue 23): handles on ToyFaces landmarks of the StyleGAN2 demo moved 4-8 px.

Each trial draws a seed (from 25_000 up: no other bench or test uses these; the drag's settings and the
landmark detector were chosen on 23 000+, 24 000+ and 50 000+ before this range was run), finds the face's
pupils and mouth in its image (studio.demo.landmarks, checked first against ToyFaces' own drawings), puts
one handle on one of them (left eye, right eye, mouth in turn) and a target 4-8 px away in a random
direction that keeps the face inside the positions ToyFaces draws (its centre within x 27..37, y 26.5..33.5
px: the model cannot draw a face elsewhere, so a drag there would test the data, not the method), paints the
flexible region a user would (the person where it is and where the move takes it: in ToyFaces head, hair and
shirt move together, so the background is what must stay; see `person_mask`) and drags with the drag's
defaults (W+ rows 0..2, the 64 px features) for at most 100 steps. Figures:

- tracked handle within 2 px of its target (bar: >= 80 % of trials);
- the landmark measured in the result moved with it: its measured displacement within 2 px of the
  intended one (bar: >= 80 %);
  (reported beside it: eyes and mouths apart, and the same measured by the alignment's landmark
  regressor, studio.demo.landmark_net, as a second opinion);
- mean pixel change outside the flexible region, 0-255 levels (bar: <= 3 mean over trials);
- seconds per optimisation step at 64 px (the demo) and at 256 px (a StyleGAN2 config-f with random
  weights): reported.

Run under `nice -n 19`; exits 1 on a missed bar.

    nice -n 19 .venv/bin/python bench/drag.py --trials 50
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import studio  # noqa: E402
from bench.bars import Figure, report  # noqa: E402
from studio.bundled import resolve_demo  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.demo import landmarks, toyfaces  # noqa: E402
from studio.demo.estimate import source_labels  # noqa: E402
from studio.render.drag import DragPoint, DragSettings, drag  # noqa: E402
from studio.render.align import toyfaces_landmarks  # noqa: E402
from studio.render.engine import Renderer, to_uint8  # noqa: E402

FIRST_SEED = 25_000  # held out: 23 000+ and 24 000+ were used while choosing the settings and the detector
DETECTOR_SEED = 230_023
CENTRE_X, CENTRE_Y = (27.0, 37.0), (26.5, 33.5)
STEPS = 100


def detector_check(n: int) -> list[Figure]:
    """find_landmarks against true_landmarks on ToyFaces photos: is it a measure to trust?"""
    batch = toyfaces.sample(n, DETECTOR_SEED)
    errs: dict[str, list[float]] = {k: [] for k in landmarks.NAMES}
    for img, p in zip(batch.images, batch.params):
        truth, got = landmarks.true_landmarks(p), landmarks.find_landmarks(img)
        for k in landmarks.NAMES:
            errs[k].append(math.inf if got[k] is None else math.dist(truth[k], got[k]))
    eyes = np.array(errs["left_eye"] + errs["right_eye"])
    mouth = np.array(errs["mouth"])
    found = float(np.isfinite(np.concatenate([eyes, mouth])).mean())
    return [Figure("detector: landmarks found on ToyFaces photos", found, ">= 0.95", found >= 0.95),
            Figure("detector: eye error, median px", float(np.median(eyes)), "<= 0.5 px",
                   float(np.median(eyes)) <= 0.5),
            Figure("detector: mouth error, median px", float(np.median(mouth)), "<= 1.0 px",
                   float(np.median(mouth)) <= 1.0)]


def share(flags: np.ndarray) -> float:
    return float(flags.mean()) if flags.size else float("nan")


def decisions(image: np.ndarray) -> np.ndarray:
    """The attribute model's hair colour, eyeglasses, male and smiling for one image."""
    labels = source_labels(image[None], toyfaces.BINARY_ATTRIBUTES)[0]
    return np.concatenate([[labels[:3].argmax()], labels[3:]])


def face_centre(lm: dict) -> tuple[float, float]:
    (lx, ly), (rx, ry) = lm["left_eye"], lm["right_eye"]
    return (lx + rx) / 2, (ly + ry) / 2 + 0.9  # the pupils sit 0.9 px above the head's centre


def pick_move(rng: np.random.Generator, centre: tuple[float, float]) -> tuple[float, float] | None:
    for _ in range(200):
        dist, angle = rng.uniform(4.0, 8.0), rng.uniform(0, 2 * math.pi)
        dx, dy = dist * math.cos(angle), dist * math.sin(angle)
        cx, cy = centre[0] + dx, centre[1] + dy
        if CENTRE_X[0] <= cx <= CENTRE_X[1] and CENTRE_Y[0] <= cy <= CENTRE_Y[1]:
            return dx, dy
    return None


def person_mask(image: np.ndarray, move: tuple[float, float], grow: int = 2) -> np.ndarray:
    """The region a user paints to move a ToyFaces face: the person (every pixel unlike the background's
    colour, a plane fitted to the top and side edges), where it is and where the move takes it, grown by
    `grow` px. In
    ToyFaces the head, hair, neck and shirt move together, so the background is what must stay."""
    img = image.astype(np.float32)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    edge = np.zeros((h, w), bool)  # the top rows and the sides' upper half show background
    edge[:2] = True
    edge[: h // 2, :2] = edge[: h // 2, -2:] = True
    basis = np.stack([np.ones(h * w), xx.reshape(-1), yy.reshape(-1)], 1)
    coef, *_ = np.linalg.lstsq(basis[edge.reshape(-1)], img.reshape(-1, 3)[edge.reshape(-1)], rcond=None)
    bg = (basis @ coef).reshape(h, w, 3)  # the backdrop's colour with its light gradient
    person = np.abs(img - bg).max(2) > 25.0
    dx, dy = int(round(move[0])), int(round(move[1]))
    moved = np.zeros_like(person)
    moved[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
        person[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    m = person | moved
    for _ in range(grow):
        p = np.pad(m, 1)
        m = m | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    return m


def trials(n: int, settings: DragSettings, first_seed: int = FIRST_SEED, only: str = ""
           ) -> tuple[list[Figure], list[str]]:
    path = resolve_demo("demo:stylegan2")
    g = studio.load(str(path), "cpu")
    renderer = Renderer()
    rng = np.random.default_rng(first_seed)
    rows, lines = [], []
    seed, skipped = first_seed, 0
    while len(rows) < n:
        s, seed = seed, seed + 1
        recipe = Recipe(ModelRef(str(path), g.model_id), SeedLatent(s))
        before = renderer.render(g, recipe).image
        lm = landmarks.find_landmarks(before)
        if any(v is None for v in lm.values()):
            skipped += 1
            lines.append(f"  seed {s}: landmarks not all found; skipped")
            continue
        name = only or landmarks.NAMES[len(rows) % 3]
        centre = face_centre(lm)
        move = pick_move(rng, centre)
        if move is None:
            skipped += 1
            lines.append(f"  seed {s}: no 4-8 px move keeps this face inside ToyFaces' positions; skipped")
            continue
        hx, hy = lm[name]
        point = DragPoint((hx, hy), (hx + move[0], hy + move[1]))
        size = g.info.resolution
        mask = person_mask(before, move)
        t0 = time.perf_counter()
        res = drag(g, recipe, [point], mask, settings)
        took = time.perf_counter() - t0
        after = to_uint8(res.image)[0]
        lm2 = landmarks.find_landmarks(after)
        tracked = math.dist(res.handles[0], point.target)
        moved = None if lm2[name] is None else (lm2[name][0] - hx, lm2[name][1] - hy)
        follow = math.inf if moved is None else math.dist(moved, move)
        outside = float(np.abs(after.astype(np.float32) - before.astype(np.float32))[~mask].mean())
        kept = bool((decisions(before) == decisions(after)).all())
        net0, net1 = toyfaces_landmarks(before, "net"), toyfaces_landmarks(after, "net")
        follow_net = math.dist((net1[name][0] - net0[name][0], net1[name][1] - net0[name][1]), move) \
            if name in net0 and name in net1 else math.inf
        rows.append((tracked, follow, outside, res.steps, took / max(1, res.steps), kept, name == "mouth",
                     follow_net))
        lines.append(f"  seed {s} {name:9s} move {math.hypot(*move):.1f} px: {res.ended} after "
                     f"{res.steps:3d} "
                     f"steps, handle {tracked:.2f} px from target, landmark off its move by {follow:.2f} px, "
                     f"outside the mask {outside:.2f} levels" + ("" if kept else ", attributes changed"))
        print(lines[-1], flush=True)
    a = np.array(rows)
    handle_ok = float((a[:, 0] <= 2.0).mean())
    follow_ok = float((a[:, 1] <= 2.0).mean())
    outside = float(a[:, 2].mean())
    figures = [
        Figure(f"tracked handle within 2 px of target ({n} trials)", handle_ok, ">= 0.80", handle_ok >= 0.8),
        Figure("measured landmark moved with it (within 2 px)", follow_ok, ">= 0.80", follow_ok >= 0.8),
        Figure("  of which eyes: moved with it", share(a[a[:, 6] == 0, 1] <= 2.0), "reported", True),
        Figure("  of which mouths: moved with it", share(a[a[:, 6] == 1, 1] <= 2.0), "reported", True),
        Figure("  second opinion, the alignment's landmark net", share(a[:, 7] <= 2.0), "reported", True),
        Figure("mean pixel change outside the mask (levels)", outside, "<= 3", outside <= 3.0),
        Figure("attributes kept (hair, glasses, male, smiling)", float(a[:, 5].mean()), "reported", True),
        Figure("steps used, mean (of at most 100)", float(a[:, 3].mean()), "reported", True),
        Figure("seconds per step at 64 px (StyleGAN2 demo)", float(np.median(a[:, 4])), "reported", True),
    ]
    lines.append(f"  skipped seeds: {skipped}")
    return figures, lines


def random_256_step(steps: int = 5) -> Figure:
    from latent_studio_plugins.stylegan.network import random_stylegan2
    from latent_studio_plugins.stylegan.save import save_stylegan
    from stylegan import config_f

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "sg2_256.safetensors"
        save_stylegan(path, random_stylegan2(config_f(256), seed=0), name="StyleGAN2 256 config-f (random)")
        g = studio.load(str(path), "cpu")
        recipe = Recipe(ModelRef(str(path), g.model_id), SeedLatent(1))
        point = DragPoint((100.5, 120.5), (120.5, 120.5))
        times: list[float] = []
        last = [time.perf_counter()]

        def tick(_p: object) -> None:
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

        drag(g, recipe, [point], None, DragSettings(steps=steps, tolerance=0.0), progress=tick)
    per = float(np.median(times[1:] if len(times) > 1 else times))
    return Figure("seconds per step at 256 px (random StyleGAN2 config-f)", per, "reported", True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-256", action="store_true", help="leave out the 256 px timing")
    ap.add_argument("--lr", type=float, default=0.0, help="Adam step size (default: the drag's)")
    ap.add_argument("--rows", type=int, default=0, help="W+ rows 0..k-1 optimised (default: the drag's)")
    ap.add_argument("--layer", default="", help="feature stage (default: the drag's)")
    ap.add_argument("--skip-detector", action="store_true", help="leave out the landmark detector's check")
    ap.add_argument("--mask-weight", type=float, default=-1.0, help="mask term weight")
    ap.add_argument("--tolerance", type=float, default=-1.0, help="stop this close, px")
    ap.add_argument("--r1", type=float, default=0.0, help="motion radius, px")
    ap.add_argument("--only", choices=landmarks.NAMES, help="drag this landmark in every trial (diagnosis)")
    ap.add_argument("--first-seed", type=int, default=FIRST_SEED)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    figures = [] if args.skip_detector else detector_check(300)
    for f in figures:
        print(f"  {f.label}: {f.value:.3f}", flush=True)
    settings = DragSettings(steps=STEPS, lr=args.lr, rows=args.rows, layer=args.layer, r1=args.r1,
                            **({} if args.mask_weight < 0 else {"mask_weight": args.mask_weight}),
                            **({} if args.tolerance < 0 else {"tolerance": args.tolerance}))
    got, lines = trials(max(1, args.trials), settings, args.first_seed, args.only or "")
    print(lines[-1])
    figures += got
    if not args.skip_256:
        figures.append(random_256_step())
    print()
    return report(figures)


if __name__ == "__main__":
    sys.exit(main())
