"""Do the edits do what the papers claim? Bars on the bundled demo models, scored by the ToyFaces attribute model.

Sections (each a module `bench/edits_<name>.py` exposing `figures(trials: int) -> list[Figure]`):
units (GAN Dissection / DCGAN-paper unit dropping), arithmetic (DCGAN-paper vector arithmetic),
directions (a fitted Smiling direction), conditional (Eyeglasses with Male kept fixed), mixing (StyleGAN style
mixing). Exits 1 when a bar is missed. Three figures depend on how a frozen tiny demo trained (the DCGAN's
glasses-unit rate and arithmetic, the StyleGAN2's hair colour following B): they are reported with their
measured history (bars.reported), not gates; the tool-level bars stay gates (issue 22).
Run: `.venv/bin/python bench/edits_quality.py [--quick] [--only units,mixing] [--dcgan PATH]`.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bars import Figure, report  # noqa: E402

SECTIONS = ("units", "arithmetic", "directions", "conditional", "mixing")
DCGAN_SECTIONS = ("units", "arithmetic", "directions", "conditional")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 trials per figure (a smoke run, noisier)")
    ap.add_argument("--trials", type=int, default=200, help="trials per figure (at least 200 for the bars)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    ap.add_argument("--dcgan", type=Path, default=None,
                    help="score this DCGAN checkpoint, not the bundled one (a retrained candidate)")
    args = ap.parse_args()
    trials = 50 if args.quick else max(200, args.trials)
    import torch

    torch.set_num_threads(2)
    rows: list[Figure] = []
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        if name not in SECTIONS:
            print(f"edits_quality: unknown section {name!r} (known: {', '.join(SECTIONS)})", file=sys.stderr)
            return 2
        try:
            module = importlib.import_module(f"edits_{name}")
        except ModuleNotFoundError as e:
            rows.append(Figure(f"{name}: section present", 0.0, str(e), False))
            continue
        if args.dcgan is not None and name in DCGAN_SECTIONS:
            module.CHECKPOINT = args.dcgan.resolve()
        rows.extend(module.figures(trials))
    return report(rows)


if __name__ == "__main__":
    raise SystemExit(main())
