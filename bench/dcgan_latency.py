"""How fast a 64x64 DCGAN renders through the studio, next to the bare forward pass (prints figures).

Targets: a median interactive frame of at most 5 ms, and a dragged slider whose last position is on
screen within two frames' render time. Random weights: speed does not depend on what a network learnt.
Run: `.venv/bin/python bench/dcgan_latency.py` (uses 2 torch threads unless --threads says otherwise).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from latent_studio_plugins.dcgan.network import DCGANConfig, build  # noqa: E402
from studio.core.latents import random_orthonormal  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.model.api import Generator  # noqa: E402
from studio.render.engine import Frame, Renderer, to_uint8  # noqa: E402
from studio.render.worker import RenderWorker  # noqa: E402

FRAME_TARGET_MS = 5.0
LATENCY_TARGET_FRAMES = 2.0


def make_checkpoint(folder: Path, z_dim: int = 100, ngf: int = 64, res: int = 64) -> Path:
    """A pytorch/examples-layout DCGAN (ngf 64, z 100), random weights and BN statistics, saved as .pth."""
    depth = int(np.log2(res)) - 1  # 4 -> 8 -> 16 -> 32 -> 64: five transposed convolutions
    widths = [ngf * 2 ** (depth - 2 - i) for i in range(depth - 1)] + [3]
    convs, cin = [], z_dim
    for w in widths:
        convs.append((cin, w, 4, False))
        cin = w
    torch.manual_seed(0)
    net = build(DCGANConfig("main.", tuple(convs), (True,) * (depth - 1)))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = folder / "netG_bench.pth"
    torch.save({f"main.{k}": v for k, v in net.state_dict().items()}, path)
    return path


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def single_frame(g: Generator, base: Recipe, n: int) -> tuple[float, float]:
    """Median ms per frame through Renderer.render (distinct seeds: no cache hits) and through g.generate."""
    renderer = Renderer()
    for s in range(5):  # warm-up: allocator, kernels
        renderer.render(g, base.with_seed(10_000 + s))
        g.generate(g.latents([10_000 + s]))
    t_render, t_bare = [], []
    for s in range(n):  # interleaved so both see the same machine load
        r = base.with_seed(s)
        t0 = time.perf_counter()
        frame = renderer.render(g, r)
        t_render.append(time.perf_counter() - t0)
        assert frame.ok and frame.stages_run == len(g.stages), frame.error
        z = g.latents([n + s])
        t0 = time.perf_counter()
        g.generate(z)
        t_bare.append(time.perf_counter() - t0)
    return ms(t_render), ms(t_bare)


def batch_throughput(g: Generator, base: Recipe, batch: int = 16, rounds: int = 8) -> float:
    renderer = Renderer()
    renderer.render_batch(g, [base.with_seed(s) for s in range(batch)], batch_size=batch)
    t0 = time.perf_counter()
    for k in range(rounds):
        seeds = range(1000 + k * batch, 1000 + (k + 1) * batch)
        renderer.render_batch(g, [base.with_seed(s) for s in seeds], batch_size=batch)
    return rounds * batch / (time.perf_counter() - t0)


class _FinishInFlight(RenderWorker):
    """The alternative policy, for comparison: a newer request waits for the render in flight to finish."""

    def _should_abandon(self, req) -> bool:  # type: ignore[no-untyped-def]
        return False


class _AlwaysCancel(RenderWorker):
    """The other extreme: a newer request always abandons the render in flight."""

    def _should_abandon(self, req) -> bool:  # type: ignore[no-untyped-def]
        nxt = self._pending.get(req.view)
        return nxt is not None and nxt.id > req.id


def plain_torch_forward_ms(g: Generator, n: int) -> tuple[float, float]:
    """Median ms of the bare forward with the CPU transposed-convolution fast path, and with torch's own
    ConvTranspose2d kernels on a copy of the same network, interleaved so both see the same load."""
    import copy

    from studio.model.fast_convt import AutoConvTranspose2d

    fast = torch.nn.Sequential(*[st.module for st in g.stages])
    plain = copy.deepcopy(fast)
    for m in plain.modules():
        if isinstance(m, AutoConvTranspose2d):
            m.__class__ = torch.nn.ConvTranspose2d
    t_fast, t_plain = [], []
    with torch.inference_mode():
        for s in range(n + 5):
            z = g.latents([s]).reshape(1, -1, 1, 1)
            t0 = time.perf_counter()
            a = fast(z)
            t1 = time.perf_counter()
            b = plain(z)
            t2 = time.perf_counter()
            if s >= 5:
                t_fast.append(t1 - t0)
                t_plain.append(t2 - t1)
    assert torch.allclose(a, b, atol=1e-5)
    return ms(t_fast), ms(t_plain)


def coalescing(g: Generator, base: Recipe, worker_cls: type[RenderWorker] = RenderWorker, events: int = 200,
               gap_s: float = 0.005) -> dict:
    """A slider dragged through `events` distinct positions in about a second, through the real worker."""
    direction = tuple(float(v) for v in random_orthonormal(1, g.info.z_dim, seed=7)[0])
    recipes = [base.with_walk("pca:0", direction, 3.0 * (i + 1) / events) for i in range(events)]
    frames: list[tuple[float, Frame]] = []
    done = threading.Event()
    last_id = [-1]

    def on_frame(frame: Frame) -> None:
        frames.append((time.perf_counter(), frame))
        if frame.request_id == last_id[0]:
            done.set()

    worker = worker_cls(Renderer())
    try:
        worker.submit("main", g, base.with_seed(99), on_frame)  # warm-up frame
        worker.wait_idle()
        frames.clear()
        before_rendered, before_cancelled = worker.rendered, worker.cancelled
        t_start = time.perf_counter()
        t_last = t_start
        for i, r in enumerate(recipes):
            if i == events - 1:
                t_last = time.perf_counter()
                last_id[0] = worker.submit("main", g, r, on_frame)
            else:
                worker.submit("main", g, r, on_frame)
            time.sleep(gap_s)
        t_submitted = time.perf_counter() - t_start
        if not done.wait(30):
            raise RuntimeError("the last slider position was never rendered")
        worker.wait_idle()
        rendered = worker.rendered - before_rendered
        cancelled = worker.cancelled - before_cancelled
    finally:
        worker.stop()
    t_frame, last = frames[-1]
    direct = Renderer().render(g, recipes[-1])
    return {
        "events": events, "submit_s": t_submitted, "rendered": rendered, "cancelled": cancelled,
        "during_drag": sum(1 for t, _ in frames if t <= t_last),
        "last_is_last_recipe": last.recipe == recipes[-1],
        "last_equals_direct": bool(last.image is not None and np.array_equal(last.image, direct.image)),
        "latency_ms": (t_frame - t_last) * 1e3,
        "frame_ms": last.render_ms,
    }


def overhead(g: Generator, base: Recipe, n: int) -> dict[str, float]:
    """Median ms of each part of Renderer.render: recipe to stage inputs, cache keys, forward, to uint8."""
    renderer = Renderer()
    parts: dict[str, list[float]] = {"context (seed to z)": [], "cache keys": [], "forward (stages)": [],
                                     "to_uint8": [], "Renderer.render total": []}
    for s in range(n):  # the same steps as Renderer.run_context and Renderer.render, timed one by one
        r = base.with_seed(20_000 + s)
        t0 = time.perf_counter()
        ctx = g.context([r])
        t1 = time.perf_counter()
        h = hashlib.blake2b(g.model_id.encode() + str(g.device).encode() + ctx.key(), digest_size=16)
        for stage in g.stages:
            h.update(stage.name.encode())
            h.update(stage.inputs(ctx))
            h.digest()
        t2 = time.perf_counter()
        out = g.run(ctx)
        t3 = time.perf_counter()
        to_uint8(out)
        t4 = time.perf_counter()
        renderer.render(g, base.with_seed(30_000 + s))
        t5 = time.perf_counter()
        for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[k].append(dt)
    return {k: ms(v) for k, v in parts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--frames", type=int, default=100, help="single-frame renders to time (at least 50)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import studio

    with tempfile.TemporaryDirectory() as tmp:
        g = studio.load(str(make_checkpoint(Path(tmp))), device="cpu")
        base = Recipe(ModelRef("bench"), SeedLatent(0))
        modules = [getattr(st, "module", torch.nn.Module()) for st in g.stages]
        n_params = sum(p.numel() for m in modules for p in m.parameters())
        print(f"DCGAN 64x64, ngf 64, z 100 ({n_params / 1e6:.2f} M parameters), random weights; CPU, "
              f"torch {torch.__version__}, torch.set_num_threads({args.threads})")
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start"
              + (" (busy: other processes share these cores, so times are inflated)" if load > 0.5 else ""))
        render_ms, bare_ms = single_frame(g, base, max(50, args.frames))
        ok = "meets" if render_ms <= FRAME_TARGET_MS else "MISSES"
        print(f"\nsingle frame, median of {max(50, args.frames)} distinct seeds:")
        print(f"  Renderer.render   {render_ms:7.2f} ms   (target <= {FRAME_TARGET_MS:.0f} ms: {ok})")
        print(f"  bare g.generate   {bare_ms:7.2f} ms   (renderer overhead {render_ms - bare_ms:+.2f} ms, "
              f"{render_ms / bare_ms:.2f}x)")
        fast_ms, plain_ms = plain_torch_forward_ms(g, max(50, args.frames))
        print(f"  forward with torch's own ConvTranspose2d kernels {plain_ms:.2f} ms vs the fast path "
              f"{fast_ms:.2f} ms: {plain_ms / fast_ms:.2f}x faster")
        fps = batch_throughput(g, base)
        print(f"\nbatch of 16 via Renderer.render_batch: {fps:7.1f} frames/s "
              f"({fps * render_ms / 1e3:.2f}x single-frame rate of {1e3 / render_ms:.1f} frames/s)")
        if render_ms > FRAME_TARGET_MS:
            print(f"\nwhere a frame's time goes (median of {max(50, args.frames)}):")
            for part, t in overhead(g, base, max(50, args.frames)).items():
                print(f"  {part:<22} {t:7.3f} ms")
        print("\ncoalescing: 200 slider events ~5 ms apart (about 1 s), through a RenderWorker")
        for label, cls in (("worker as built (a newer request abandons the render in flight unless the view "
                            "has waited a render time)", RenderWorker),
                           ("for comparison: always finish the render in flight", _FinishInFlight),
                           ("for comparison: always abandon the render in flight", _AlwaysCancel)):
            c = coalescing(g, base, cls)
            lat_frames = c["latency_ms"] / c["frame_ms"]
            ok = "meets" if lat_frames <= LATENCY_TARGET_FRAMES else "MISSES"
            print(f"  {label}:")
            print(f"    submitted over {c['submit_s']:.2f} s; renders completed {c['rendered']}, "
                  f"abandoned mid-render "
                  f"{c['cancelled']}, never started {c['events'] - c['rendered'] - c['cancelled']}")
            print(f"    frames delivered while the slider moved: {c['during_drag']}")
            print(f"    last frame is the last recipe: {c['last_is_last_recipe']}; "
                  f"its pixels equal a direct render: {c['last_equals_direct']}")
            print(f"    last event to its frame: {c['latency_ms']:.2f} ms = {lat_frames:.2f} x that frame's "
                  f"render time ({c['frame_ms']:.2f} ms; target <= {LATENCY_TARGET_FRAMES:.0f}: {ok})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
