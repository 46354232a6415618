"""`latent-studio translate`: a folder of photos through a photo translator (StarGAN's attributes, or
pix2pix / CycleGAN, which take no labels; --pick chooses how they run, e.g. mode=eval or direction=B->A).

The user's photos are what matters here, so the command never writes into the input folder, never
replaces an existing output without --force (checked for every output before any work), and a photo it
cannot read costs one line and a skip, not the batch.
"""
from __future__ import annotations

import argparse
import math
import sys
from contextlib import closing
from pathlib import Path
from typing import Any, Iterator

from studio.cli.common import (DEVICES, UsageError, add_pick_option, existing_file, load_model, sha256_of,
                               write_atomic)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def register(sub: Any) -> None:
    t = sub.add_parser("translate", help="translate a folder of photos (StarGAN to target attributes; "
                                         "pix2pix, CycleGAN)",
                       description="Translate every photo (JPEG, PNG, WebP) in IN_DIR to the attributes set "
                                   "with --set and write PNGs of the same names to OUT_DIR. Attributes not "
                                   "set stay 0; setting a hair colour clears the other hair colours.",
                       epilog="example: translate photos/ --model 200000-G.ckpt --set Blond_Hair=1 "
                              "--set Young=1 --out blond/")
    t.add_argument("in_dir", metavar="IN_DIR", type=Path, help="folder of photos (not searched recursively)")
    t.add_argument("--model", type=Path, required=True, metavar="CKPT",
                   help="a photo translator's checkpoint (StarGAN, pix2pix, CycleGAN)")
    add_pick_option(t)
    t.add_argument("--set", dest="sets", action="append", type=attribute_setting, default=[],
                   metavar="NAME=VALUE", help="target label, e.g. Blond_Hair=1 (0..1; beyond exaggerates); "
                                              "repeat for several")
    t.add_argument("--out", "-o", type=Path, required=True, metavar="OUT_DIR",
                   help="folder for the results (created if missing; must not be IN_DIR)")
    t.add_argument("--force", "-f", action="store_true", help="overwrite existing files in OUT_DIR")
    t.add_argument("--align", action=argparse.BooleanOptionalAction, default=None,
                   help="turn, scale and shift each face to the model's training framing first (default: on for "
                        "face models; other domains are not aligned, and it says so)")
    t.add_argument("--device", choices=DEVICES, default="auto", help="compute device (default: auto)")
    from studio.cli.cluster import add_ray_option

    add_ray_option(t, "photos")
    t.set_defaults(func=cmd_translate)


def attribute_setting(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE such as Blond_Hair=1, got {text!r}")
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected a number after '=', got {value!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{name}: the value must be a finite number")
    return name.strip(), v


def target_values(names: tuple[str, ...], groups, sets: list[tuple[str, float]]) -> tuple[float, ...]:
    """The labels from --set, in order, with the model's exclusive groups honoured."""
    from studio.core.attributes import set_value

    values: tuple[float, ...] = (0.0,) * len(names)
    for name, v in sets:
        if not names:
            raise UsageError(f"this model takes no labels, so --set {name}=... has nothing to set")
        if name not in names:
            raise UsageError(f"unknown attribute {name!r}; this model knows: {', '.join(names)}")
        values = set_value(values, names.index(name), v, groups)
    return values


def plan_outputs(photos: list[Path], out_dir: Path) -> list[Path]:
    """One PNG per photo, named after it; a second photo of the same stem keeps its extension."""
    used: set[str] = set()
    outs = []
    for p in photos:
        name = f"{p.stem}.png"
        if name.lower() in used:
            name = f"{p.name}.png"
        used.add(name.lower())
        outs.append(out_dir / name)
    return outs


def check_folders(in_dir: Path, out_dir: Path) -> None:
    if not in_dir.exists():
        raise UsageError(f"no such folder: {in_dir}")
    if not in_dir.is_dir():
        raise UsageError(f"{in_dir} is a file; give the folder of photos to translate")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file; give a folder for the results")
    if out_dir.resolve() == in_dir.resolve():
        raise UsageError(f"--out is the input folder {in_dir}; choose another folder so no photo is overwritten")


def cmd_translate(ns: argparse.Namespace) -> int:
    from PIL import Image
    from tqdm import tqdm

    from studio.core.attributes import Attributes, exclusive_groups
    from studio.core.photo import image_latent
    from studio.core.recipe import ModelRef, Recipe
    from studio.errors import StudioError
    from studio.export.ownership import image_mark
    from studio.render.engine import Renderer

    from studio.cli.cluster import check_ray

    in_dir, out_dir = ns.in_dir.expanduser(), ns.out.expanduser()
    check_folders(in_dir, out_dir)
    check_ray(ns)
    entries = sorted(p for p in in_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    photos = [p for p in entries if p.suffix.lower() in PHOTO_SUFFIXES]
    ignored = len(entries) - len(photos)
    if not photos:
        raise UsageError(f"{in_dir} holds no photos (JPEG, PNG or WebP)")
    outs = plan_outputs(photos, out_dir)
    inputs = {p.resolve() for p in photos}
    clash = next((o for o in outs if o.resolve() in inputs), None)
    if clash is not None:  # e.g. OUT_DIR a link to IN_DIR
        raise UsageError(f"{clash} would overwrite an input photo; choose another --out folder")
    existing = [o for o in outs if o.exists() or o.is_symlink()]
    if existing and not ns.force:
        more = f" and {len(existing) - 1} more already exist" if len(existing) > 1 else " already exists"
        raise UsageError(f"{existing[0]}{more} (use --force to overwrite)")
    from studio.export.ownership import name_list, studio_made

    foreign = [o.name for o in existing if not studio_made(o)]
    if foreign:  # --force replaces only results of an earlier translate
        raise UsageError(f"refusing to overwrite files in {out_dir} that Latent Studio did not write "
                         f"({name_list(foreign)}); move them or choose another --out folder")

    g = load_model(existing_file(ns.model, "checkpoint"), ns.device, picks=ns.pick)
    if "translate" not in g.info.capabilities:
        raise UsageError(f"{ns.model.name} is a {g.info.family} model; translate needs a photo translator "
                         "such as StarGAN, pix2pix or CycleGAN")
    names = tuple(g.info.attributes)
    groups = getattr(g, "exclusive_groups", None) or exclusive_groups(names)
    values = target_values(names, groups, ns.sets)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    model = ModelRef(str(ns.model.expanduser().resolve()), g.model_id if ns.pick else sha256_of(g, ns.model))
    edits = (Attributes(values),) if names else ()
    renderer = Renderer(cache_bytes=0)  # every photo differs: nothing to reuse
    mark = image_mark("PNG")  # a later --force may replace these, and only these
    from studio.render.align import align_latent

    done, skipped, aligned, align_note = 0, 0, 0, ""
    planned: list[tuple[Path, Path, Recipe | str]] = []  # a recipe per photo, or why it has none
    for photo, out in zip(photos, outs):
        try:
            latent, found, align_note = align_latent(image_latent(photo), g.info, ns.align)
            aligned += bool(found and found.found)
            planned.append((photo, out, Recipe(model, latent, edits=edits)))
        except StudioError as exc:
            planned.append((photo, out, str(exc)))
    rendered = _rendered(ns, g, renderer, [r for _, _, r in planned if not isinstance(r, str)])
    bar = tqdm(total=len(photos), unit="photo", desc="translate", disable=None, file=sys.stderr)
    with bar, closing(rendered):  # closed however the loop ends: a cluster's remaining tasks are cancelled
        for photo, out, recipe in planned:
            image_or_none, error = (None, recipe) if isinstance(recipe, str) else next(rendered)
            if image_or_none is None:
                skipped += 1
                tqdm.write(f"skipped {photo.name}: {error}", file=sys.stderr)
                bar.update(1)
                continue
            image = Image.fromarray(image_or_none)
            write_atomic(out, ns.force, lambda f, im=image: im.save(f, format="PNG", **mark))
            done += 1
            bar.update(1)
    setting = ", ".join(f"{n}={v:g}" for n, v in zip(names, values) if v) or (
        "all labels 0" if names else ", ".join(f"{c.name}={c.value}" for c in g.info.choices) or "no labels")
    note = f"; {ignored} other file{'s' * (ignored != 1)} ignored" if ignored else ""
    if align_note.startswith("alignment skipped"):
        note += f"; {align_note}"
    elif ns.align is not False:
        note += f"; {aligned} face{'s' * (aligned != 1)} aligned"
    print(f"translated {done} photo{'s' * (done != 1)} to {out_dir} ({setting}); skipped {skipped}{note}")
    return 0 if done else 2


def _rendered(ns: argparse.Namespace, g: Any, renderer: Any,
              recipes: list) -> Iterator[tuple[Any, str | None]]:
    """Each recipe's (image, None) or (None, why), in order: rendered here one by one, or (--ray) on the
    cluster in chunks (the photos travel with them when the cluster spans machines)."""
    if ns.ray is None:
        for recipe in recipes:
            frame = renderer.render(g, recipe)
            yield (frame.image, None) if frame.ok else (None, frame.error)
        return
    from studio.cli.cluster import cluster_frames
    from studio.distributed.frames import each_on_cluster

    if not recipes:
        return
    with cluster_frames(ns, g, Path(recipes[0].model.path)) as frames:
        for item in each_on_cluster(frames, recipes, ship_photos=frames.cluster.other_machines):
            if item is not None:
                yield item
