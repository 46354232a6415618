"""Validation screen of DCGAN candidates on seeds no bench uses: picking a model leaves the benches held out.

Per checkpoint: toy-FID of 2,000 samples (first 1,000) against real ToyFaces seed 777777; the worst attribute
rate gap against 4,000 real faces (seed 888888); the fitted Smiling walk's monotone rate on seeds 300000+; and
the paper's arithmetic (glasses AND female) on an exemplar pool from seed 400000, with the bench's code.
These are the figures of the validation table in checkpoints/dcgan_toyfaces.md.

Run: `.venv/bin/python bench/dcgan_validation.py [--threads 2] CHECKPOINT [CHECKPOINT ...]`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import edits_arithmetic as ea  # noqa: E402  (puts the project root on sys.path)
import edits_directions as ed  # noqa: E402
from demo_quality import generated  # noqa: E402
from studio.core.labelled import attribute_scores_job, fit_attribute_job  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.demo import attributes, toyfaces  # noqa: E402
from studio.demo.toyfaces import BINARY_ATTRIBUTES  # noqa: E402
from studio.render.analysis import run_job  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402

FAKE_SEEDS = range(200_000, 202_000)
WALK_SEEDS = range(300_000, 300_200)
POOL_SEEDS = np.arange(400_000, 403_000)


def screen(path: Path, net: attributes.AttributeNet, real_feats: np.ndarray, real_rates: np.ndarray) -> str:
    import studio

    g = studio.load(str(path), device="cpu")
    fake = generated(g.generate, g.latents(FAKE_SEEDS))
    fid = attributes.toy_fid(attributes.extract_features(net, fake[:1000]), real_feats)
    p = attributes.predict(net, fake)
    gaps = np.array([(p[a] > 0.5).mean() for a in BINARY_ATTRIBUTES]) - real_rates
    worst = int(np.abs(gaps).argmax())
    renderer = Renderer()
    d = run_job(fit_attribute_job(g, renderer, net, "Smiling", ed.FIT_SAMPLES, "logistic", "z",
                                  model_name=path.name)).direction
    unit = float(d.stddev[0]) if d.stddev is not None else 1.0
    base = Recipe(ModelRef(str(path), g.model_id), SeedLatent(0))
    recipes = [base.with_seed(s).with_walk(d.label(), tuple(d.vectors[0].tolist()), float(a) * unit,
                                           d.walk_space())
               for s in WALK_SEEDS for a in ed.AMOUNTS]
    scores = run_job(attribute_scores_job(g, renderer, net, "Smiling", recipes))
    smile = float(ed.monotone(scores.reshape(len(WALK_SEEDS), len(ed.AMOUNTS))).mean())
    ea.CHECKPOINT = path
    gl, ma = ea._scores(net, renderer.render_batch(g, [base.with_seed(int(s)) for s in POOL_SEEDS],
                                                   batch_size=100))
    groups = ea._groups(gl, ma, POOL_SEEDS)
    both, g_rate, f_rate = ea.run(200, False, g, renderer, net, groups, seed=7)
    pools = "/".join(str(len(v)) for v in groups.values())
    return (f"{path}: toy-FID {fid:.1f}  worst rate gap {abs(gaps[worst]):.3f} ({BINARY_ATTRIBUTES[worst]})  "
            f"Smiling walk {smile:.3f}  arithmetic {both:.3f} (glasses {g_rate:.2f}, female {f_rate:.2f}; "
            f"pools {pools})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = attributes.load(ea.ATTRIBUTE_MODEL)
    real_feats = attributes.extract_features(net, toyfaces.sample(1000, seed=777777).images)
    real_rates = toyfaces.sample(4000, seed=888888).binary.mean(axis=0)
    for path in args.checkpoints:
        print(screen(path.resolve(), net, real_feats, real_rates), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
