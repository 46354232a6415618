"""Does every slider do something visible? The mean pixel change (0-255) at each slider's extremes on the
bundled demos, beside the target (studio.core.slider_ranges.VISIBLE_CHANGE), before and after the ranges
were set from this measurement.

    .venv/bin/python bench/slider_ranges.py            # every slider, 8 seeds (a few minutes on 2 cores)
    .venv/bin/python bench/slider_ranges.py --only noise --seeds 4

Each row: model, slider, the value at the extreme, the mean |change| against the slider's default over the
seeds (for a family of sliders, the mean and the weakest member), the target, and whether it is met. The
Noise rows show "before" (the old fixed x3 per layer) beside "after" (each layer's measured maximum).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.bundled import resolve_demo  # noqa: E402
from studio.core import slider_ranges as R  # noqa: E402
from studio.core.directions import random_directions  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.core.style_edits import with_noise_strength  # noqa: E402
from studio.render.engine import ModelCache, Renderer  # noqa: E402
from studio.render.noise_ranges import mean_change, noise_ranges  # noqa: E402

OLD_NOISE_MAX = 3.0  # before: every noise layer's slider ended at x3


def row(model: str, slider: str, at: str, change: float, weakest: float | None = None,
        note: str | None = None) -> None:
    """One figure beside the target; `note` instead of a verdict where no target applies."""
    worst = change if weakest is None else weakest
    ok = note or ("met" if worst >= R.VISIBLE_CHANGE else "MISSED")
    both = f"{change:6.2f}" + (f"  (weakest {weakest:5.2f})" if weakest is not None else " " * 18)
    print(f"{model:<10} {slider:<28} {at:>14}  {both}  target >= {R.VISIBLE_CHANGE:.1f}: {ok}", flush=True)


def walk_family(g, renderer, base, reference, ds, name: str, model: str) -> None:
    scale = ds.stddev if ds.stddev is not None else np.ones(len(ds))
    for sign in (-1, 1):
        changes = []
        for i in range(len(ds)):
            amount = sign * R.WALK_RANGE * float(scale[i] if scale[i] > 0 else 1.0)
            rs = [r.with_walk("b", tuple(float(v) for v in ds.vectors[i]), amount, ds.space) for r in base]
            changes.append(mean_change(renderer.render_batch(g, rs), reference))
        row(model, f"{name} (x{len(ds)})", f"{sign * R.WALK_RANGE:+.0f}", float(np.mean(changes)), min(changes))


def generator_sliders(path: Path, seeds: list[int], only: str | None) -> None:
    from studio.render.analysis import pca_job, run_job

    g = ModelCache(torch.device("cpu")).get(path)
    renderer = Renderer()
    model = g.info.family
    base = [Recipe(ModelRef("", g.model_id), SeedLatent(s)) for s in seeds]
    reference = renderer.render_batch(g, base)
    if only in (None, "truncation"):
        for psi in R.TRUNCATION_RANGE:
            row(model, "truncation psi", f"{psi:g}",
                mean_change(renderer.render_batch(g, [r.with_truncation(psi) for r in base]), reference))
    if only in (None, "walk"):
        space, dim = ("w", g.info.w_dim) if g.has_w else ("z", g.info.z_dim)
        walk_family(g, renderer, base, reference, random_directions(min(8, dim), dim, 0, space), "random dirs",
                    model)
        walk_family(g, renderer, base, reference, run_job(pca_job(g, 10, 1000)), "PCA (std)", model)
        sefa = getattr(g, "sefa_directions", None)
        if sefa is not None:
            walk_family(g, renderer, base, reference, sefa(8, None), "SeFa", model)
    if only in (None, "units"):
        from studio.core.units import UnitEdit
        from studio.render.features import layer_activations

        layer = g.info.layer_names[max(0, len(g.info.layer_names) - 2)]  # the Features panel's default layer
        acts = layer_activations(g, base, layer, renderer).float().mean(dim=(0, 2, 3)).numpy()
        top = int(np.argmax(acts))
        for value in R.UNIT_SCALE_RANGE:
            rs = [replace(r, edits=(UnitEdit(layer, (top,), "scale", float(value)),)) for r in base]
            row(model, f"unit scale ({layer} #{top})", f"x{value:g}",
                mean_change(renderer.render_batch(g, rs), reference))
    if only in (None, "noise") and getattr(g, "noise_layers", None) is not None:
        layers = list(g.noise_layers())
        t0 = time.perf_counter()
        after = noise_ranges(g, renderer)
        print(f"# noise ranges measured on seed 0 in {time.perf_counter() - t0:.1f} s: "
              + ", ".join(f"{n} x{m:g}" for n, m in zip(layers, after)), flush=True)
        for i, name in enumerate(layers):
            for label, top in (("before", OLD_NOISE_MAX), ("after", after[i])):
                scales = [1.0] * len(layers)
                scales[i] = top
                rs = [with_noise_strength(r, tuple(scales)) for r in base]
                row(model, f"noise {name} [{label}]", f"x{top:g}", mean_change(renderer.render_batch(g, rs), reference))
        for label, tops in (("before", (OLD_NOISE_MAX,) * len(layers)), ("after", after)):
            rs = [with_noise_strength(r, tuple(tops)) for r in base]
            row(model, f"noise all layers [{label}]", "max", mean_change(renderer.render_batch(g, rs), reference))
        rs = [with_noise_strength(r, (0.0,) * len(layers)) for r in base]
        row(model, "noise all layers", "x0", mean_change(renderer.render_batch(g, rs), reference),
            note="no target: x0 takes away only the noise the model uses")


def stargan_sliders(path: Path, seeds: list[int]) -> None:
    from PIL import Image

    from studio.core.attributes import with_attributes
    from studio.core.photo import image_latent
    from studio.demo import toyfaces

    g = ModelCache(torch.device("cpu")).get(path)
    renderer = Renderer()
    faces = toyfaces.sample(len(seeds), 4242)
    with tempfile.TemporaryDirectory() as tmp:
        base = []
        for i, img in enumerate(faces.images):
            p = Path(tmp) / f"face{i}.png"
            Image.fromarray(img).save(p)
            r = Recipe(ModelRef("", g.model_id), image_latent(p))
            base.append(with_attributes(r, tuple(float(v) for v in faces.binary[i])))
        reference = renderer.render_batch(g, base)
        for a, name in enumerate(g.info.attributes):
            for value in R.ATTRIBUTE_STRENGTH_RANGE:
                rs = []
                for i, r in enumerate(base):
                    values = [float(v) for v in faces.binary[i]]
                    values[a] = value
                    rs.append(with_attributes(r, values))
                row("stargan", f"strength {name}", f"{value:+g}", mean_change(renderer.render_batch(g, rs), reference))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--only", choices=("truncation", "walk", "units", "noise", "attributes"))
    ap.add_argument("--threads", type=int, default=1)
    ns = ap.parse_args(argv)
    torch.set_num_threads(ns.threads)
    seeds = list(range(ns.seeds))
    print(f"{'model':<10} {'slider':<28} {'extreme':>14}  mean |change| 0-255, over {ns.seeds} seeds")
    if ns.only != "attributes":
        for demo in ("demo:dcgan", "demo:stylegan2"):
            generator_sliders(resolve_demo(demo), seeds, ns.only)
    if ns.only in (None, "attributes"):
        stargan_sliders(resolve_demo("demo:stargan"), seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
