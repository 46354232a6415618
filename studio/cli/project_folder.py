"""`latent-studio project FOLDER --out RECIPES/`: every photo in a folder projected, one recipe per photo,
here one after another or (--ray) one task per photo on a Ray cluster.

As with `translate`, the input folder is never written, nothing existing is replaced without --force (and
then only recipes the studio wrote), and a photo that cannot be read or projected costs one line and a
skip, not the batch.
"""
from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path
from typing import Any, Iterator

from studio.cli.common import UsageError, existing_file, load_model, write_atomic
from studio.errors import StudioError


def plan(photos: list[Path], out_dir: Path) -> list[Path]:
    """One recipe per photo, named after it; a second photo of the same stem keeps its extension."""
    used: set[str] = set()
    outs = []
    for p in photos:
        name = f"{p.stem}.json" if f"{p.stem}.json".lower() not in used else f"{p.name}.json"
        used.add(name.lower())
        outs.append(out_dir / name)
    return outs


def cmd_project_folder(ns: argparse.Namespace) -> int:
    from studio.cli.cluster import check_ray
    from studio.cli.translate import PHOTO_SUFFIXES, check_folders
    from studio.export.ownership import name_list, studio_made
    from studio.render.projection import check_space
    from studio.render.projection_options import DEFAULT_STEPS

    in_dir, out_dir = Path(ns.photo).expanduser(), ns.out.expanduser()
    if ns.video is not None or getattr(ns, "pti", None) is not None:
        raise UsageError("--video and --pti project one photo; give a photo, not a folder")
    if out_dir.suffix.lower() == ".json":
        raise UsageError(f"--out {ns.out}: with a folder of photos, --out is a folder for one recipe per "
                         f"photo")
    check_folders(in_dir, out_dir)
    check_ray(ns)
    photos = sorted(p for p in in_dir.iterdir() if p.is_file() and not p.name.startswith(".")
                    and p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise UsageError(f"{in_dir} holds no photos (JPEG, PNG or WebP)")
    outs = plan(photos, out_dir)
    existing = [o for o in outs if o.exists() or o.is_symlink()]
    if existing and not ns.force:
        more = f" and {len(existing) - 1} more already exist" if len(existing) > 1 else " already exists"
        raise UsageError(f"{existing[0]}{more} (use --force to overwrite)")
    foreign = [o.name for o in existing if not studio_made(o)]
    if foreign:
        raise UsageError(f"refusing to overwrite files in {out_dir} that Latent Studio did not write "
                         f"({name_list(foreign)}); move them or choose another --out folder")

    path = existing_file(ns.model, "checkpoint")
    g = load_model(path, ns.device)
    condition: tuple[float, ...] = tuple(ns.condition or ())
    if getattr(ns, "class_index", None) is not None:
        from studio.core.recipe import class_condition

        condition = class_condition(ns.class_index, g.info.c_dim)
    steps = ns.steps or DEFAULT_STEPS
    space = ns.space or ("w+" if g.has_w else "z")
    check_space(g, space, ns.noise)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out_dir}: {exc.strerror or exc}") from None

    from studio.core.photo import open_photo
    from studio.render.align import prepare_photo

    planned: list[tuple[Path, Path, Any]] = []  # (photo, recipe file, the image to project or why not)
    for photo, out in zip(photos, outs):
        try:
            planned.append((photo, out, prepare_photo(open_photo(photo), g.info, ns.align)[0]))
        except StudioError as exc:
            planned.append((photo, out, StudioError(str(exc))))
    options = {"seed": ns.seed, "loss": ns.loss, "noise": ns.noise}
    images = [im for _, _, im in planned if not isinstance(im, StudioError)]
    results = _projected(ns, g, path, images, space, steps, condition, options)
    done = skipped = 0
    with closing(results):
        for photo, out, image in planned:
            answer, error = (None, str(image)) if isinstance(image, StudioError) else next(results)
            if answer is None:
                skipped += 1
                print(f"skipped {photo.name}: {error}", file=sys.stderr)
                continue
            recipe, psnr, ran, seconds = answer
            write_atomic(out, ns.force, lambda f, r=recipe: f.write(r.to_json().encode()))
            done += 1
            if not ns.quiet:
                print(f"{out}: {space} latent of {photo.name}, PSNR {psnr:.2f} dB after {ran} steps "
                      f"({seconds:.1f} s)", file=sys.stderr)
    print(f"projected {done} photo{'s' * (done != 1)} into {out_dir} ({space}, {steps} steps); "
          f"skipped {skipped}")
    return 0 if done else 2


def _projected(ns: argparse.Namespace, g: Any, path: Path, images: list, space: str, steps: int,
               condition: tuple[float, ...], options: dict[str, Any]) -> Iterator[tuple[Any, str | None]]:
    """Each image's ((recipe, psnr, steps, seconds), None) or (None, why), in order: here, or on --ray's
    cluster one task per photo."""
    if ns.ray is None:
        from studio.render.projection import project

        for image in images:
            try:
                r = project(g, image, space, steps, condition=condition, align=False, **options)
            except StudioError as exc:
                yield None, str(exc)
                continue
            yield (r.recipe(g, path, condition), r.psnr, r.steps, r.seconds), None
        return
    if not images:
        return
    from studio.cli.cluster import cluster_frames
    from studio.distributed.projection import project_on_cluster

    with cluster_frames(ns, g, path) as frames:
        for item in project_on_cluster(frames, images, space, steps, condition, options):
            if item is not None:
                yield item
