"""torch vs ONNX Runtime per family at batch 1 and 16, side by side in one run, and what "auto" chose.

Each family's model is timed on both runtimes and through the backend "auto" picked, interleaved run by
run (torch, ONNX, auto, torch, ...) so load from other processes hits all three alike; it prints medians
and the median of the paired torch/ONNX ratios. "auto" must never be more than 10% slower than the
slower of the two. Translators (StarGAN) are timed on their example photo repeated to the batch
size. Families whose stages are not exportable are listed with the reason.
Run: `.venv/bin/python bench/backends.py [--threads 1] [--repeats 15]`.
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
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "bench"))

from studio.model.api import Generator  # noqa: E402
from studio.model.registry import Registry  # noqa: E402
from studio.render.backend import BackendChooser, batch_context  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"
BATCHES = (1, 16)
AUTO_SLACK = 1.10


def models(tmp: Path) -> list[tuple[str, Path]]:
    from dcgan_latency import make_checkpoint  # the latency bench's pytorch/examples-size DCGAN

    out = [("dcgan ngf64 64px", make_checkpoint(tmp)), ("stargan v2 128px", stargan_v2_checkpoint(tmp))]
    for label, name in [("dcgan demo", "dcgan_toyfaces"), ("stylegan2 demo", "stylegan2_toyfaces"),
                        ("stargan demo", "stargan_toyfaces")]:
        p = ROOT / "checkpoints" / f"{name}.safetensors"
        if p.is_file():
            out.append((label, p))
    for label, rel in [("dcgan fixture ngf8 64px", "dcgan_pytorch_examples/netG_epoch_0.pth"),
                       ("stargan v1 fixture 128px", "stargan_yunjey/1000-G.ckpt"),
                       ("stylegan2 fixture", "stylegan2_rosinality")]:
        p = FIXTURES / rel
        if p.is_dir():
            p = next(iter(sorted(p.glob("*.pt")) + sorted(p.glob("*.pth")) + sorted(p.glob("*.pkl"))), p)
        if p.is_file():
            out.append((label, p))
    return out


def stargan_v2_checkpoint(tmp: Path) -> Path:
    """A StarGAN v2 of our own network code in the official nets_ema layout (random weights), 128 px."""
    from latent_studio_plugins.stargan.network_v2 import PARTS, StarGANv2Config, build

    torch.manual_seed(0)
    nets = build(StarGANv2Config(img_size=128, style_dim=64, latent_dim=16, num_domains=2, w_hpf=0.0,
                                 max_conv_dim=256, dim_in=32))
    path = tmp / "stargan_v2" / "100000_nets_ema.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({name: net.state_dict() for name, net in zip(PARTS, nets)}, path)
    return path


def paired(gens: list[Generator], batch: int, repeats: int) -> list[list[float]]:
    """ms per run for each generator, interleaved so each round sees the same machine load."""
    ctxs = [batch_context(g, batch) for g in gens]
    for g, ctx in zip(gens, ctxs):
        g.run(ctx)
    times: list[list[float]] = [[] for _ in gens]
    for _ in range(repeats):
        for i, (g, ctx) in enumerate(zip(gens, ctxs)):
            t0 = time.perf_counter()
            g.run(ctx)
            times[i].append((time.perf_counter() - t0) * 1e3)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads (default 1)")
    ap.add_argument("--repeats", type=int, default=15, help="timed rounds per size (default 15)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reg = Registry.discover(search_paths=[])
    print(f"torch {torch.__version__}, {args.threads} thread(s); medians of {args.repeats} interleaved "
          "rounds; ratio = median of paired torch/ORT (>1: ORT faster)")
    print(f"{'model':<26}{'batch':>6}{'torch ms':>10}{'ORT ms':>9}{'ratio':>7}  {'auto':<6}{'auto ms':>9}"
          f"{'auto/slower':>12}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for label, path in models(tmp_path):
            try:
                g = reg.open(path)
            except Exception as exc:
                print(f"{label:<26}  cannot open: {exc}")
                continue
            chooser = BackendChooser(tmp_path / "choices", repeats=5)
            twin = chooser.twin(g)
            if twin is None:
                print(f"{label:<26}  torch only: {chooser.notes[-1] if chooser.notes else 'no ONNX twin'}")
                continue
            for batch in BATCHES:
                choice = chooser.choose(g, batch)
                auto = chooser.generator_for(g, batch)
                t_torch, t_ort, t_auto = paired([g, twin, auto], batch, args.repeats)
                m_t, m_o, m_a = (statistics.median(t) for t in (t_torch, t_ort, t_auto))
                ratio = statistics.median(a / b for a, b in zip(t_torch, t_ort))
                vs_slower = m_a / max(m_t, m_o)
                worst = max(worst, vs_slower)
                print(f"{label:<26}{batch:>6}{m_t:>10.2f}{m_o:>9.2f}{ratio:>7.2f}  "
                      f"{choice.backend:<6}{m_a:>9.2f}{vs_slower:>12.2f}")
    ok = worst <= AUTO_SLACK
    print(f"auto vs the slower backend, worst case: {worst:.2f} (target <= {AUTO_SLACK:.2f}): "
          f"{'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
