"""StyleGAN2 latency on this machine: full frame, re-render after a fine-style edit (cached prefix), and the
progressive preview.

A 256x256 generator with the official config-f widths (random weights). Full frames and incremental re-renders
are timed interleaved, so background load affects both alike; figures are medians and the ratio is of medians.
The preview is timed inside real progressive renders (Renderer.render with on_preview): each run gives one
(preview, full) pair, and the figure is the median of the per-run ratios.
Usage: python bench/stylegan.py [--repeats 7] [--threads 1] [--resolution 256] [--strict]
(--strict: exit 1 when a target is missed)
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from latent_studio_plugins.stylegan.generator import StyleGANGenerator  # noqa: E402
from latent_studio_plugins.stylegan.network import StyleGAN2Config, random_stylegan2  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.model.api import ModelInfo  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402

FINE_RATIO_TARGET = 0.4
PREVIEW_RATIO_TARGET = 0.25


def config_f(resolution: int) -> StyleGAN2Config:
    """Official config-f: 512-d z and w, 8 mapping layers, min(32768 / res, 512) feature maps per block."""
    n = int(math.log2(resolution)) - 1
    channels = tuple(min(32768 // (4 * 2 ** i), 512) for i in range(n))
    return StyleGAN2Config(z_dim=512, w_dim=512, resolution=resolution, channels=channels, mapping_layers=8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = config_f(args.resolution)
    t0 = time.perf_counter()
    net = random_stylegan2(cfg, seed=0)
    g = StyleGANGenerator(net, ModelInfo(family="stylegan2", format="random", resolution=cfg.resolution),
                          model_id="bench")
    print(f"StyleGAN2 config-f {cfg.resolution}x{cfg.resolution}: channels {list(cfg.channels)}, "
          f"{len(g.stages)} stages, {g.info.num_ws} style inputs, torch threads {args.threads} "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    n = g.info.num_ws
    direction = tuple(float(v) for v in np.random.RandomState(1).randn(cfg.w_dim) / math.sqrt(cfg.w_dim))
    renderer = Renderer(cache_bytes=1 << 30)
    base = Recipe(ModelRef("bench"), SeedLatent(0))
    renderer.render(g, base)  # warm-up (allocations, first-call overheads)
    full_ms, fine_ms, fine_stages = [], [], []
    for i in range(args.repeats):
        frame = renderer.render(g, base.with_seed(1000 + i))  # new latent: every stage runs
        assert frame.ok and frame.stages_run >= len(g.stages) - 1, frame.error  # const may be cached
        full_ms.append(frame.render_ms)
        edited = frame.recipe.with_walk("fine", direction, 2.0 + i, space="w", layers=(n - 4, n))
        inc = renderer.render(g, edited)  # only the last four style inputs changed
        assert inc.ok, inc.error
        fine_ms.append(inc.render_ms)
        fine_stages.append(inc.stages_run)
    # Progressive preview through the engine: a fresh latent each run, the preview's arrival time and the
    # full frame's from the same render.
    prev_ratio, prev_ms, prog_full_ms, preview_px = [], [], [], 0
    for i in range(args.repeats):
        got: list = []
        frame = renderer.render(g, base.with_seed(5000 + i), on_preview=got.append)
        assert frame.ok and len(got) == 1, frame.error
        prev_ms.append(got[0].render_ms)
        prog_full_ms.append(frame.render_ms)
        prev_ratio.append(got[0].render_ms / frame.render_ms)
        preview_px = got[0].image.shape[0]
    k = next(i for i, st in enumerate(g.stages) if getattr(st, "progressive", False))
    full, fine = statistics.median(full_ms), statistics.median(fine_ms)
    ratio = fine / full
    print(f"full frame           : median {full:8.1f} ms  (min {min(full_ms):.1f}, max {max(full_ms):.1f}, "
          f"n={len(full_ms)})")
    print(f"fine edit (last 4 w) : median {fine:8.1f} ms  "
          f"({fine_stages[0]} of {len(g.stages)} stages re-run)")
    macs = [getattr(st, "macs", 0) for st in g.stages]
    share = sum(macs[len(macs) - fine_stages[0]:]) / sum(macs)
    print(f"compute in re-run    : {share:.2f} of the frame's convolution MACs ({sum(macs) / 1e9:.1f} G) -- "
          f"the floor for any exact incremental render")
    # With one stage per synthesis block, the whole block holding style input n-4 would re-run as well.
    first = min(i for i, st in enumerate(g.stages) if n - 4 in getattr(st, "rows", ()))
    block = g.stages[first].name.split("+")[-1].split(".")[0]
    start = min(i for i, st in enumerate(g.stages) if block in st.name)
    print(f"  (one stage per block would re-run {sum(macs[start:]) / sum(macs):.2f} of them)")
    p_ratio = statistics.median(prev_ratio)
    p_ok = p_ratio <= PREVIEW_RATIO_TARGET
    print(f"preview              : median {statistics.median(prev_ms):8.1f} ms  "
          f"({preview_px}px skip RGB after stage {k + 1} of {len(g.stages)}, {sum(macs[:k + 1]) / sum(macs):.2f} of the MACs; full frame "
          f"with preview {statistics.median(prog_full_ms):.1f} ms)")
    ok = ratio <= FINE_RATIO_TARGET
    print(f"fine / full ratio    : {ratio:.2f}  (target <= {FINE_RATIO_TARGET}: {'met' if ok else 'MISSED'})")
    print(f"preview / full ratio : {p_ratio:.2f}  (median of {len(prev_ratio)} paired runs; target <= "
          f"{PREVIEW_RATIO_TARGET}: {'met' if p_ok else 'MISSED'})")
    return 0 if (ok and p_ok) or not args.strict else 1


if __name__ == "__main__":
    raise SystemExit(main())
