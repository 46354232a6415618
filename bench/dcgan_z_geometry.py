"""How linear the glasses attribute is in a DCGAN's z, which the paper's vector arithmetic relies on.

Fits a logistic boundary for glasses (labelled by the ToyFaces attribute model) on 3/4 of the samples and
prints its held-out balanced accuracy over all faces, within men and within women, and the cosine between
the men's and the women's boundaries: glasses man - man + woman keeps the glasses only if adding the
woman-minus-man difference does not cross the glasses boundary, i.e. if the boundary is close to linear and
shared. Also the cosine between the glasses and the sex boundaries, and the sex boundary's accuracy.
Samples are seeds 500000+, which no bench uses.

Run: `.venv/bin/python bench/dcgan_z_geometry.py [--samples 8000] [--threads 2] CHECKPOINT [CHECKPOINT ...]`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import edits_arithmetic as ea  # noqa: E402  (puts the project root on sys.path)
from demo_quality import generated  # noqa: E402
from studio.core.labelled import train_linear  # noqa: E402
from studio.demo import attributes  # noqa: E402

SEED0 = 500_000


def balanced_accuracy(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> float:
    s = x @ w + b > 0
    return float(0.5 * (s[y == 1].mean() + (~s[y == 0]).mean()))


def geometry(path: Path, net: attributes.AttributeNet, n: int) -> str:
    import studio

    g = studio.load(str(path), device="cpu")
    z = g.latents(range(SEED0, SEED0 + n))
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--samples", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = attributes.load(ea.ATTRIBUTE_MODEL)
    for path in args.checkpoints:
        print(geometry(path.resolve(), net, args.samples), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
