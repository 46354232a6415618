"""Quality bars of the bundled demo models, scored by the ToyFaces attribute model (prints figures).

For each model: toy-FID(trained) <= 0.15 x toy-FID(same architecture at initialisation) and below
toy-FID(real ToyFaces after a 16x16 round trip), so a blurry generator cannot pass; for unconditional
models, every binary attribute's generated rate within 10 points of the data's. Exits 1 when a bar is
missed or a model is absent. Run: `.venv/bin/python bench/demo_quality.py [--quick]`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from bars import Figure, report  # noqa: E402
from studio.demo import attributes, toyfaces  # noqa: E402
from studio.demo.toyfaces import BINARY_ATTRIBUTES  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"
ATTRIBUTE_MODEL = CHECKPOINTS / "toyfaces_attributes.safetensors"
FID_RATIO_BAR = 0.15
RATE_BAR = 0.10
STARGAN_BAR = 0.90  # share of attribute toggles that land, and that leave the other labels alone


def generated(generate: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, batch: int = 250) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([generate(z[i:i + batch]).clamp(-1, 1) for i in range(0, len(z), batch)])


def round_trip_16(images: np.ndarray) -> torch.Tensor:
    x = attributes.to_input(images)
    return F.interpolate(F.interpolate(x, size=(16, 16), mode="area"), size=(64, 64), mode="bilinear",
                         align_corners=False)


def dcgan_figures(net: attributes.AttributeNet, real_feats: np.ndarray, real_rates: np.ndarray, n: int,
                  blur_fid: float, path: Path) -> list[tuple[str, float, str, bool]]:
    from studio.train.dcgan import _init, generator_config
    from latent_studio_plugins.dcgan.network import build

    def at_init(g):
        init = build(generator_config(g.info.z_dim, _ngf_of(g))).apply(_init).eval()
        return lambda zz: init(zz.reshape(len(zz), -1, 1, 1))

    return unconditional_figures("dcgan", net, real_feats, real_rates, n, blur_fid, path, at_init)


def unconditional_figures(family: str, net: attributes.AttributeNet, real_feats: np.ndarray,
                          real_rates: np.ndarray, n: int, blur_fid: float, path: Path,
                          at_init: Callable) -> list[tuple[str, float, str, bool]]:
    """The bundled model at truncation 1 (the distribution it learnt) against the same architecture as
    its trainer initialises it (`at_init(g)` gives that network's z -> image)."""
    import studio

    if not path.exists():
        return [(f"{family}: checkpoint present", 0.0, str(path.name), False)]
    g = studio.load(str(path), device="cpu")
    z = g.latents(range(10_000, 10_000 + n))
    fake = generated(g.generate, z)
    torch.manual_seed(0)
    fake_init = generated(at_init(g), z)
    return unconditional_rows(family, net, fake, fake_init, real_feats, real_rates, blur_fid)


def unconditional_rows(family: str, net: attributes.AttributeNet, fake: torch.Tensor, fake_init: torch.Tensor,
                       real_feats: np.ndarray, real_rates: np.ndarray,
                       blur_fid: float) -> list[tuple[str, float, str, bool]]:
    """The bars of an unconditional generator: toy-FID vs its own initialisation and vs the blur, and the
    rate of every binary attribute against the data's."""
    fid = attributes.toy_fid(attributes.extract_features(net, fake), real_feats)
    fid_init = attributes.toy_fid(attributes.extract_features(net, fake_init), real_feats)
    rows = [
        (f"{family}: toy-FID trained / at init", fid / fid_init,
         f"<= {FID_RATIO_BAR} ({fid:.2f} / {fid_init:.2f})", fid / fid_init <= FID_RATIO_BAR),
        (f"{family}: toy-FID trained vs 16x16 round trip", fid, f"< {blur_fid:.2f}", fid < blur_fid),
    ]
    probs = attributes.predict(net, fake)
    for i, name in enumerate(BINARY_ATTRIBUTES):
        rate = float((probs[name] > 0.5).mean())
        diff = abs(rate - real_rates[i])
        rows.append((f"{family}: {name} rate", rate, f"data {real_rates[i]:.3f} +- {RATE_BAR}",
                     diff <= RATE_BAR))
    return rows


def stylegan2_figures(net: attributes.AttributeNet, real_feats: np.ndarray, real_rates: np.ndarray, n: int,
                      blur_fid: float, path: Path) -> list[tuple[str, float, str, bool]]:
    from studio.train.stylegan2 import TrainableG

    return unconditional_figures("stylegan2", net, real_feats, real_rates, n, blur_fid, path,
                                 lambda g: TrainableG(g.net.cfg).net.eval())


def _ngf_of(g) -> int:
    first = g.stages[0].module
    conv = first[0] if isinstance(first, torch.nn.Sequential) else first
    return int(conv.weight.shape[1]) // 8


def stargan_figures(net: attributes.AttributeNet, real_feats: np.ndarray, n: int, blur_fid: float,
                    path: Path) -> list[tuple[str, float, str, bool]]:
    """Translations of fresh real faces to random valid labels: toy-FID against the trained-at-init ratio
    and the blur bar. Then, per attribute and direction, what a click in the attribute panel does: source
    labels estimated by the attribute model, the target made by the core toggle rule, the image through
    g.translate; the attribute model must read the target attribute in >= 90% of trials and every other
    label as the target has it in >= 90%. A hair colour cannot be unset (one is always selected)."""
    import studio
    from latent_studio_plugins.stargan.network import StarGANv1
    from studio.core.attributes import toggle
    from studio.demo import estimate
    from studio.train.stargan import random_targets, to_tensor

    if not path.exists():
        return [("stargan: checkpoint present", 0.0, str(path.name), False)]
    g = studio.load(str(path), device="cpu")
    names, groups = tuple(g.info.attributes), g.exclusive_groups

    def translated(translate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
                   labels: np.ndarray, batch: int = 250) -> torch.Tensor:
        c = torch.as_tensor(labels, dtype=torch.float32)
        with torch.inference_mode():
            return torch.cat([translate(x[i:i + batch], c[i:i + batch]).clamp(-1, 1)
                              for i in range(0, len(x), batch)])

    faces = toyfaces.sample(n, seed=646464)
    x = to_tensor(faces.images)
    targets = random_targets(np.random.default_rng(7), faces.binary, p_single=0.0)
    torch.manual_seed(0)
    init = StarGANv1(g.net.cfg).eval()
    fid = attributes.toy_fid(attributes.extract_features(net, translated(g.translate, x, targets)), real_feats)
    fid_init = attributes.toy_fid(attributes.extract_features(net, translated(init, x, targets)), real_feats)
    rows = [
        ("stargan: toy-FID trained / at init", fid / fid_init, f"<= {FID_RATIO_BAR} ({fid:.2f} / {fid_init:.2f})",
         fid / fid_init <= FID_RATIO_BAR),
        ("stargan: toy-FID trained vs 16x16 round trip", fid, f"< {blur_fid:.2f}", fid < blur_fid),
    ]
    pool = toyfaces.sample(3 * n, seed=757575)
    px = to_tensor(pool.images)
    source = estimate.source_labels(px, names, groups, net=net)
    for i, name in enumerate(names):
        hair = any(i in grp for grp in groups)
        for value in (1.0,) if hair else (1.0, 0.0):
            idx = np.flatnonzero(source[:, i] != value)[:n]
            trg = np.array([toggle(source[k], i, groups) for k in idx], dtype=np.float32)
            probs = attributes.predict(net, translated(g.translate, px[idx], trg))
            on = np.stack([probs[nm] >= 0.5 for nm in names], axis=1)
            hit = on[:, i] == bool(value)
            others = [j for j in range(len(names)) if j != i]
            kept = (on[:, others] == (trg[:, others] >= 0.5)).all(1)
            verb = "set" if value else "unset"
            rows.append((f"stargan: {verb} {name} ({len(idx)} faces)", float(hit.mean()), f">= {STARGAN_BAR}",
                         hit.mean() >= STARGAN_BAR and len(idx) >= min(n, 1000)))
            rows.append((f"stargan: {verb} {name}, other labels kept", float(kept.mean()), f">= {STARGAN_BAR}",
                         kept.mean() >= STARGAN_BAR))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 samples per figure (a smoke run, noisier)")
    ap.add_argument("-n", type=int, default=1000, help="samples per figure (at least 1,000 for the bars)")
    ap.add_argument("--dcgan", type=Path, default=CHECKPOINTS / "dcgan_toyfaces.safetensors",
                    help="DCGAN checkpoint to score (default: the bundled one)")
    ap.add_argument("--stargan", type=Path, default=CHECKPOINTS / "stargan_toyfaces.safetensors",
                    help="StarGAN checkpoint to score (default: the bundled one)")
    ap.add_argument("--stylegan2", type=Path, default=CHECKPOINTS / "stylegan2_toyfaces.safetensors",
                    help="StyleGAN2 checkpoint to score (default: the bundled one)")
    args = ap.parse_args()
    n = 200 if args.quick else max(1000, args.n)
    torch.set_num_threads(2)
    net = attributes.load(ATTRIBUTE_MODEL)
    real = toyfaces.sample(n, seed=424242)
    real_b = toyfaces.sample(n, seed=535353)
    real_feats = attributes.extract_features(net, real.images)
    real_rates = real.binary.mean(axis=0)
    blur_fid = attributes.toy_fid(attributes.extract_features(net, round_trip_16(real_b.images)), real_feats)
    fid_floor = attributes.toy_fid(attributes.extract_features(net, real_b.images), real_feats)
    print(f"{n} samples per figure; toy-FID of a second real sample {fid_floor:.2f} (the noise floor), "
          f"of real faces after a 16x16 round trip {blur_fid:.2f}")
    rows = dcgan_figures(net, real_feats, real_rates, n, blur_fid, args.dcgan)
    rows += stargan_figures(net, real_feats, n, blur_fid, args.stargan)
    rows += stylegan2_figures(net, real_feats, real_rates, n, blur_fid, args.stylegan2)
    return report([Figure(*r) for r in rows])


if __name__ == "__main__":
    raise SystemExit(main())
