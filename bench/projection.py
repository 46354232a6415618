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
    psnrs, images, seconds, recipes = [], [], [], []
    for i, im in enumerate(photos.images):
        r = studio.project(g, im, space, steps, seed=i)
        psnrs.append(r.psnr)
        images.append(r.image[0])
        seconds.append(r.seconds)
        recipes.append(r.recipe(g, resolve_demo(name)))
        print(f"  {name} {space} photo {i}: {r.psnr:.2f} dB in {r.seconds:.1f} s", flush=True)
    read = decisions(source_labels(torch.stack(images).clamp(-1, 1), BINARY_ATTRIBUTES))
    out = {"psnr": float(np.mean(psnrs)), "psnr_min": float(np.min(psnrs)),
           "agree": float((read == truth).mean()), "seconds": float(np.mean(seconds))}
    out.update(smile_walk(g, recipes, "w" if g.has_w else "z"))
    return out


def smile_walk(g, recipes: list, space: str) -> dict[str, float]:
    """Walk each projection along a Smiling direction fitted (InterFaceGAN, as the Directions panel does) in
    the model's space: is the smile score monotone (bench/edits_directions.py's tolerance), and do the other
    decisions (hair, eyeglasses, male) keep the projection's value at every amount?"""
    from bench.edits_directions import AMOUNTS, monotone
    from studio.demo.estimate import attribute_model
    from studio.render.analysis import fit_attribute_job, run_job
    from studio.render.engine import Renderer

    renderer, net = Renderer(), attribute_model()
    fitted = run_job(fit_attribute_job(g, renderer, net, "Smiling", 3000, "logistic", space))
    d = fitted.direction
    unit = float(d.stddev[0]) if d.stddev is not None else 1.0
    walked = [r.with_walk(d.label(), tuple(d.vectors[0].tolist()), float(a) * unit, d.walk_space())
              for r in recipes for a in AMOUNTS]
    images = torch.cat([g.run(g.recipe_context(walked[k:k + 45])) for k in range(0, len(walked), 45)])
    probs = source_labels(images.clamp(-1, 1), BINARY_ATTRIBUTES)
    scores = torch.sigmoid(net(images.clamp(-1, 1))[0][:, 5]).detach().numpy().reshape(len(recipes), -1)
    others = decisions(probs)[:, :3].reshape(len(recipes), len(AMOUNTS), 3)
    kept = (others == others[:, len(AMOUNTS) // 2:len(AMOUNTS) // 2 + 1]).all(axis=(1, 2))
    return {"smile_monotone": float(monotone(scores).mean()), "others_kept": float(kept.mean())}


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
        Figure("stylegan2 W+ smile walk monotone", sg["smile_monotone"], ">= 0.90", sg["smile_monotone"] >= 0.9),
        Figure("stylegan2 W+ walk keeps other attributes", sg["others_kept"], ">= 0.85", sg["others_kept"] >= 0.85),
        Figure("dcgan z mean PSNR (dB)", dc["psnr"], "reported", True),
        Figure("dcgan z attribute agreement", dc["agree"], "reported", True),
        Figure("dcgan z smile walk monotone", dc["smile_monotone"], "reported", True),
        Figure("dcgan z walk keeps other attributes", dc["others_kept"], "reported", True),
        Figure("stylegan2 W+ seconds per 64 px photo", sg["seconds"], "reported", True),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
