"""ToyFaces rendering throughput on one core (target: >= 1,000 images/s).

Training the demo models draws fresh faces every step, so the renderer must stay
well ahead of a small CNN. Prints the median of several runs because shared CI
machines are noisy; CPU time is printed too as it is less sensitive to contention.

    python bench/toyfaces_speed.py [--n 1000] [--repeats 7] [--sheet PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.demo import toyfaces  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="images per run")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sheet", type=Path, default=None, help="also save an 8x8 sample sheet PNG here")
    args = ap.parse_args(argv)

    toyfaces.sample(16, seed=0)  # warm caches outside the timed runs
    wall, cpu = [], []
    for r in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        toyfaces.sample(args.n, seed=r)
        wall.append(args.n / (time.perf_counter() - t0))
        cpu.append(args.n / (time.process_time() - c0))
    print(f"toyfaces: {statistics.median(wall):.0f} images/s (median wall of {args.repeats} x {args.n}), "
          f"{statistics.median(cpu):.0f} images/s of CPU time, range {min(wall):.0f}-{max(wall):.0f}")
    if args.sheet is not None:
        toyfaces.contact_sheet(toyfaces.sample(64, seed=0).images).save(args.sheet)
        print(f"sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
