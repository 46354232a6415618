"""How fast one attribute toggle on a photo reaches the screen with the official StarGAN 128x128 network.

Official CelebA config (conv_dim 64, repeat_num 6, 5 labels), random weights (speed does not depend on what
a network learnt), a 178x218 photo as CelebA's. Measured side by side, interleaved so both see the same
machine load: a toggle to a frame through the Renderer (recipe -> cached photo tensor + labels -> stages
-> uint8) and through the RenderWorker thread (submit -> callback), against one bare forward pass of the
same torch network. Each toggle gives labels never rendered before, so no stage comes from the cache.
Target: toggle-to-frame <= 1.2x the bare forward pass.
Run: `.venv/bin/python bench/stargan.py` (1 torch thread unless --threads says otherwise).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from latent_studio_plugins.stargan.network import StarGANConfig, StarGANv1  # noqa: E402
from studio.core.attributes import set_value, toggle, with_attributes  # noqa: E402
from studio.core.photo import image_latent, latent_tensor  # noqa: E402
from studio.core.recipe import ModelRef, Recipe  # noqa: E402
from studio.render.engine import Frame, Renderer  # noqa: E402
from studio.render.worker import RenderWorker  # noqa: E402

TARGET_RATIO = 1.2


def make_inputs(folder: Path) -> tuple[Path, Path]:
    """The official 128x128 CelebA generator (random weights) and a 178x218 photo, saved as files."""
    torch.manual_seed(0)
    net = StarGANv1(StarGANConfig(conv_dim=64, c_dim=5, repeat_num=6))
    ckpt = folder / "stargan_celeba_128" / "models" / "200000-G.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save(net.state_dict(), ckpt)
    photo = folder / "000001.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(photo, quality=95)
    return ckpt, photo


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--toggles", type=int, default=21, help="toggles to time per path (default 21)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import studio

    with tempfile.TemporaryDirectory() as tmp:
        ckpt, photo = make_inputs(Path(tmp))
        g = studio.load(str(ckpt), device="cpu")
        net = g.net
        n_params = sum(p.numel() for p in net.parameters())
        print(f"StarGAN {g.info.resolution}x{g.info.resolution}, conv_dim 64, repeat_num 6, 5 labels "
              f"({n_params / 1e6:.2f} M parameters), random weights; CPU, torch {torch.__version__}, "
              f"torch.set_num_threads({args.threads})")
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start"
              + (" (busy: other processes share these cores, so absolute times are inflated)"
                 if load > 0.5 else ""))

        base = with_attributes(Recipe(ModelRef(str(ckpt), g.model_id), image_latent(photo)), (0, 0, 1, 0, 1))
        x = latent_tensor(base.latent, g.info.resolution)
        groups = g.exclusive_groups
        renderer = Renderer()
        worker = RenderWorker(Renderer())
        got: list[Frame] = []
        arrived = threading.Event()

        def on_frame(frame: Frame) -> None:
            got.append(frame)
            arrived.set()

        def bare(values: tuple[float, ...]) -> float:
            c = torch.tensor([values])
            t0 = time.perf_counter()
            with torch.inference_mode():
                net(x, c)
            return time.perf_counter() - t0

        def via_renderer(recipe: Recipe) -> float:
            t0 = time.perf_counter()
            frame = renderer.render(g, recipe)
            dt = time.perf_counter() - t0
            assert frame.ok and frame.stages_run == len(g.stages), frame.error
            return dt

        def via_worker(recipe: Recipe) -> float:
            arrived.clear()
            t0 = time.perf_counter()
            worker.submit("main", g, recipe, on_frame)
            if not arrived.wait(60):
                raise RuntimeError("the worker never delivered the frame")
            dt = time.perf_counter() - t0
            assert got[-1].ok and got[-1].stages_run == len(g.stages), got[-1].error
            return dt

        values = base.edits[0].values
        for k in range(2):  # warm-up: allocator, kernels, photo decode
            bare(values)
            via_renderer(with_attributes(base, set_value(values, 4, 0.1 + k / 10)))
            via_worker(with_attributes(base, set_value(values, 4, 0.3 + k / 10)))
        t_bare, t_render, t_worker = [], [], []
        r_render, r_worker = [], []  # each path over the bare pass timed beside it: robust to load drift
        shown = values
        try:
            for i in range(args.toggles):
                # A click on attribute i % 5 at a strength never used before: a fresh label vector each time.
                v_render = toggle(values, i % 5, groups, strength=1.0 + (i + 1) / 1000)
                v_worker = toggle(v_render, (i + 2) % 5, groups, strength=1.0 + (i + 1) / 997)
                runs = [("bare", lambda: bare(v_render)),
                        ("render", lambda: via_renderer(with_attributes(base, v_render))),
                        ("worker", lambda: via_worker(with_attributes(base, v_worker)))]
                k = i % 3  # rotate the order so no path always runs right after another
                took = {name: fn() for name, fn in runs[k:] + runs[:k]}
                t_bare.append(took["bare"])
                t_render.append(took["render"])
                t_worker.append(took["worker"])
                r_render.append(took["render"] / took["bare"])
                r_worker.append(took["worker"] / took["bare"])
                values, shown = v_worker, v_render
        finally:
            worker.stop()
        t0 = time.perf_counter()
        again = renderer.render(g, with_attributes(base, shown))
        t_again = (time.perf_counter() - t0) * 1e3
        b, r, w = ms(t_bare), ms(t_render), ms(t_worker)
        rr, rw = statistics.median(r_render), statistics.median(r_worker)
        print(f"\nmedian of {args.toggles} toggles, each to labels not rendered before "
              f"(ratio: median of each toggle over the bare pass timed beside it):")
        print(f"  bare forward pass (net(x, c))        {b:8.1f} ms   1.00x")
        for name, v, ratio in (("toggle -> frame via Renderer", r, rr),
                               ("toggle -> frame via RenderWorker", w, rw)):
            verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
            print(f"  {name:36s} {v:8.1f} ms   {ratio:.2f}x  (target <= {TARGET_RATIO}x: {verdict})")
        print(f"  toggle back to labels rendered before    {t_again:8.1f} ms   "
              f"({again.stages_run} stages run: the frame comes from the activation cache)")
        if args.json:
            print(json.dumps({"bare_ms": b, "renderer_ms": r, "worker_ms": w, "renderer_ratio": rr,
                              "worker_ratio": rw, "threads": args.threads, "load": load}))
        return 0 if max(rr, rw) <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
