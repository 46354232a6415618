"""The layer map of the ToyFaces StyleGAN2 demo: for each style input, swapped in from a second seed over many
pairs, how far each attribute, the hair colour class, the mean colour and the image follow the second seed.

It reproduces the model card's finding from the app's own code path (studio.render.layer_map, what
Directions > Layer map runs): this small model draws hair colour in its 8x8 styles, the opposite of the
StyleGAN paper's 1024 px model, whose coarse styles carry pose and shape. Bars: the hair colour class follows
B in >= 60% of differing pairs for some 4x4-8x8 input, and in <= 10% for every 16x16 and finer one. The
rest of the matrix is printed as reported figures.

Run: `.venv/bin/python bench/layer_map.py [--pairs 200] [--csv map.csv] [--json map.json]`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bars import Figure, report  # noqa: E402

COARSE_BAR = 0.6
FINE_BAR = 0.1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=200, help="seed pairs per row (default 200)")
    ap.add_argument("--csv", type=Path, default=None, help="also write the matrix as CSV")
    ap.add_argument("--json", type=Path, default=None, help="also write the matrix as JSON")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import numpy as np
    import torch

    import studio
    from studio.bundled import resolve_demo
    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.render.analysis import run_job
    from studio.render.engine import Renderer
    from studio.render.layer_map import HAIR_COLOUR, IMAGE_CHANGE, MEAN_COLOUR, layer_map_job, model_labeller

    torch.set_num_threads(args.threads)
    g = studio.load(str(resolve_demo("demo:stylegan2")), "cpu")
    lab = model_labeller(g)
    if lab is None:
        return report([Figure("layer map: a labeller for the demo", 0.0, "the ToyFaces attribute model", False)])
    t0 = time.perf_counter()
    m = run_job(layer_map_job(Renderer(), g, Recipe(ModelRef("", g.model_id), SeedLatent(0)), lab,
                              pairs=max(2, args.pairs)))
    seconds = time.perf_counter() - t0
    print(f"layer map of {g.info.name or 'the StyleGAN2 demo'}: {m.pairs} pairs per row, labeller {m.labeller}, "
          f"{seconds:.1f} s\n")
    width = max(len(c) for c in m.columns)
    print(f"{'inputs':<12}" + "".join(f"{c[:width]:>{max(8, len(c) + 1)}}" for c in m.columns))
    for i in range(len(m.ranges)):
        cells = "".join(f"{v:>{max(8, len(c) + 1)}.2f}" for c, v in zip(m.columns, m.values[i]))
        print(f"{m.row_label(i):<12}" + cells)
    print()
    if args.csv:
        args.csv.write_text(m.to_csv())
    if args.json:
        args.json.write_text(m.to_json())
    hair = m.column(HAIR_COLOUR)
    coarse = [i for i, r in enumerate(m.resolutions) if r <= 8]
    fine = [i for i, r in enumerate(m.resolutions) if r >= 16]
    best = coarse[int(np.argmax(hair[coarse]))]
    rows = [
        Figure(f"hair colour follows B, best 4x4-8x8 input ({m.row_label(best)})", float(hair[best]),
               f">= {COARSE_BAR}", bool(hair[best] >= COARSE_BAR)),
        Figure("hair colour follows B, most of any 16x16+ input", float(hair[fine].max()), f"<= {FINE_BAR}",
               bool(hair[fine].max() <= FINE_BAR)),
        Figure("mean colour follows B, mean of 4x4-8x8 inputs", m.mean_over(MEAN_COLOUR, max_resolution=8),
               "reported", True),
        Figure("mean colour follows B, mean of 16x16+ inputs", m.mean_over(MEAN_COLOUR, min_resolution=16),
               "reported", True),
        Figure("image change, mean of 4x4-8x8 inputs", m.mean_over(IMAGE_CHANGE, max_resolution=8),
               "reported", True),
        Figure("image change, mean of 16x16+ inputs", m.mean_over(IMAGE_CHANGE, min_resolution=16),
               "reported", True),
        Figure("seconds for the map", seconds, "reported", True),
    ]
    return report(rows)


if __name__ == "__main__":
    raise SystemExit(main())
