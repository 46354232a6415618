"""A 480-frame export on a local Ray cluster vs locally: frames per second both ways, the overhead per chunk,
and the figures for a paper estimate of a 7,200-frame 1024 px export on N GPU workers.

1. Local: the CLI's export (batch 16, MP4) of a 480-frame StyleGAN2 walk (the 64 px demo), torch on
   --local-threads threads.
2. Cluster: Ray started here with --cpus CPUs (one worker per CPU, one torch thread each, a 200 MB object
   store); a warm-up export starts the workers and loads the model, then the same export is timed warm
   (and the cold figure: start, load and export). The file must equal the local one byte for byte.
3. Overhead per chunk: the driver's wall time beyond the workers' own rendering time, per chunk,
   ((wall x workers - sum of render time) / chunks): task submission, transfer, ordering, waiting.
4. For the estimate: the driver's 1024 px MP4 encode rate (one x264 thread, as the writer runs), the
   size of a raw 1024 px frame, and the FLOPs of one 1024 px StyleGAN2 config-f frame (counted, random
   weights); --gpu-tflops is the assumed sustained fp32 rate of one GPU on these convolutions.
Run: `.venv/bin/python bench/ray_export.py [--frames 480] [--cpus 2] [--skip-flops]`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bars import Figure, report  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.core.timeline import Segment, Timeline  # noqa: E402
from studio.export.job import ALONE_BATCH, drive, export_job  # noqa: E402
from studio.export.writers import ExportOptions, Mp4Writer  # noqa: E402
from studio.model.spaces import frame_recipes  # noqa: E402
from studio.render.engine import ModelCache  # noqa: E402

OVERHEAD_BAR_MS = 50.0   # per chunk, on this machine's loopback: small beside a chunk's rendering
RATIO_BAR = 0.5          # cluster fps over local fps on the same cores (workers share them with the driver)
ESTIMATE_FRAMES = 7200   # a 4-minute music video at 30 fps
ESTIMATE_CHUNK = 8       # 1024 px chunk (studio.distributed.frames.chunk_size at 24 MB)


def walk(g, path: Path, frames: int) -> list[Recipe]:
    ref = ModelRef(str(path), g.model_id)
    keys = (Recipe(ref, SeedLatent(11)), Recipe(ref, SeedLatent(12)))
    return frame_recipes(g, Timeline(keys, (Segment(frames // 2), Segment(frames - frames // 2)), loop=True))


def export(g, recipes, out: Path, frames=None) -> float:
    t0 = time.perf_counter()
    drive(export_job(g, recipes, out, ExportOptions(fps=30), batch_size=ALONE_BATCH, sidecar=False,
                     frames=frames))
    return time.perf_counter() - t0


def encode_fps(frames: int = 24) -> float:
    """The driver's MP4 encoding rate at 1024 px (bicubic-upscaled demo frames: smooth, like real ones)."""
    from studio.export.writers import upscale

    g = ModelCache(torch.device("cpu")).get(ROOT / "checkpoints" / "stylegan2_toyfaces.safetensors")
    from studio.render.engine import Renderer

    ref = ModelRef("m", g.model_id)
    small = Renderer().render_batch(g, [Recipe(ref, SeedLatent(s)) for s in range(frames)])
    big = upscale(small, 16, smooth=True)
    with tempfile.TemporaryDirectory() as d:
        w = Mp4Writer(Path(d) / "e.mp4", ExportOptions(fps=30))
        t0 = time.perf_counter()
        for f in big:
            w.write(f[None])
        w.close()
        return frames / (time.perf_counter() - t0)


def gflop_1024() -> float:
    """FLOPs of one 1024 px StyleGAN2 config-f frame through the studio's renderer (random weights)."""
    from latent_studio_plugins.stylegan.network import random_stylegan2
    from latent_studio_plugins.stylegan.save import save_stylegan
    from speed import flops_of, open_model
    from stylegan import config_f

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "sg2_1024.safetensors"
        save_stylegan(path, random_stylegan2(config_f(1024), seed=0), name="StyleGAN2 1024 config-f")
        g = open_model(path)
        return flops_of(g, [Recipe(ModelRef(str(path), g.model_id), SeedLatent(0))]) / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=480)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local cluster (one worker each)")
    ap.add_argument("--local-threads", type=int, default=1,
                    help="torch threads of the local export (default 1: on a shared machine more threads "
                         "spin against other jobs and run slower, see tests/conftest.py)")
    ap.add_argument("--gpu-tflops", type=float, default=6.0,
                    help="assumed sustained fp32 TFLOP/s of one GPU worker on StyleGAN2's modulated "
                         "convolutions (default 6: about 25 ms a 1024 px frame, a V100-class card; measure yours)")
    ap.add_argument("--bandwidth-gbit", type=float, default=10.0, help="network to the driver, Gbit/s")
    ap.add_argument("--skip-flops", action="store_true", help="skip counting the 1024 px model's FLOPs")
    args = ap.parse_args()

    import ray

    from studio.distributed.cluster import connected
    from studio.distributed.frames import RayFrames
    from studio.distributed.models import model_source

    path = ROOT / "checkpoints" / "stylegan2_toyfaces.safetensors"
    g = ModelCache(torch.device("cpu")).get(path)
    recipes = walk(g, path, args.frames)
    rows: list[Figure] = []
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        torch.set_num_threads(args.local_threads)
        export(g, recipes[:32], out / "warm.mp4")
        local_s = export(g, recipes, out / "local.mp4")
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, object_store_memory=200 << 20,
                 logging_level=logging.ERROR, log_to_driver=False)
        try:
            with connected("auto") as info:
                src = model_source(g, path, ship=False)
                warm = RayFrames(src, info)
                export(g, recipes, out / "cold.mp4", warm)
                cold_s = time.perf_counter() - t0
                frames = RayFrames(src, info)
                ray_s = export(g, recipes, out / "ray.mp4", frames)
        finally:
            ray.shutdown()
        local = (out / "local.mp4").read_bytes()
        same = (out / "ray.mp4").read_bytes() == local == (out / "cold.mp4").read_bytes()
    chunks = len(frames.stats)
    render_sum = sum(s.render_s for s in frames.stats)
    overhead_ms = max(0.0, ray_s * info.workers - render_sum) / chunks * 1e3
    local_fps, ray_fps = args.frames / local_s, args.frames / ray_s
    print(f"{args.frames} frames, {chunks} chunks of {frames.stats[0].frames}, {info.workers} workers, "
          f"load average {os.getloadavg()[0]:.1f}; worker render time {render_sum:.2f} s in all")
    rows.append(Figure(f"local export, frames/s ({args.local_threads} torch thread(s))", local_fps, "reported",
                       True))
    rows.append(Figure(f"cluster export warm, frames/s ({info.workers} workers)", ray_fps, "reported", True))
    rows.append(Figure("cluster export cold (start, load, export), frames/s", args.frames / cold_s,
                       "reported", True))
    rows.append(Figure("cluster / local frames/s", ray_fps / local_fps, f">= {RATIO_BAR}",
                       ray_fps / local_fps >= RATIO_BAR))
    rows.append(Figure("overhead per chunk, ms", overhead_ms, f"<= {OVERHEAD_BAR_MS:g}",
                       overhead_ms <= OVERHEAD_BAR_MS))
    rows.append(Figure("cluster file equals local byte for byte (1 = yes)", float(same), "= 1", same))
    enc = encode_fps()
    rows.append(Figure("driver MP4 encode at 1024 px, frames/s", enc, "reported", True))
    gflop = None if args.skip_flops else gflop_1024()
    if gflop is not None:
        rows.append(Figure("StyleGAN2 config-f 1024 px, GFLOP per frame", gflop, "reported", True))
    status = report(rows)
    if gflop is not None:
        estimate(gflop, enc, overhead_ms, args.gpu_tflops, args.bandwidth_gbit)
    return status


def estimate(gflop: float, enc_fps: float, overhead_ms: float, tflops: float, gbit: float) -> None:
    """7,200 frames at 1024 px on N GPU workers: the slowest of rendering (+ chunk overhead), moving raw
    frames to the driver and encoding there."""
    gpu_fps = tflops * 1e3 / gflop
    frame_mb = 1024 * 1024 * 3 / 1e6
    net_fps = gbit * 1e3 / 8 / frame_mb
    print(f"\nestimate: {ESTIMATE_FRAMES} frames at 1024 px; one GPU at {tflops:g} TFLOP/s renders "
          f"{gpu_fps:.1f} frames/s ({gflop:.0f} GFLOP a frame); chunks of {ESTIMATE_CHUNK} frames, "
          f"{overhead_ms:.0f} ms overhead each; {frame_mb:.1f} MB a raw frame over {gbit:g} Gbit/s = "
          f"{net_fps:.0f} frames/s; one x264 thread encodes {enc_fps:.1f} frames/s")
    print("  workers  render-bound frames/s  min  |  with the driver's MP4 encoder: frames/s  min  "
          "(bound by)")
    for n in (1, 2, 4, 8, 16):
        render_fps = min(n / (1 / gpu_fps + overhead_ms / 1e3 / ESTIMATE_CHUNK), net_fps)
        fps = min(render_fps, enc_fps)
        limit = "the encoder" if fps == enc_fps else "network" if fps == net_fps else "GPUs"
        print(f"  N={n:<2}     {render_fps:8.1f}  {ESTIMATE_FRAMES / render_fps / 60:12.1f}  |  "
              f"{fps:32.1f}  {ESTIMATE_FRAMES / fps / 60:5.1f}  ({limit})")

if __name__ == "__main__":
    sys.exit(main())
