"""`latent-studio render`: a seed, a saved recipe, or a contact sheet of seeds to one image file."""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.cli.common import (DEVICES, PROG, UsageError, add_backend_option, add_condition_options,
                               add_pick_option, add_precision_option, check_writable, existing_file,
                               image_format, load_model, parse_range, positive_int, with_condition,
                               write_atomic)
from studio.errors import StudioError

if TYPE_CHECKING:
    import numpy as np

    from studio.core.recipe import Recipe

MAX_SEEDS = 4096  # a contact sheet larger than this is a typo, not a request
SHEET_BATCH = 16  # images per batch of a contact sheet (a cluster's chunks are whole batches: same pixels)


def register(sub: Any) -> None:
    r = sub.add_parser("render", help="render a seed, a recipe, or a contact sheet of seeds to an image",
                       description="Render one image, or a contact sheet of many seeds, to a file.",
                       epilog="examples: render netG.pth --seed 3 --truncation 0.7 --out a.png | "
                              "render --recipe r.json --out a.png | "
                              "render netG.pth --seeds 0-15 --grid 4x4 --scale 2 --out sheet.png")
    r.add_argument("checkpoint", metavar="CKPT", nargs="?", help="checkpoint file (or give --recipe)")
    r.add_argument("--recipe", type=Path, help="recipe JSON (one recipe, or a list for a contact sheet), or a "
                                               "PNG saved by Latent Studio (it carries its recipe)")
    r.add_argument("--model", type=Path, help="checkpoint to use instead of the one the recipe names")
    r.add_argument("--seed", type=int, help="latent seed (default 0, or the recipe's)")
    r.add_argument("--seeds", type=parse_seeds, metavar="SPEC",
                   help="many seeds for a contact sheet: ranges and lists such as 0-15 or 0-3,7,9")
    r.add_argument("--truncation", type=float, metavar="PSI", help="pull toward the mean latent (1 = none)")
    r.add_argument("--truncation-cutoff", type=positive_int, metavar="K",
                   help="StyleGAN: truncation pulls only the first K style inputs (default: all)")
    r.add_argument("--grid", type=parse_grid, metavar="COLSxROWS",
                   help="contact-sheet layout, e.g. 4x4 (without --seeds: consecutive seeds from --seed)")
    add_condition_options(r)
    r.add_argument("--scale", type=positive_int, default=1, metavar="N",
                   help="integer nearest-neighbour upscale")
    r.add_argument("--out", "-o", type=Path, required=True, help="image to write (.png, .jpg, .webp, ...)")
    r.add_argument("--save-recipe", type=Path, metavar="JSON", help="also write the recipe(s) rendered")
    r.add_argument("--force", "-f", action="store_true", help="overwrite existing output files")
    add_backend_option(r)
    add_pick_option(r)
    add_precision_option(r)
    r.add_argument("--device", choices=DEVICES, default="auto",
                   help="compute device (default: auto = cuda > mps > cpu, or $LATENT_STUDIO_DEVICE)")
    from studio.cli.cluster import add_ray_option

    add_ray_option(r, "contact sheet's seeds")
    r.set_defaults(func=cmd_render)


def parse_seeds(spec: str) -> list[int]:
    """'0-3,7,9' -> [0, 1, 2, 3, 7, 9]; order kept, so a sheet shows seeds in the order asked."""
    seeds: list[int] = []
    for part in spec.replace(" ", "").split(","):
        bounds = parse_range(part, "seed range")
        if bounds is None:
            raise argparse.ArgumentTypeError(f"bad seed list {spec!r}: use numbers and ranges like 0-15 "
                                             f"or 0-3,7,9")
        lo, hi = bounds
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"too many seeds in {spec!r} (at most {MAX_SEEDS})")
        seeds.extend(range(lo, hi + 1))
    return seeds


def parse_grid(spec: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", spec)
    if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"bad grid {spec!r}: use COLSxROWS, e.g. 4x4")
    cols, rows = int(m.group(1)), int(m.group(2))
    if cols * rows > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"grid {spec} is too large (at most {MAX_SEEDS} cells)")
    return cols, rows


def cmd_render(ns: argparse.Namespace) -> int:
    from PIL import Image

    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.render.engine import Renderer

    if ns.seed is not None and ns.seeds is not None:
        raise UsageError("give --seed or --seeds, not both")
    if ns.checkpoint and ns.model and Path(ns.checkpoint) != ns.model:
        raise UsageError("give the checkpoint either as CKPT or as --model, not two different ones")
    fmt = image_format(ns.out)
    check_writable(ns.out, ns.force)
    from studio.cli.cluster import check_ray

    check_ray(ns)
    if ns.save_recipe is not None:
        if ns.save_recipe.suffix.lower() not in (".json", ""):
            raise UsageError(f"--save-recipe writes JSON; {ns.save_recipe.name} looks like another kind "
                             f"of file")
        if ns.save_recipe.expanduser().resolve() == ns.out.expanduser().resolve():
            raise UsageError("--out and --save-recipe name the same file")
        check_writable(ns.save_recipe, ns.force)

    model_override = ns.model or (Path(ns.checkpoint) if ns.checkpoint else None)
    if ns.recipe is not None:
        base = read_recipes(ns.recipe)
    elif model_override is None:
        raise UsageError("nothing to render: give a checkpoint (CKPT) or --recipe")
    else:
        base = [Recipe(ModelRef(""), SeedLatent(0))]
    if model_override is None and not base[0].model.path:
        raise UsageError(f"{ns.recipe.name} names no model; give one with --model")
    model_path = existing_file(model_override or Path(base[0].model.path), "checkpoint")
    if len({r.model.path for r in base}) > 1 and model_override is None:
        raise UsageError(f"{ns.recipe.name} mixes recipes of several models; render one model at a time")

    recipes = _apply_overrides(base, ns)
    if ns.grid is not None:
        cols, rows = ns.grid
        if len(recipes) > cols * rows:
            raise UsageError(f"grid {cols}x{rows} holds {cols * rows} images but {len(recipes)} "
                             f"were asked for")
    recipe_picks = base[0].model.picks if ns.recipe is not None and model_override is None else {}
    picks = ns.pick or [f"{k}={v}" for k, v in recipe_picks.items()]  # the variant the recipe was made with
    g = load_model(model_path, ns.device, ns.backend, picks=picks)
    if ns.truncation_cutoff is not None and not g.info.num_ws:
        raise UsageError(f"--truncation-cutoff needs a model with style inputs (StyleGAN); "
                         f"{model_path.name} is {g.info.family}")
    ref = ModelRef(str(model_path.resolve()), g.model_id)
    if ns.recipe is not None and model_override is None:
        stale = {r.model.sha256 for r in base} - {"", g.model_id}
        if stale:
            print(f"{PROG}: warning: {model_path.name} has changed since the recipe was saved "
                  f"(sha256 differs); rendering it anyway", file=sys.stderr)
    recipes = with_condition([_with_model(r, ref) for r in recipes], ns, g, model_path.name)

    renderer = Renderer(precision=ns.precision)
    if ns.ray is not None and len(recipes) == 1 and ns.grid is None:
        raise UsageError("--ray renders a contact sheet's seeds (--seeds or --grid); one image renders here")
    if len(recipes) == 1 and ns.grid is None:
        frame = renderer.render(g, recipes[0])
        if not frame.ok:
            raise StudioError(f"rendering failed: {frame.error}")
        image = frame.image
    else:
        cols, rows = ns.grid or _auto_grid(len(recipes))
        image = contact_sheet(_sheet_images(ns, renderer, g, model_path, recipes), cols, rows)
    assert image is not None
    image = upscale(image, ns.scale)
    from studio.export.ownership import image_mark  # marked: a later --force may replace it

    write_atomic(ns.out, ns.force, lambda f: Image.fromarray(image).save(f, format=fmt, **image_mark(fmt)))
    if ns.save_recipe is not None:
        text = recipes[0].to_json() if len(recipes) == 1 else \
            json.dumps([r.to_dict() for r in recipes], indent=2)
        write_atomic(ns.save_recipe, ns.force, lambda f: f.write(text.encode() + b"\n"))
    h, w = image.shape[:2]
    what = "1 image" if len(recipes) == 1 else f"{len(recipes)} images"
    print(f"wrote {ns.out} ({w}x{h}, {what})")
    return 0


def _sheet_images(ns: argparse.Namespace, renderer: Any, g: Any, path: Path, recipes: list) -> "np.ndarray":
    """The sheet's images in batches of 16, here or (--ray) on the cluster in chunks of whole batches."""
    if ns.ray is None:
        return renderer.render_batch(g, recipes, SHEET_BATCH)
    from studio.cli.cluster import cluster_frames
    from studio.distributed.frames import render_frames

    with cluster_frames(ns, g, path) as frames:
        return render_frames(frames, g, recipes, SHEET_BATCH, renderer.precision)


def read_recipes(path: Path) -> list["Recipe"]:
    """One recipe, or a JSON list of them (or the recipe a studio PNG carries); a relative model path is taken
    relative to the recipe file."""
    from dataclasses import replace

    from studio.core import safe_json
    from studio.core.recipe import Recipe
    from studio.errors import RecipeError

    from studio.export.png_recipe import is_png, recipe_data

    path = existing_file(path, "recipe")
    if is_png(path):  # an image saved by the studio carries its recipe; validated below like any JSON
        data = recipe_data(path)
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise RecipeError(f"{path.name} is not a text (JSON) recipe file, nor a PNG saved by "
                              f"Latent Studio") from None
        data = safe_json.loads(text, path.name)  # depth, number and size limits
    items = data if isinstance(data, list) else [data]
    if not items:
        raise RecipeError(f"{path.name} holds an empty list of recipes")
    out = []
    for i, item in enumerate(items):
        try:
            r = Recipe.from_dict(item)
        except RecipeError as exc:
            where = f"{path.name}" + (f" (recipe {i + 1})" if isinstance(data, list) else "")
            raise RecipeError(f"{where}: {exc}") from None
        mp = Path(r.model.path).expanduser()
        if r.model.path and not mp.is_absolute():
            beside = path.parent / mp
            r = replace(r, model=replace(r.model, path=str(beside if beside.exists() else mp)))
        out.append(r)
    return out


def _apply_overrides(recipes: list["Recipe"], ns: argparse.Namespace) -> list["Recipe"]:
    from studio.core.recipe import SeedLatent

    if ns.truncation is not None:
        if not math.isfinite(ns.truncation):
            raise UsageError("--truncation must be a finite number")
        recipes = [r.with_truncation(ns.truncation) for r in recipes]
    if ns.truncation_cutoff is not None:
        from studio.core.style_edits import with_truncation_cutoff

        recipes = [with_truncation_cutoff(r, ns.truncation_cutoff) for r in recipes]
    if ns.seeds is not None:
        if len(recipes) != 1:
            raise UsageError("--seeds applies to a single recipe, but the recipe file holds several")
        return [recipes[0].with_seed(s) for s in ns.seeds]
    if ns.grid is not None and len(recipes) == 1:
        first = recipes[0]
        start = ns.seed if ns.seed is not None else (first.latent.seed if isinstance(first.latent, SeedLatent)
                                                      else 0)
        cols, rows = ns.grid
        return [first.with_seed(start + i) for i in range(cols * rows)]
    if ns.seed is not None:
        recipes = [r.with_seed(ns.seed) for r in recipes]
    return recipes


def _with_model(r: "Recipe", ref: Any) -> "Recipe":
    from dataclasses import replace

    return replace(r, model=ref)


def _auto_grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def contact_sheet(images: "np.ndarray", cols: int, rows: int) -> "np.ndarray":
    """(N, H, W, 3) images tiled row by row into one (rows*H, cols*W, 3) image; empty cells stay black."""
    import numpy as np

    n, h, w, c = images.shape
    sheet = np.zeros((rows * h, cols * w, c), np.uint8)
    for i in range(min(n, cols * rows)):
        y, x = divmod(i, cols)
        sheet[y * h:(y + 1) * h, x * w:(x + 1) * w] = images[i]
    return sheet


def upscale(image: "np.ndarray", factor: int) -> "np.ndarray":
    if factor == 1:
        return image
    return image.repeat(factor, axis=0).repeat(factor, axis=1)
