"""`latent-studio mix`: the StyleGAN paper's style-mixing grid of seeds to one image file."""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from studio.cli.common import (DEVICES, UsageError, add_condition_options, add_pick_option, check_writable,
                               existing_file,
                               image_format, load_model, parse_range, positive_int, with_condition, write_atomic)
from studio.cli.render import parse_seeds, upscale

MAX_SIDE = 64  # seeds along one side of a grid; more is a typo, not a figure


def register(sub: Any) -> None:
    m = sub.add_parser("mix", help="render a style-mixing grid (StyleGAN): sources across, destinations down",
                       description="Render the StyleGAN paper's style-mixing grid: the column seeds along "
                                   "the top, the row seeds down the left, and in each cell the row's image "
                                   "with the chosen style inputs taken from the column's.",
                       epilog="example: mix ffhq.pkl --rows 1,2,3 --cols 4,5 --layers 0-3 --out grid.png "
                              "(0-3: coarse styles; 8-17: fine, for a 1024px model)")
    m.add_argument("checkpoint", metavar="CKPT", help="a StyleGAN checkpoint")
    m.add_argument("--rows", type=_seeds, required=True, metavar="SEEDS",
                   help="destination seeds, down the left: e.g. 1,2,3 or 0-5")
    m.add_argument("--cols", type=_seeds, required=True, metavar="SEEDS",
                   help="source seeds, across the top, whose styles are copied in")
    m.add_argument("--layers", type=parse_layers, required=True, metavar="A-B",
                   help="style inputs taken from the column seed, inclusive: e.g. 0-3, or 6 for one")
    m.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="pull toward the mean latent (1 = none)")
    add_condition_options(m)
    add_pick_option(m)
    m.add_argument("--scale", type=positive_int, default=1, metavar="N",
                   help="integer nearest-neighbour upscale")
    m.add_argument("--out", "-o", type=Path, required=True, help="image to write (.png, .jpg, .webp, ...)")
    m.add_argument("--force", "-f", action="store_true", help="overwrite an existing output file")
    m.add_argument("--device", choices=DEVICES, default="auto",
                   help="compute device (default: auto = cuda > mps > cpu, or $LATENT_STUDIO_DEVICE)")
    m.set_defaults(func=cmd_mix)


def _seeds(spec: str) -> list[int]:
    seeds = parse_seeds(spec)
    if len(seeds) > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"too many seeds in {spec!r} (at most {MAX_SIDE} per side)")
    return seeds


def parse_layers(spec: str) -> tuple[int, int]:
    """'0-3' -> (0, 4): the user's inclusive range as the half-open range Mix edits hold."""
    bounds = parse_range(spec, "layer range")
    if bounds is None:
        raise argparse.ArgumentTypeError(f"bad layer range {spec!r}: use A-B (inclusive), e.g. 0-3, or one "
                                         f"number")
    lo, hi = bounds
    return lo, hi + 1


def cmd_mix(ns: argparse.Namespace) -> int:
    from PIL import Image

    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.render.engine import Renderer
    from studio.render.mixing import mixing_grid

    if not math.isfinite(ns.truncation):
        raise UsageError("--truncation must be a finite number")
    fmt = image_format(ns.out)
    check_writable(ns.out, ns.force)
    path = existing_file(Path(ns.checkpoint), "checkpoint")
    g = load_model(path, ns.device, picks=ns.pick)
    if "style_mix" not in g.info.capabilities:
        raise UsageError(f"{path.name} ({g.info.family}): this model has no style inputs to mix")
    start, stop = ns.layers
    n = g.info.num_ws
    if stop > n:
        raise UsageError(f"--layers {start}-{stop - 1} is beyond this model's {n} style inputs (0-{n - 1})")
    base = Recipe(ModelRef(str(path.resolve()), g.model_id), SeedLatent(0), truncation=ns.truncation)
    base = with_condition([base], ns, g, path.name)[0]
    image = upscale(mixing_grid(Renderer(), g, base, ns.rows, ns.cols, ns.layers), ns.scale)
    from studio.export.ownership import image_mark  # marked: a later --force may replace it

    write_atomic(ns.out, ns.force, lambda f: Image.fromarray(image).save(f, format=fmt, **image_mark(fmt)))
    h, w = image.shape[:2]
    print(f"wrote {ns.out} ({w}x{h}, {len(ns.rows)}x{len(ns.cols)} mixes of style inputs {start}-{stop - 1})")
    return 0
