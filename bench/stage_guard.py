"""What keeping cached activations intact costs, and the load-time check, on the bundled demo models.

A stage that writes into its input (an in-place activation first in a block) would overwrite the cached
output of the stage before it. The engine guards against it by watching each stage's first run (a copy with
a version counter) and from then on copying the input only of stages seen writing; none of the demo models'
stages write, so the guard as shipped should cost nothing measurable. Side by side, interleaved so all see
the same machine load, per model: the engine without any guard (as before), the guard as shipped, and the
alternative of copying every stage's input on every run (copy-on-read). Each is timed on a full render (a
cold cache) and on a late edit (a unit edit at the last stage: one stage runs, its input read from the cache).
Then the load-time check (one sample through every stage, output against ModelInfo) next to plugin.load.
Targets: the shipped guard within 2% (or 0.05 ms) of no guard; the check at most 2x one full render.
Run: `.venv/bin/python bench/stage_guard.py` (1 torch thread unless --threads says otherwise).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from studio.core.units import scale  # noqa: E402
from studio.model.api import Generator, StageContext  # noqa: E402
from studio.model.check import check_generator  # noqa: E402
from studio.model.probe import Probe  # noqa: E402
from studio.model.registry import Registry  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ("dcgan_toyfaces", "stylegan2_toyfaces", "stargan_toyfaces")
GUARD_TARGET = 0.02  # relative
GUARD_FLOOR_MS = 0.05  # timer and scheduling noise below this is no cost
CHECK_TARGET = 2.0  # full renders


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def _unguarded(i: int, x: torch.Tensor | None) -> tuple[torch.Tensor | None, None]:
    return x, None


def set_variant(g: Generator, variant: str, checked: dict[int, bool]) -> None:
    """'none': the engine before the guard; 'shipped': as loaded; 'copy-on-read': every input copied."""
    g.__dict__.pop("_stage_input", None)
    if variant == "none":
        g.__dict__["_stage_input"] = _unguarded  # an instance attribute shadows the method
    g.__dict__["_stage_writes"] = ({i: True for i in checked} if variant == "copy-on-read" else dict(checked))


def time_variants(g: Generator, runs: int) -> dict[str, dict[str, float]]:
    """Median ms per variant of a full render (a fresh cache) and of a late unit edit (one stage runs)."""
    checked = dict(g._writes_input())
    variants = ("none", "shipped", "copy-on-read")
    last = g.stages[-1].name
    times: dict[str, dict[str, list[float]]] = {v: {"full": [], "late": []} for v in variants}
    warm = Renderer()
    base = g.example_context()
    warm.run_context(g, base)  # fills the cache with every stage for the late edits below

    def edited(k: int) -> StageContext:
        ctx = g.example_context()
        ctx.units = ((scale(last, [0], 1.0 + 1e-3 * (k + 1)),),)  # new each time: only the last stage runs
        return ctx

    def timed(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    k = 0
    for rnd in range(runs + 3):  # the first three rounds warm allocators and kernels
        for v in variants:
            set_variant(g, v, checked)
            full = timed(lambda: Renderer().run_context(g, g.example_context()))
            ctx = edited(k)
            k += 1
            late = timed(lambda: warm.run_context(g, ctx))
            if rnd >= 3:
                times[v]["full"].append(full)
                times[v]["late"].append(late)
    set_variant(g, "shipped", checked)
    return {v: {kind: ms(ts) for kind, ts in d.items()} for v, d in times.items()}


def time_load(path: Path, runs: int) -> tuple[float, float]:
    """Median ms of the plugin's own load and of the check the registry adds after it."""
    reg = Registry.discover(search_paths=[])
    probe = Probe(path)
    plugin = reg.candidates(probe)[0][1]
    t_load, t_check = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        g = plugin.load(probe, torch.device("cpu"))
        t1 = time.perf_counter()
        check_generator(g, plugin.name)
        t2 = time.perf_counter()
        t_load.append(t1 - t0)
        t_check.append(t2 - t1)
    return ms(t_load), ms(t_check)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--runs", type=int, default=41, help="timed rounds per variant (default 41)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"CPU, torch {torch.__version__}, torch.set_num_threads({args.threads}); {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at start"
          + (" (busy: other processes share these cores, so times are inflated)" if load > 0.5 else ""))
    print(f"medians of {args.runs} interleaved rounds; guard target: within {GUARD_TARGET:.0%} "
          f"(or {GUARD_FLOOR_MS} ms) of no guard\n")
    print(f"{'model':<20}{'stages':>7}{'writers':>8}  {'':<6}{'no guard':>10}{'shipped':>10}{'copy all':>10}"
          f"  shipped vs none")
    worst = 0.0
    for name in DEMOS:
        path = ROOT / "checkpoints" / f"{name}.safetensors"
        g = Registry.discover(search_paths=[]).open(path)  # the registry's check has seen every stage
        writers = sum(g._writes_input().values())
        res = time_variants(g, args.runs)
        for kind in ("full", "late"):
            none, shipped, copy = (res[v][kind] for v in ("none", "shipped", "copy-on-read"))
            extra = shipped - none
            ok = "meets" if extra <= max(GUARD_TARGET * none, GUARD_FLOOR_MS) else "MISSES"
            worst = max(worst, extra / none)
            head = f"{name:<20}{len(g.stages):>7}{writers:>8}" if kind == "full" else " " * 35
            print(f"{head}  {kind:<6}{none:>8.3f}ms{shipped:>8.3f}ms{copy:>8.3f}ms  {extra:+.3f} ms "
                  f"({extra / none:+.1%}: {ok})")
    print(f"\n{'load-time check':<20}{'plugin.load':>12}{'check':>10}{'full render':>13}  "
          f"(target: check <= {CHECK_TARGET:.0f} full renders)")
    for name in DEMOS:
        path = ROOT / "checkpoints" / f"{name}.safetensors"
        t_load, t_check = time_load(path, max(5, args.runs // 4))
        g = Registry.discover(search_paths=[]).open(path)
        full = time_variants(g, 5)["shipped"]["full"]
        ok = "meets" if t_check <= CHECK_TARGET * full else "MISSES"
        print(f"{name:<20}{t_load:>10.1f}ms{t_check:>8.1f}ms{full:>11.2f}ms  "
              f"({t_check / full:.2f} renders: {ok})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
