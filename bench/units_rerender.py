"""Re-rendering after a unit edit in the last layers of a 64x64 DCGAN, next to a full render (prints figures).

Target: changing which units are dropped in the last two layers re-renders in at most 0.6 of a full render's
time, because the earlier stages' cache keys do not change and their outputs come from the cache. Paired
runs: each repetition renders a new seed in full (no cache to reuse), then changes the dropped units and
renders again; medians of both and the median of the per-pair ratios are printed. Random weights (speed
does not depend on what a network learnt), the pytorch/examples layout with ngf 64 and z 100.
Run: `.venv/bin/python bench/units_rerender.py [--pairs 200] [--threads 2]`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bars import Figure, report  # noqa: E402
from dcgan_latency import make_checkpoint  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.core.units import drop, with_unit_edits  # noqa: E402
from studio.model.registry import default_registry  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402

TARGET = 0.6


def paired(g, base: Recipe, layer: str, pairs: int) -> tuple[list[float], list[float], int]:
    """(full render seconds, re-render seconds, stages the re-render ran) over `pairs` paired runs."""
    r = Renderer()
    full, again, ran = [], [], set()
    for i in range(pairs):
        recipe = with_unit_edits(base.with_seed(1000 + i), [drop(layer, range(0, 8))])
        t0 = time.perf_counter()
        first = r.render(g, recipe)
        t1 = time.perf_counter()
        changed = r.render(g, with_unit_edits(recipe, [drop(layer, range(4, 16))]))  # other units dropped
        t2 = time.perf_counter()
        assert first.ok and changed.ok and first.stages_run == len(g.stages)
        full.append(t1 - t0)
        again.append(t2 - t1)
        ran.add(changed.stages_run)
    return full, again, max(ran)


def figures(pairs: int = 200) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        g = default_registry().open(make_checkpoint(Path(tmp)), "cpu")
    base = Recipe(ModelRef("bench"), SeedLatent(0))
    names = [s.name for s in g.stages]
    for _ in range(20):  # warm up allocators and kernels
        Renderer().render(g, base)
    rows = []
    for k, bar in ((len(names) - 2, True), (len(names) - 3, False)):
        full, again, ran = paired(g, base, names[k], pairs)
        ratio = statistics.median(b / a for a, b in zip(full, again))
        what = f"units: re-render / full, drops changed at {names[k]} ({ran} of {len(names)} stages run)"
        print(f"{names[k]}: full {statistics.median(full) * 1e3:.2f} ms, re-render "
              f"{statistics.median(again) * 1e3:.2f} ms (medians of {pairs} pairs)")
        rows.append(Figure(what, ratio, f"<= {TARGET}" if bar else "(for comparison; no bar)",
                           ratio <= TARGET if bar else True))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return report(figures(args.pairs))


if __name__ == "__main__":
    raise SystemExit(main())
