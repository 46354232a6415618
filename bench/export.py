"""Export speed and editing while exporting, for a 64x64 DCGAN (prints figures measured side by side).

0. Where a frame's time goes: rendering alone (stages, no encoding) per frame at batch 1, 8 and 16.
1. Frames per second exporting 240 frames to MP4 one by one vs batched: 8 (the studio's export, sharing
   the worker with editing) and 16 (the CLI's, alone); target >= 2x. One by one is the per-frame path
   (recipe -> context -> stages -> uint8 -> encoder thread) without the studio's activation cache.
2. Interactive frame latency (submit to frame) while an export runs on the same worker, as a ratio of the
   idle latency; target <= 2 (the export yields the worker between stages of each batch).
A second process trains a small DCGAN on one core throughout, as on a shared machine (--no-trainer when
other jobs already load it; the load average is printed); medians of alternating runs. Uses checkpoints/dcgan_toyfaces.safetensors when present, else random weights (ngf 64).
Run: `.venv/bin/python bench/export.py [--frames 240] [--rounds 3]`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.core.timeline import Segment, Timeline  # noqa: E402
from studio.export.job import ALONE_BATCH, DEFAULT_BATCH, drive, export_job  # noqa: E402
from studio.export.writers import ExportOptions  # noqa: E402
from studio.model.spaces import frame_recipes  # noqa: E402
from studio.render.engine import ModelCache, Renderer  # noqa: E402
from studio.render.worker import RenderWorker  # noqa: E402

TRAINER = """
import torch, time
torch.set_num_threads(1)
from torch import nn
g = nn.Sequential(nn.ConvTranspose2d(64, 128, 4, 1, 0), nn.BatchNorm2d(128), nn.ReLU(),
                  nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                  nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh())
opt = torch.optim.Adam(g.parameters(), 2e-4)
while True:
    loss = (g(torch.randn(32, 64, 1, 1)) - torch.rand(32, 3, 16, 16)).pow(2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
"""


def checkpoint(folder: Path) -> Path:
    demo = ROOT / "checkpoints" / "dcgan_toyfaces.safetensors"
    if demo.exists():
        return demo
    sys.path.insert(0, str(ROOT / "bench"))
    from dcgan_latency import make_checkpoint

    return make_checkpoint(folder)


def render_ms(g, recipes, batch: int) -> float:
    """ms per frame of rendering alone (the export's iter_batch, nothing encoded)."""
    r = Renderer()
    t0 = time.perf_counter()
    for i in range(0, len(recipes), batch):
        for _ in r.iter_batch(g, recipes[i:i + batch]):
            pass
    return (time.perf_counter() - t0) / len(recipes) * 1e3


def export_fps(g, recipes, folder: Path, batch: int, tag: str) -> float:
    out = folder / f"{tag}.mp4"
    t0 = time.perf_counter()
    drive(export_job(g, recipes, out, ExportOptions(fps=24), batch_size=batch, force=True))
    return len(recipes) / (time.perf_counter() - t0)


_SEEDS = iter(range(50_000, 10**9))  # every interactive frame a new seed: no cache hits


def latencies(worker: RenderWorker, g, ref: ModelRef, n: int, stop: threading.Event | None = None) -> list[float]:
    """Submit-to-frame times of n interactive renders (distinct seeds, so no cache hits), one at a time."""
    out = []
    for i in range(n):
        if stop is not None and stop.is_set():
            break
        got = threading.Event()
        t0 = time.perf_counter()
        worker.submit("main", g, Recipe(ref, SeedLatent(next(_SEEDS))), lambda f: got.set())
        got.wait(10)
        out.append(time.perf_counter() - t0)
        time.sleep(0.003 + 0.004 * (i % 3))  # a user's edits arrive at odd moments, not in lockstep
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-trainer", action="store_true", help="another trainer already runs on this machine")
    ns = ap.parse_args()
    torch.set_num_threads(ns.threads)
    trainer = None if ns.no_trainer else subprocess.Popen([sys.executable, "-c", TRAINER],
                                                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path = checkpoint(folder)
            g = ModelCache(torch.device("cpu")).get(path)
            ref = ModelRef(str(path), g.model_id)
            keys = tuple(Recipe(ref, SeedLatent(s)) for s in (1, 2, 3))
            half = ns.frames // 3
            tl = Timeline(keys, (Segment(half), Segment(half), Segment(ns.frames - 2 * half)), loop=True)
            recipes = frame_recipes(g, tl)
            assert len(recipes) == ns.frames
            print(f"model: {path.name} ({g.info.resolution}px, z {g.info.z_dim}), {ns.frames} frames to MP4, "
                  f"torch threads {ns.threads}, " + ("other processes' trainers running" if ns.no_trainer
                                                          else "a trainer busy on one core")
                  + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            export_fps(g, recipes[:24], folder, DEFAULT_BATCH, "warm")
            sizes = (1, DEFAULT_BATCH, ALONE_BATCH)
            render = {b: [] for b in sizes}
            for _ in range(ns.rounds):
                for b in sizes:
                    render[b].append(render_ms(g, recipes, b))
            r1 = statistics.median(render[1])
            print("render only, ms/frame : " + ", ".join(
                f"batch {b}: {statistics.median(v):.2f} ({r1 / statistics.median(v):.2f}x)" for b, v in render.items()))
            runs = {b: [] for b in sizes}
            for _ in range(ns.rounds):  # paired: each round runs every batch size once
                for b in sizes:
                    runs[b].append(export_fps(g, recipes, folder, b, f"b{b}"))
            s = statistics.median(runs[1])
            for b, label in ((1, "one by one"), (DEFAULT_BATCH, "batched, studio"), (ALONE_BATCH, "batched, CLI")):
                v = statistics.median(runs[b])
                ratio = "" if b == 1 else f"  ratio {v / s:.2f}  (target >= 2)"
                print(f"export {label:<16}({b:>2}): {v:6.1f} frames/s{ratio}  "
                      f"(runs {', '.join(f'{x:.0f}' for x in runs[b])})")

            worker = RenderWorker()
            try:
                idle_all, busy_all = [], []
                for _ in range(ns.rounds):
                    idle_all += latencies(worker, g, ref, 40)
                    done = threading.Event()
                    worker.submit_job(export_job(g, recipes, folder / "bg.mp4", force=True),
                                      on_done=lambda r: done.set(), on_error=lambda m: done.set())
                    time.sleep(0.05)
                    busy = latencies(worker, g, ref, 200, stop=done)
                    done.wait(120)
                    busy_all += busy
                idle, during = statistics.median(idle_all), statistics.median(busy_all)
                p90 = sorted(busy_all)[int(0.9 * len(busy_all))]
                print(f"interactive idle       : {idle * 1e3:6.1f} ms median ({len(idle_all)} frames)")
                print(f"interactive + export   : {during * 1e3:6.1f} ms median, p90 {p90 * 1e3:.1f} ms "
                      f"({len(busy_all)} frames, studio export at batch {DEFAULT_BATCH})  "
                      f"ratio {during / idle:.2f}  (target <= 2)")
                print(f"load average at the end: {os.getloadavg()[0]:.1f}")
            finally:
                worker.stop()
    finally:
        if trainer is not None:
            trainer.kill()
            trainer.wait()


if __name__ == "__main__":
    main()
