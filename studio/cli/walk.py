"""`latent-studio walk`: an interpolation video (or GIF, WebP, PNG frames) between two seeds, in Z or W,
or a seamless noise loop around one seed."""
from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.cli.common import (DEVICES, UsageError, add_backend_option, add_condition_options,
                               add_precision_option, bounded, existing_file, load_model, parse_condition,
                               positive_int, with_condition)


def register(sub: Any) -> None:
    from studio.core.timeline import SPACES

    w = sub.add_parser("walk", help="render an interpolation between two seeds to a video or animation",
                       description="Interpolate between two seeds and write MP4, GIF, WebP or a folder of "
                                   "PNG frames (chosen by --out's extension; no extension: PNG frames).",
                       epilog="examples: walk netG.pth --from-seed 1 --to-seed 2 --frames 48 --fps 24 "
                              "--ease ease-in-out --loop --out walk.mp4;  walk sg2.pkl --from-seed 1 "
                              "--to-seed 2 --space w --out w.mp4;  walk netG.pth --from-seed 1 "
                              "--loop-noise 0.3 --frames 96 --out loop.gif")
    w.add_argument("checkpoint", metavar="CKPT", type=Path, help="checkpoint file")
    w.add_argument("--from-seed", type=int, required=True, metavar="SEED", help="first keyframe's seed")
    w.add_argument("--to-seed", type=int, default=None, metavar="SEED",
                   help="second keyframe's seed (optional with --loop-noise: a loop around --from-seed)")
    w.add_argument("--frames", type=frame_count, default=48, metavar="N", help="frames in all (default 48)")
    w.add_argument("--truncation", type=float, default=1.0, metavar="PSI", help="pull toward the mean latent")
    mode = w.add_mutually_exclusive_group()
    mode.add_argument("--slerp", dest="interpolation", action="store_const", const="slerp",
                      help="spherical interpolation (default: keeps Gaussian latents typical)")
    mode.add_argument("--lerp", dest="interpolation", action="store_const", const="lerp",
                      help="straight-line interpolation")
    w.set_defaults(interpolation="slerp")
    w.add_argument("--space", choices=SPACES, default="z",
                   help="interpolate latents (z, default) or style vectors after the mapping network (w; "
                        "StyleGAN models)")
    w.add_argument("--loop", action="store_true", help="go there and back, ending where it starts")
    w.add_argument("--loop-noise", type=radius_value, default=None, metavar="R",
                   help="add a periodic noise loop (period: the whole sequence, so it loops seamlessly) of "
                        "radius R in (0, 1], relative to the latent's length; in --space")
    w.add_argument("--noise-seed", type=int, default=0, metavar="SEED", help="directions of the noise loop")
    add_condition_options(w)
    w.add_argument("--to-class", type=int, default=None, metavar="N",
                   help="class-conditional models: the second keyframe's class, blended from --class's "
                        "along the walk (without --to-seed the seed stays put and only the class moves)")
    w.add_argument("--to-condition", type=parse_condition, default=None, metavar="V,V,...",
                   help="conditional models: the second keyframe's raw condition (an InfoGAN walk along one "
                        "code: the same values as --condition but that code)")
    add_output_options(w)
    w.set_defaults(func=cmd_walk)


def add_output_options(p: argparse.ArgumentParser, fps_default: float | None = 24.0) -> None:
    from studio.core.timeline import EASINGS

    p.add_argument("--ease", choices=list(EASINGS), default=None,
                   help="easing curve of each segment (default: linear, or the project's)")
    p.add_argument("--fps", type=fps_value, default=None,
                   help=f"frames per second (default: {fps_default or 'the project' + chr(39) + 's'})")
    p.add_argument("--scale", type=positive_int, default=1, metavar="N", help="integer upscale")
    p.add_argument("--smooth", action="store_true", help="bicubic upscale instead of crisp pixels")
    p.add_argument("--quality", type=quality_value, default=90, metavar="Q",
                   help="1-100 (default 90; WebP at 100 is lossless)")
    p.add_argument("--full-chroma", action="store_true",
                   help="MP4: keep full colour resolution (4:4:4; crisper small frames, fewer players)")
    p.add_argument("--batch", type=positive_int, default=None, metavar="N",
                   help="frames rendered per batch (default 16; PNG frames: 1, bit-exact to the studio's)")
    p.add_argument("--out", "-o", type=Path, required=True, help="output: .mp4, .gif, .webp, or a folder name")
    p.add_argument("--no-sidecar", action="store_true", help="do not write the recipes JSON beside the output")
    p.add_argument("--force", "-f", action="store_true", help="overwrite an existing output")
    p.add_argument("--device", choices=DEVICES, default="auto", help="compute device (default: auto)")
    add_backend_option(p)
    add_precision_option(p)
    from studio.cli.cluster import add_ray_option

    add_ray_option(p)


radius_value = bounded(float, 0, 1, above=True)
frame_count = bounded(int, 2, 1_000_000, rule="must be at least 2")
fps_value = bounded(float, 0, 240, above=True, rule="must be between 0 and 240")
quality_value = bounded(int, 1, 100)


def cmd_walk(ns: argparse.Namespace) -> int:
    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.core.timeline import NoiseLoop, Segment, Timeline
    from studio.model.spaces import frame_recipes

    if ns.to_class is not None and ns.to_condition is not None:
        raise UsageError("give --to-class or --to-condition, not both")
    if ns.to_class is not None or ns.to_condition is not None:
        if ns.to_class is not None and ns.class_index is None:
            raise UsageError("--to-class needs --class, the first keyframe's class")
        if ns.to_condition is not None and ns.class_index is None and ns.condition is None:
            raise UsageError("--to-condition needs --condition (or --class), the first keyframe's")
        if ns.to_seed is None:
            ns.to_seed = ns.from_seed  # a walk between two conditions of one image
    if ns.to_seed is None and ns.loop_noise is None:
        raise UsageError("give --to-seed, or --loop-noise R for a loop around --from-seed")
    if ns.from_seed < 0 or (ns.to_seed or 0) < 0 or ns.noise_seed < 0:
        raise UsageError("seeds must be non-negative")
    if not math.isfinite(ns.truncation):
        raise UsageError("--truncation must be a finite number")
    path = existing_file(ns.checkpoint, "checkpoint")
    fps = ns.fps or 24.0
    check_output(ns)
    g = load_model(path, ns.device, ns.backend, export_batch(ns))
    if ns.space == "w" and not g.has_w:
        raise UsageError(f"--space w needs a model with a W space (StyleGAN); this is a {g.info.family} model")
    ref = ModelRef(str(path.resolve()), g.model_id)
    seeds = (ns.from_seed,) if ns.to_seed is None else (ns.from_seed, ns.to_seed)
    keys = tuple(with_condition([Recipe(ref, SeedLatent(s), truncation=ns.truncation) for s in seeds], ns, g,
                                path.name))
    if ns.to_class is not None:
        from studio.core.recipe import class_condition
        from studio.errors import RecipeError

        try:
            keys = (keys[0], replace(keys[1], condition=class_condition(ns.to_class, g.info.c_dim)))
        except RecipeError as exc:
            raise UsageError(f"--to-class: {exc}") from None
    if ns.to_condition is not None:
        if len(ns.to_condition) != g.info.c_dim:
            raise UsageError(f"--to-condition has {len(ns.to_condition)} values but {path.name} takes "
                             f"{g.info.c_dim}")
        keys = (keys[0], replace(keys[1], condition=tuple(ns.to_condition)))
    seg = Segment(1, ns.interpolation, ns.ease or "linear", ns.space)
    noise = None if ns.loop_noise is None else NoiseLoop(ns.loop_noise, ns.noise_seed, ns.space)
    if len(keys) == 1:
        segs: tuple[Segment, ...] = (replace(seg, frames=ns.frames),)
    elif ns.loop or noise is not None:  # a noise loop always loops: there and back again
        half = ns.frames // 2
        segs = (replace(seg, frames=half), replace(seg, frames=ns.frames - half))
    else:
        segs = (replace(seg, frames=ns.frames - 1), seg)
    timeline = Timeline(keys, segs, loop=ns.loop, fps=fps, noise=noise)
    recipes = frame_recipes(g, timeline)
    assert len(recipes) == ns.frames
    return run_export(g, recipes, ns, fps)


def check_output(ns: argparse.Namespace) -> None:
    """Fail on a bad --out before loading anything."""
    from studio.export.safe import check_target
    from studio.export.writers import format_of

    from studio.cli.cluster import check_ray

    format_of(ns.out)
    check_target(ns.out.expanduser(), ns.force)
    check_ray(ns)


def export_batch(ns: argparse.Namespace) -> int:
    """Frames per batch this export renders: what "auto" chooses a runtime for."""
    from studio.export.job import default_batch

    return ns.batch or default_batch(ns.out, alone=True)


def run_export(g: Any, recipes: list, ns: argparse.Namespace, fps: float) -> int:
    """Export with a progress bar on stderr (tqdm; silent when stderr is not a terminal); with --ray the
    frames render on the cluster and stream back here, in order, to the same writers."""
    from tqdm import tqdm

    from studio.cli.cluster import cluster_frames
    from studio.export.job import drive, export_job
    from studio.export.writers import ExportOptions

    options = ExportOptions(fps=fps, scale=ns.scale, smooth=ns.smooth, quality=ns.quality,
                            chroma="444" if ns.full_chroma else "420", precision=ns.precision)
    with cluster_frames(ns, g, Path(recipes[0].model.path)) as frames:
        job = export_job(g, recipes, ns.out, options, force=ns.force, batch_size=ns.batch,
                         sidecar=not ns.no_sidecar, alone=True, frames=frames)
        with tqdm(total=len(recipes), unit="frame", desc=ns.out.name, disable=None, leave=True) as bar:
            def show(p: Any) -> None:
                if p.done > bar.n:
                    bar.update(p.done - bar.n)
                if p.phase == "finishing":
                    bar.set_postfix_str("encoding", refresh=False)

            result = drive(job, on_progress=show)
    assert result is not None
    size = _size(result.path)
    print(f"wrote {result.path} ({result.frames} frames at {fps:g} fps, {size}, {result.seconds:.1f} s)")
    return 0


def _size(path: Path) -> str:
    n = sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"
