"""Validation screen of DCGAN candidates on seeds no bench uses: picking a model leaves the benches held out.

Per checkpoint, two lines (`--only` picks one):
- screen: toy-FID of 1,000 samples against real ToyFaces seed 777777; the worst attribute rate gap of 2,000
  samples against 4,000 real faces (seed 888888); the fitted Smiling walk's monotone rate on seeds 300000+;
  the paper's arithmetic (glasses AND female) on an exemplar pool from seed 400000. The walk and the
  arithmetic use the benches' own code; these are the figures of the table in checkpoints/dcgan_toyfaces.md.
- geometry: how linear glasses is in z, which the arithmetic relies on. A logistic boundary for glasses is
  fitted on 3/4 of the samples (seeds 500000+) and its held-out balanced accuracy printed over all faces,
  within men and within women, with the cosine between the men's and the women's boundaries: glasses man -
  man + woman keeps the glasses only if adding woman minus man does not cross the glasses boundary, i.e. if
  the boundary is close to linear and shared. Also the cosine between the glasses and sex boundaries and the
  sex boundary's accuracy.

Run: `.venv/bin/python bench/dcgan_validation.py [--only screen,geometry] [--samples 8000] [--threads 2]
CHECKPOINT [CHECKPOINT ...]`.
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
from studio.core.labelled import train_linear  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.demo import attributes, toyfaces  # noqa: E402
from studio.demo.toyfaces import BINARY_ATTRIBUTES  # noqa: E402
from studio.errors import StudioError  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402

FAKE_SEEDS = range(200_000, 202_000)
WALK_SEEDS = range(300_000, 300_200)
POOL_SEEDS = np.arange(400_000, 403_000)
GEOMETRY_SEED0 = 500_000
LINES = ("screen", "geometry")


def screen(g, path: Path, net: attributes.AttributeNet, real_feats: np.ndarray, real_rates: np.ndarray) -> str:
    fake = generated(g.generate, g.latents(FAKE_SEEDS))
    fid = attributes.toy_fid(attributes.extract_features(net, fake[:1000]), real_feats)
    p = attributes.predict(net, fake)
    gaps = np.array([(p[a] > 0.5).mean() for a in BINARY_ATTRIBUTES]) - real_rates
    worst = int(np.abs(gaps).argmax())
    renderer = Renderer()
    base = Recipe(ModelRef(str(path), g.model_id), SeedLatent(0))
    _fitted, scores, _fit_s, _walk_s = ed.fit_and_walk(g, renderer, net, base, WALK_SEEDS)
    smile = float(ed.monotone(scores).mean())
    groups = ea.exemplar_groups(g, renderer, net, base, POOL_SEEDS)
    both, g_rate, f_rate = ea.run(200, False, g, renderer, net, groups, base, seed=7)
    pools = "/".join(str(len(v)) for v in groups.values())
    return (f"{path}: toy-FID {fid:.1f}  worst rate gap {abs(gaps[worst]):.3f} ({BINARY_ATTRIBUTES[worst]})  "
            f"Smiling walk {smile:.3f}  arithmetic {both:.3f} (glasses {g_rate:.2f}, female {f_rate:.2f}; "
            f"pools {pools})")


def balanced_accuracy(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> float:
    s = x @ w + b > 0
    return float(0.5 * (s[y == 1].mean() + (~s[y == 0]).mean()))


def geometry(g, path: Path, net: attributes.AttributeNet, n: int) -> str:
    z = g.latents(range(GEOMETRY_SEED0, GEOMETRY_SEED0 + n))
    p = attributes.predict(net, generated(g.generate, z))
    x = z.cpu().numpy().astype(np.float64).reshape(n, -1)
    glasses, male = (p["Eyeglasses"] > 0.5).astype(int), p["Male"] > 0.5
    train = np.arange(n) < n * 3 // 4
    acc, unit = {}, {}
    for name, subset in (("all", np.ones(n, bool)), ("men", male), ("women", ~male)):
        w, b = train_linear(x[subset & train], glasses[subset & train])
        unit[name] = w / np.linalg.norm(w)
        acc[name] = balanced_accuracy(w, b, x[subset & ~train], glasses[subset & ~train])
    w_sex, b_sex = train_linear(x[train], male[train].astype(int))
    return (f"{path}: glasses boundary, held-out balanced accuracy all {acc['all']:.3f} men {acc['men']:.3f} "
            f"women {acc['women']:.3f}; cos(men, women) {float(unit['men'] @ unit['women']):.3f}; "
            f"cos(glasses, sex) {float(unit['all'] @ w_sex / np.linalg.norm(w_sex)):.3f}; sex boundary "
            f"{balanced_accuracy(w_sex, b_sex, x[~train], male[~train].astype(int)):.3f}")


def main() -> int:
    import studio

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--only", default=",".join(LINES), help=f"comma-separated lines of {', '.join(LINES)}")
    ap.add_argument("--samples", type=int, default=8000, help="samples for the geometry line")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    only = args.only.split(",")
    if unknown := set(only) - set(LINES):
        ap.error(f"unknown line(s) {', '.join(sorted(unknown))}; choose from {', '.join(LINES)}")
    torch.set_num_threads(args.threads)
    net = attributes.load(ea.ATTRIBUTE_MODEL)
    if "screen" in only:
        real_feats = attributes.extract_features(net, toyfaces.sample(1000, seed=777777).images)
        real_rates = toyfaces.sample(4000, seed=888888).binary.mean(axis=0)
    failed = 0
    for path in (p.resolve() for p in args.checkpoints):
        try:
            g = studio.load(str(path), device="cpu")
        except StudioError as e:  # one line, and the other candidates are still screened
            print(f"{path}: {e}", file=sys.stderr)
            failed += 1
            continue
        if "screen" in only:
            print(screen(g, path, net, real_feats, real_rates), flush=True)
        if "geometry" in only:
            print(geometry(g, path, net, args.samples), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
