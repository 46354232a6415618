"""`latent-studio project`: a photo projected into a model's latent space, saved as a recipe; and
`latent-studio latent import|export`: external latent files (.npy / .npz / .pt) to and from recipes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from studio.cli.common import (DEVICES, UsageError, add_condition_options, bounded, check_writable, existing_file,
                               load_model, write_atomic)
from studio.render.projection_options import DEFAULT_STEPS, LOSSES

MAX_STEPS = 100_000


def register(sub: Any) -> None:
    p = sub.add_parser("project", help="find the latent of a photo (projection), saved as a recipe",
                       description="Project a photo into a generator's latent space by optimisation "
                                   "(multi-scale pixel + gradient loss), so every edit applies to it: W then "
                                   "W+ for StyleGAN2/3, z (with a norm prior) for models with a z input.",
                       epilog="example: project me.png --model demo:stylegan2 --space w+ --steps 200 "
                              "--out me.json, then `render me.json`")
    p.add_argument("photo", metavar="PHOTO", help="the photo (PNG, JPEG, WebP): its face aligned (see --align), "
                   "else its centred square; or a folder of photos (--out: a folder, one recipe per photo)")
    p.add_argument("--model", "-m", required=True, metavar="CKPT", help="the generator's checkpoint")
    p.add_argument("--space", choices=("w", "w+", "z"), default=None,
                   help="latent space to project into (default: w+ where the model has W, else z)")
    p.add_argument("--steps", type=bounded(int, 1, MAX_STEPS), default=None, metavar="N",
                   help=f"optimisation steps (default {DEFAULT_STEPS})")
    p.add_argument("--seed", type=bounded(int, 0, 2 ** 31 - 1), default=0, help="seed of the schedule's noise")
    p.add_argument("--loss", choices=LOSSES, default=LOSSES[0],
                   help="what is minimised: pixel = multi-scale pixel + image-gradient loss (the only one: no "
                        "perceptual network ships here and the bundled checkpoints carry no discriminator)")
    p.add_argument("--noise", action="store_true",
                   help="StyleGAN2: optimise the per-pixel noise maps too (kept in the recipe as data)")
    p.add_argument("--video", type=Path, default=None, metavar="OUT",
                   help="also write the optimisation as a video, photo beside estimate (.mp4, .gif, .webp, "
                        "or a folder name for PNG frames)")
    p.add_argument("--pti", type=bounded(int, 1, MAX_STEPS), default=None, metavar="N",
                   help="then tune the generator to the projection for N steps (pivotal tuning, StyleGAN2/3 "
                        "W / W+): the tuned weights go to --tuned, and the recipe names that file")
    p.add_argument("--tuned", type=Path, default=None, metavar="FILE.safetensors",
                   help="where --pti writes the tuned checkpoint (a new file; the model's own is never changed)")
    add_condition_options(p)
    p.add_argument("--align", action=argparse.BooleanOptionalAction, default=None,
                   help="turn, scale and shift the face to the model's training framing first (default: on "
                        "for face models; models of other domains are not aligned, and it says so)")
    p.add_argument("--out", "-o", type=Path, required=True, help="recipe to write (.json)")
    p.add_argument("--force", "-f", action="store_true", help="overwrite an existing output file")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--device", choices=DEVICES, default="auto", help="compute device (default: auto)")
    from studio.cli.cluster import add_ray_option

    add_ray_option(p, "folder's photos (one task per photo)")
    p.set_defaults(func=cmd_project)

    lat = sub.add_parser("latent", help="import or export latent files (.npy, .npz, .pt: z, W or W+)",
                         description="Turn another tool's latent file (the NVlabs projector's projected_w.npz, "
                                     "e4e / PTI .pt, InterFaceGAN .npy) into a recipe, or a recipe's latent "
                                     "into such a file. The space is inferred from the shape.")
    verbs = lat.add_subparsers(dest="verb", metavar="import|export", required=True)
    imp = verbs.add_parser("import", help="a latent file to a recipe")
    imp.add_argument("file", metavar="FILE", help=".npy, .npz or .pt holding z, w or W+")
    imp.add_argument("--model", "-m", required=True, metavar="CKPT")
    imp.add_argument("--space", choices=("z", "w", "w+"), default=None,
                     help="the file's space, where its shape cannot tell (z_dim == w_dim)")
    imp.add_argument("--index", type=bounded(int, 0, 10 ** 9), default=0,
                     help="which latent of a file holding several (default 0)")
    imp.add_argument("--out", "-o", type=Path, required=True, help="recipe to write (.json)")
    imp.add_argument("--force", "-f", action="store_true")
    imp.add_argument("--device", choices=DEVICES, default="auto")
    imp.set_defaults(func=cmd_import)
    exp = verbs.add_parser("export", help="a recipe's latent (walks applied) to a file")
    exp.add_argument("recipe", metavar="RECIPE", help="recipe .json")
    exp.add_argument("--model", "-m", required=True, metavar="CKPT")
    exp.add_argument("--out", "-o", type=Path, required=True, help=".npy, .npz (key w or z) or .pt")
    exp.add_argument("--force", "-f", action="store_true")
    exp.add_argument("--device", choices=DEVICES, default="auto")
    exp.set_defaults(func=cmd_export)


def _bar(done: int, total: int, text: str) -> None:
    width = 30
    fill = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} {text}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _json_out(path: Path, force: bool) -> None:
    if path.suffix.lower() != ".json":
        raise UsageError(f"--out {path}: a recipe is written as .json")
    check_writable(path, force)


def cmd_project(ns: argparse.Namespace) -> int:
    from studio.render.projection import check_space, project, target_tensor

    if Path(ns.photo).expanduser().is_dir():
        from studio.cli.project_folder import cmd_project_folder

        return cmd_project_folder(ns)
    if ns.ray is not None:
        raise UsageError("--ray projects a folder of photos, one per worker; one photo projects here")
    _json_out(ns.out, ns.force)
    if ns.video is not None and ns.video.expanduser().resolve() == ns.out.expanduser().resolve():
        raise UsageError("--video and --out name the same file")
    photo = existing_file(ns.photo, "photo")
    path = existing_file(ns.model, "checkpoint")
    g = load_model(path, ns.device)
    condition = tuple(ns.condition or ())
    if getattr(ns, "class_index", None) is not None:
        from studio.core.recipe import class_condition

        condition = class_condition(ns.class_index, g.info.c_dim)
    steps = ns.steps or DEFAULT_STEPS
    space = ns.space or ("w+" if g.has_w else "z")
    check_space(g, space, ns.noise)
    if ns.pti is not None:
        _check_tuned(ns, g, path, space)
    from studio.render.align import prepare_photo

    photo, _, note = prepare_photo(photo, g.info, ns.align)  # aligned here so --video shows the aligned photo
    video = None
    if ns.video is not None:
        from studio.export.projection_video import ProjectionVideo

        video = ProjectionVideo(ns.video.expanduser(), target_tensor(photo, g.info.resolution, g.info.channels),
                                steps, ns.force)

    def show(p) -> None:
        if video is not None:
            video.add(p.image)
        if not ns.quiet:
            _bar(p.done, p.total, f"{p.phase} PSNR {p.psnr:.1f} dB")

    try:
        result = project(g, photo, space, steps, progress=show, seed=ns.seed, condition=condition,
                         loss=ns.loss, noise=ns.noise, align=False)
        if video is not None:
            video.finish()
    except BaseException:
        if video is not None:
            video.abort()
        raise
    recipe = result.recipe(g, path, condition)
    tuned = ""
    if ns.pti is not None:
        from studio.render.pti import pivotal_tuning

        bar = None if ns.quiet else (lambda done, total, db: _bar(done, total, f"PTI PSNR {db:.1f} dB"))
        tm = pivotal_tuning(g, result, ns.tuned, ns.pti, ns.seed, bar)
        recipe = tm.recipe(recipe)
        tuned = f"; tuned model {ns.tuned} ({tm.psnr_before:.2f} -> {tm.psnr_after:.2f} dB, {tm.seconds:.1f} s)"
    write_atomic(ns.out, ns.force, lambda f: f.write(recipe.to_json().encode()))
    extra = (" and noise maps" if result.noise is not None else "") + tuned + \
        (f"; video {ns.video} ({video.frames} frames)" if video is not None else "")
    print(f"{ns.out}: {result.space} latent{extra}, PSNR {result.psnr:.2f} dB after {result.steps} steps "
          f"({result.seconds:.1f} s, {result.loss_name} loss){'; ' + note if note else ''}")
    return 0


def _check_tuned(ns: argparse.Namespace, g: Any, model: Path, space: str) -> None:
    """--pti's output can be written and is not the model's own file, before any step runs."""
    from studio.render.pti import tunable

    if ns.tuned is None:
        raise UsageError("--pti needs --tuned FILE.safetensors: where the tuned checkpoint is written")
    if ns.tuned.suffix.lower() != ".safetensors":
        raise UsageError(f"--tuned {ns.tuned}: the tuned checkpoint is written as .safetensors")
    if ns.tuned.expanduser().resolve() in (model.resolve(), ns.out.expanduser().resolve()):
        raise UsageError(f"--tuned {ns.tuned} names the model's own file or the recipe; give a new file")
    if space == "z":
        raise UsageError("--pti tunes to a W or W+ projection; use --space w+")
    tunable(g)
    check_writable(ns.tuned, ns.force)


def cmd_import(ns: argparse.Namespace) -> int:
    from studio.core.recipe import ModelRef, Recipe
    from studio.render.latent_files import read_latent

    _json_out(ns.out, ns.force)
    src = existing_file(ns.file, "latent")
    path = existing_file(ns.model, "checkpoint")
    g = load_model(path, ns.device)
    got = read_latent(src, g, ns.space, ns.index)
    recipe = Recipe(ModelRef(str(path), g.model_id), got.latent)
    write_atomic(ns.out, ns.force, lambda f: f.write(recipe.to_json().encode()))
    print(f"{ns.out}: {got.space} latent from {src.name}" + (f" ({got.note})" if got.note else ""))
    return 0


def cmd_export(ns: argparse.Namespace) -> int:
    from studio.core.recipe import Recipe
    from studio.render.latent_files import write_latent

    src = existing_file(ns.recipe, "recipe")
    recipe = Recipe.from_json(src.read_text(encoding="utf-8"))
    check_writable(ns.out, ns.force)
    g = load_model(existing_file(ns.model, "checkpoint"), ns.device)
    space = write_latent(ns.out, g, recipe)
    print(f"{ns.out}: {space} latent")
    return 0
