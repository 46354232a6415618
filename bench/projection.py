"""Projection of held-out ToyFaces photos into the demo models: reconstruction PSNR and whether the attribute
model reads the photo's true factors from the projection (issue 17's acceptance figures).

Photos are drawn with seeds [990017, i, 0x9E5]: the demos trained on [0, step] streams, so none of these
faces was seen in training. StyleGAN2 demo in W+ (bars: mean PSNR >= 25 dB, attribute agreement >= 90 %);
DCGAN demo in z (reported, no bar). Decisions per photo: the hair colour (one of three), eyeglasses, male,
smiling. Run under `nice -n 19`; exits 1 on a missed bar.

    nice -n 19 .venv/bin/python bench/projection.py --photos 20
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import studio  # noqa: E402
from bench.bars import Figure, report  # noqa: E402
from studio.bundled import resolve_demo  # noqa: E402
from studio.demo import toyfaces  # noqa: E402
from studio.demo.estimate import source_labels  # noqa: E402
from studio.demo.toyfaces import BINARY_ATTRIBUTES  # noqa: E402

HELD_OUT = 990_017
HAIR = slice(0, 3)


def decisions(labels: np.ndarray) -> np.ndarray:
    """(N, 4): hair colour index, eyeglasses, male, smiling from 0/1 labels in BINARY_ATTRIBUTES order."""
    return np.concatenate([labels[:, HAIR].argmax(1)[:, None], labels[:, 3:]], 1)


def run_model(name: str, space: str, photos: toyfaces.ToyFacesBatch, steps: int) -> dict[str, float]:
    g = studio.load(str(resolve_demo(name)), "cpu")
    truth = decisions(photos.binary)
    psnrs, images, seconds = [], [], []
    for i, im in enumerate(photos.images):
        r = studio.project(g, im, space, steps, seed=i)
        psnrs.append(r.psnr)
        images.append(r.image[0])
        seconds.append(r.seconds)
        print(f"  {name} {space} photo {i}: {r.psnr:.2f} dB in {r.seconds:.1f} s", flush=True)
    read = decisions(source_labels(torch.stack(images).clamp(-1, 1), BINARY_ATTRIBUTES))
    return {"psnr": float(np.mean(psnrs)), "psnr_min": float(np.min(psnrs)),
            "agree": float((read == truth).mean()), "seconds": float(np.mean(seconds))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=50, help="held-out photos (default 50)")
    ap.add_argument("--steps", type=int, default=200, help="optimisation steps per photo (default 200)")
    args = ap.parse_args()
    photos = toyfaces.sample(args.photos, [HELD_OUT, args.photos, 0x9E5])
    ceiling = float((decisions(source_labels(photos.images, BINARY_ATTRIBUTES)) == decisions(photos.binary)).mean())
    started = time.perf_counter()
    sg = run_model("demo:stylegan2", "w+", photos, args.steps)
    dc = run_model("demo:dcgan", "z", photos, args.steps)
    print(f"\n{args.photos} held-out photos, {args.steps} steps, {time.perf_counter() - started:.0f} s in all; "
          f"the attribute model on the photos themselves agrees with their factors in {ceiling:.1%}")
    print(f"StyleGAN2 W+: {sg['seconds']:.1f} s per photo (min PSNR {sg['psnr_min']:.2f} dB); "
          f"DCGAN z: {dc['seconds']:.1f} s per photo (min {dc['psnr_min']:.2f} dB)\n")
    return report([
        Figure("stylegan2 W+ mean PSNR (dB)", sg["psnr"], ">= 25", sg["psnr"] >= 25),
        Figure("stylegan2 W+ attribute agreement", sg["agree"], ">= 0.90", sg["agree"] >= 0.90),
        Figure("dcgan z mean PSNR (dB)", dc["psnr"], "reported", True),
        Figure("dcgan z attribute agreement", dc["agree"], "reported", True),
        Figure("stylegan2 W+ seconds per 64 px photo", sg["seconds"], "reported", True),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
