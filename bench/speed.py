"""Speed of every family in fp32 and in the precision `auto` picks here, batch 1 and 8, fused and unfused.

For each model (the bundled demos at their size, and random-weight networks at the official widths: DCGAN
64 (pytorch/examples, ngf 64), StarGAN 128 (yunjey, conv_dim 64, 6 blocks), StyleGAN2 256 (config-f
widths), optionally StyleGAN3-T 256 with --sg3) the same frames are rendered through Renderer in each
setting, interleaved round by round so background load hits all settings alike; figures are medians
per image, ratios are medians of per-round ratios. The machine's peak is measured in the same run (a
large matmul and a 3x3 convolution, fp32 and bf16), and each setting's achieved GFLOP/s (convolutions and
matmuls, counted by torch's FlopCounterMode) is printed as a fraction of it.

"before" is the path this studio had before precision and the batch rule: fp32 with grouped (fused)
modulated convolutions at every batch size.
Usage: python bench/speed.py [--rounds 3] [--threads 1] [--sg3] [--only NAME]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.model.api import Generator  # noqa: E402
from studio.model.numerics import native_bf16  # noqa: E402
from studio.render.engine import Renderer  # noqa: E402
from studio.render.precision import psnr  # noqa: E402

# Targets of issue 20, as ratios to the fp32 path before it (batch 1), or to the model's own batch-1 time.
TARGETS = {"stylegan2-256": 0.35, "stargan-128": 0.5, "dcgan-64": 0.5, "stylegan3-256": 0.4}
BATCH8_PER_IMAGE_TARGET = 0.6  # StyleGAN2: batch-8 time per image over its own batch-1 time


# -- models --------------------------------------------------------------------------------------------------
def open_model(path: Path) -> Generator:
    from studio.model.registry import default_registry

    return default_registry().open(path, torch.device("cpu"))


def dcgan_64(folder: Path) -> Path:
    from latent_studio_plugins.dcgan.network import DCGANConfig, build
    from latent_studio_plugins.dcgan.save import save_dcgan

    ngf, nz = 64, 100
    widths = [ngf * 8, ngf * 4, ngf * 2, ngf, 3]
    convs, cin = [], nz
    for w in widths:
        convs.append((cin, w, 4, False))
        cin = w
    torch.manual_seed(0)
    net = build(DCGANConfig("main.", tuple(convs), (True,) * 4)).eval()
    path = folder / "dcgan64.safetensors"
    save_dcgan(path, net, name="DCGAN 64 (pytorch/examples widths)")
    return path


def stargan_128(folder: Path) -> tuple[Path, Path]:
    from stargan import make_inputs

    return make_inputs(folder)


def stylegan2_256(folder: Path) -> Path:
    from latent_studio_plugins.stylegan.network import random_stylegan2
    from latent_studio_plugins.stylegan.save import save_stylegan
    from stylegan import config_f

    path = folder / "sg2_256.safetensors"
    save_stylegan(path, random_stylegan2(config_f(256), seed=0), name="StyleGAN2 256 config-f")
    return path


def sg3_t_config(resolution: int = 256):
    """StyleGAN3-T's layer schedule (Karras et al. 2021, section 3 and appendix F) at `resolution`: 14 layers
    whose cutoff rises geometrically from 2 to the image's Nyquist rate over all but the last two, sampling
    rates the next power of two above twice the stopband, 10-pixel margins, 6-tap-per-rate filters and
    2x oversampled nonlinearities; the official widths (channel base 32768, at most 512)."""
    from latent_studio_plugins.stylegan.network3 import LayerSpec, StyleGAN3Config

    n_layers, critical, margin, taps = 14, 2, 10, 6
    first_cutoff, first_stop = 2.0, 2 ** 2.1
    last_cutoff, last_stop = resolution / 2, resolution / 2 * 2 ** 0.3
    e = np.minimum(np.arange(n_layers + 1) / (n_layers - critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** e
    stops = first_stop * (last_stop / first_stop) ** e
    rates = np.exp2(np.ceil(np.log2(np.minimum(stops * 2, resolution))))
    sizes = rates + margin * 2
    sizes[-2:] = resolution
    channels = np.rint(np.minimum(16384 / cutoffs, 512)).astype(int)
    channels[-1] = 3
    layers = []
    for i in range(n_layers + 1):
        prev = max(i - 1, 0)
        torgb = i == n_layers
        tmp_rate = max(rates[prev], rates[i]) * (1 if torgb else 2)
        up, down = int(np.rint(tmp_rate / rates[prev])), int(np.rint(tmp_rate / rates[i]))
        up_taps = taps * up if up > 1 and not torgb else 1
        down_taps = taps * down if down > 1 and not torgb else 1
        k = 1 if torgb else 3
        total = (sizes[i] - 1) * down + 1 - (sizes[prev] + k - 1) * up + up_taps + down_taps - 2
        lo = int((total + up) // 2)
        layers.append(LayerSpec(name=f"L{i}", in_channels=int(channels[prev]), out_channels=int(channels[i]),
                                conv_kernel=k, up=up, down=down, padding=(lo, int(total - lo), lo, int(total - lo)),
                                is_torgb=torgb, conv_clamp=None if torgb else 256.0, up_taps=up_taps,
                                down_taps=down_taps, down_radial=False))
    return StyleGAN3Config(z_dim=512, w_dim=512, resolution=resolution, layers=tuple(layers),
                           input_channels=int(channels[0]), input_size=(int(sizes[0]), int(sizes[0])),
                           input_sampling_rate=float(rates[0]), input_bandwidth=float(cutoffs[0]))


def stylegan3_256(folder: Path) -> Path:
    from latent_studio_plugins.stylegan.network3 import StyleGAN3
    from latent_studio_plugins.stylegan.save import save_stylegan

    net = StyleGAN3(sg3_t_config(256)).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in net.named_buffers():
            if name.endswith("filter"):  # a lowpass of unit gain keeps activations in range
                t.fill_(1.0 / t.numel())
            elif name.endswith("weight"):
                t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(max(t[0].numel(), 1)))
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    path = folder / "sg3_256.safetensors"
    save_stylegan(path, net, name="StyleGAN3-T 256")
    return path


def recipes_for(g: Generator, n: int, start: int, photo: Path | None) -> list[Recipe]:
    if photo is not None:
        from studio.core.attributes import with_attributes
        from studio.core.photo import image_latent

        base = Recipe(ModelRef(""), image_latent(photo))
        k = len(g.info.attributes)
        return [with_attributes(base, tuple(float((i + j) % 2) for j in range(k))) for i in range(start, start + n)]
    return [Recipe(ModelRef(""), SeedLatent(s)) for s in range(start, start + n)]


# -- settings -------------------------------------------------------------------------------------------------
def upfirdn2d_before(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0, flip_filter=False):
    """upfirdn2d as the studio ran it before: stuff zeros, pad, depthwise FIR, then keep every down-th."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, f.shape[0]), groups=c)
        x = F.conv2d(x, f[None, None, :, None].expand(c, 1, f.shape[0], 1), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


@contextmanager
def grouped_convs(g: Generator, always: bool) -> Iterator[None]:
    """always=True: the path before issue 20: grouped modulated convs at every batch size, and StyleGAN3's
    resampling as zero-stuffed depthwise convolutions."""
    from latent_studio_plugins.stylegan import ops

    if not always:
        yield
        return
    saved = ops.fuse
    ops.fuse = lambda allowed, batch: allowed  # type: ignore[assignment]
    net3 = sys.modules.get("latent_studio_plugins.stylegan.network3")
    saved3 = (getattr(net3, "fuse", None), getattr(net3, "upfirdn2d", None))
    if net3 is not None:
        net3.fuse, net3.upfirdn2d = ops.fuse, upfirdn2d_before  # type: ignore[attr-defined]
    try:
        yield
    finally:
        ops.fuse = saved  # type: ignore[assignment]
        if net3 is not None:
            net3.fuse, net3.upfirdn2d = saved3  # type: ignore[attr-defined]


def flops_of(g: Generator, recipes: list[Recipe]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        Renderer().render_batch(g, recipes, batch_size=len(recipes))
    return float(counter.get_total_flops())


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- peak ------------------------------------------------------------------------------------------------------
def peak(rounds: int) -> dict[str, float]:
    """GFLOP/s of a 2048 matmul and a 512-channel 3x3 conv at 32x32, fp32 and bf16 (channels_last)."""
    a = torch.randn(2048, 2048)
    x = torch.randn(1, 512, 32, 32)
    w = torch.randn(512, 512, 3, 3)
    cases = {
        "matmul fp32": (lambda: a @ a, 2 * 2048 ** 3),
        "matmul bf16": (lambda b=a.bfloat16(): b @ b, 2 * 2048 ** 3),
        "conv fp32": (lambda: F.conv2d(x, w, padding=1), 2 * 512 * 512 * 9 * 32 * 32),
        "conv bf16": (lambda xb=x.bfloat16().contiguous(memory_format=torch.channels_last),
                      wb=w.bfloat16().contiguous(memory_format=torch.channels_last):
                      F.conv2d(xb, wb, padding=1), 2 * 512 * 512 * 9 * 32 * 32),
    }
    out: dict[str, list[float]] = {k: [] for k in cases}
    with torch.inference_mode():
        for fn, _ in cases.values():
            fn()
        for _ in range(max(rounds, 3)):
            for name, (fn, flops) in cases.items():
                out[name].append(flops / timed(fn) / 1e9)
    return {k: statistics.median(v) for k, v in out.items()}


# -- one model ---------------------------------------------------------------------------------------------------
def bench_model(name: str, g: Generator, photo: Path | None, rounds: int, peaks: dict[str, float],
                batches: tuple[int, ...]) -> dict[str, float]:
    chosen = Renderer(precision="auto").precision_for(g)
    stylegan = hasattr(g, "net") and any(hasattr(m, "fused") for m in g.net.modules())  # type: ignore
    settings = [("before", "fp32", True)] if stylegan else []
    settings += [("fp32", "fp32", False)]
    if chosen != "fp32":
        settings.append((chosen, chosen, False))
    if stylegan and chosen != "fp32" and "stylegan3" not in name:  # for SG3 "grouped" would also be slow FIR
        settings.append((f"{chosen} grouped", chosen, True))
    print(f"\n{name}: {g.info.resolution}x{g.info.resolution}, {len(g.stages)} stages; auto here = {chosen}")
    results: dict[str, float] = {}
    for n in batches:
        recipes = recipes_for(g, n, 100, photo)
        gflop = flops_of(g, recipes) / n / 1e9
        times: dict[str, list[float]] = {s[0]: [] for s in settings}
        images: dict[str, np.ndarray] = {}
        for label, p, grouped in settings:  # warm-up (first-call allocations, the guard's verdict)
            with grouped_convs(g, grouped):
                images[label] = Renderer().render_batch(g, recipes, batch_size=n, precision=p)
        for r in range(rounds):
            order = settings if r % 2 == 0 else settings[::-1]
            for label, p, grouped in order:
                with grouped_convs(g, grouped):
                    times[label].append(timed(lambda: Renderer().render_batch(g, recipes, batch_size=n,
                                                                             precision=p)) / n)
        base = "before" if "before" in times else "fp32"
        print(f"  batch {n}: {gflop:.2f} GFLOP per image")
        for label, _p, _g in settings:
            t = statistics.median(times[label])
            ratio = statistics.median(a / b for a, b in zip(times[label], times[base]))
            kind = "bf16" if "bf16" in label else "fp32"
            frac = gflop / t / peaks[f"conv {kind}"]
            quality = "" if label in ("before", "fp32") else \
                f"  PSNR {psnr(images['fp32'], images[label]):.1f} dB, max diff " \
                f"{int(np.abs(images['fp32'].astype(int) - images[label].astype(int)).max())}"
            print(f"    {label:<14} {t * 1e3:8.1f} ms/image  x{ratio:.2f} of {base}  "
                  f"{gflop / t:6.1f} GFLOP/s = {frac:.0%} of {kind} conv peak{quality}")
            results[f"{label}@{n}"] = t
            results[f"{label}@{n}/ratio"] = ratio
    return results


MEMORY_SCRIPT = """
import resource, sys, torch
sys.path[:0] = {paths!r}
torch.set_num_threads(1)
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model.registry import default_registry
from studio.render.engine import Renderer
import speed
g = default_registry().open({path!r}, torch.device("cpu"))
renderer = Renderer()
renderer.precision_for(g, {precision!r})  # the guard's own renders happen before the peak is reset

def kb(field):
    line = next(ln for ln in open("/proc/self/status") if ln.startswith(field))
    return int(line.split()[1])

open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS: the peak from here on
base = kb("VmRSS:")
with speed.grouped_convs(g, {grouped!r}):
    frame = renderer.render(g, Recipe(ModelRef(""), SeedLatent(1)), precision={precision!r})
assert frame.ok, frame.error
print(base, kb("VmHWM:"))
"""


def peak_rss(path: Path, precision: str, grouped: bool) -> tuple[float, float]:
    """(MB after loading, peak MB after one batch-1 render) in a fresh process."""
    import subprocess

    here = Path(__file__).resolve().parent
    code = MEMORY_SCRIPT.format(paths=[str(here.parent), str(here)], path=str(path), grouped=grouped,
                                precision=precision)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = (int(v) / 1024 for v in out.split())
    return before, after


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sg3", action="store_true", help="also StyleGAN3-T 256 (about 10 s a frame on a CPU)")
    ap.add_argument("--only", default="", help="run only models whose name contains this")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {args.threads} thread(s); native bf16 on this CPU: {native_bf16('cpu')}; "
          f"load average {load:.2f} at start" + (" (busy: absolute times inflated, ratios paired)"
                                                 if load > 0.5 else ""))
    peaks = peak(args.rounds)
    print("peak: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
          + f"; bf16/fp32: conv x{peaks['conv bf16'] / peaks['conv fp32']:.1f}, "
            f"matmul x{peaks['matmul bf16'] / peaks['matmul fp32']:.1f}")
    from studio.bundled import demo_checkpoints

    summary: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models: list[tuple[str, Callable[[], tuple[Path | None, Path | None]]]] = [
            (f"demo {p.stem}", lambda p=p: (p, None)) for p in demo_checkpoints()]
        models += [("dcgan-64", lambda: (dcgan_64(folder), None)),
                   ("stargan-128", lambda: stargan_128(folder)),
                   ("stylegan2-256", lambda: (stylegan2_256(folder), None))]
        if args.sg3:
            models.append(("stylegan3-256", lambda: (stylegan3_256(folder), None)))
        for name, make in models:
            if args.only and args.only not in name:
                continue
            path, photo = make()
            if path is None:
                print(f"\n{name}: skipped (cannot build it here)")
                continue
            g = open_model(path)
            if "stargan" in name and photo is None:
                photo = folder / "photo.png"
                from PIL import Image

                Image.fromarray(np.random.default_rng(0).integers(0, 256, (g.info.resolution,) * 2 + (3,),
                                                                    dtype=np.uint8)).save(photo)
            batches = (1,) if "stylegan3" in name else (1, 8)
            res = bench_model(name, g, photo, args.rounds, peaks, batches)
            target = TARGETS.get(name)
            chosen = next((k.split("@")[0] for k in res if k.startswith("bf16@1")), None)
            if target is not None and chosen is not None:
                got = res[f"{chosen}@1/ratio"]
                summary.append(f"{name} batch 1, {chosen} / before: x{got:.2f} (target <= {target})"
                               f"  {'met' if got <= target else 'MISSED'}")
            if name == "stylegan2-256":
                rss = {label: peak_rss(path, p, grouped) for label, p, grouped in
                       (("before", "fp32", True), ("auto", "auto", False))}
                print("  peak RSS of one batch-1 render (fresh process): " + ", ".join(
                    f"{k} {v[1]:.0f} MB ({v[1] - v[0]:.0f} MB for the render)" for k, v in rss.items()))
                summary.append(f"stylegan2-256 peak RSS, auto / before: {rss['auto'][1]:.0f} / "
                               f"{rss['before'][1]:.0f} MB (target: no higher)  "
                               f"{'met' if rss['auto'][1] <= rss['before'][1] * 1.02 else 'MISSED'}")
            if name == "stylegan2-256" and "fp32@8" in res:
                best8 = min(v for k, v in res.items() if k.endswith("@8") and "grouped" not in k
                            and not k.startswith("before"))
                best1 = min(v for k, v in res.items() if k.endswith("@1") and "grouped" not in k
                            and not k.startswith("before"))
                per = best8 / best1
                summary.append(f"stylegan2-256 batch 8 per image / batch 1: x{per:.2f} (target <= "
                               f"{BATCH8_PER_IMAGE_TARGET})  {'met' if per <= BATCH8_PER_IMAGE_TARGET else 'MISSED'}"
                               f"; vs before at batch 8: x{best8 / res['before@8']:.2f}")
    print("\nsummary (targets of issue 20):")
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
