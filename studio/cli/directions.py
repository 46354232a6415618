"""`latent-studio directions import|apply`: other tools' direction files (InterFaceGAN boundaries, GANSpace
components, SeFa eigenvectors) to `.lsdir` files in the right latent space, and a direction walked in a
recipe, refused when its space or size does not fit the model."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from studio.cli.common import DEVICES, UsageError, bounded, check_writable, existing_file, load_model, write_atomic

KINDS = ("interfacegan", "ganspace", "sefa")


def register(sub: Any) -> None:
    d = sub.add_parser("directions", help="import (InterFaceGAN, GANSpace, SeFa), apply, fit or sample directions",
                       description="Import another tool's directions for a model: the space (z, W, W+) comes "
                                   "from InterFaceGAN's / GANSpace's file naming (_w_boundary, _wp_boundary, _w) "
                                   "and the shape; where z and w have the same size and the name says nothing, "
                                   "--space must say.")
    verbs = d.add_subparsers(dest="verb", metavar="import|apply|labellers|sample|fit", required=True)
    imp = verbs.add_parser("import", help="a direction file to an .lsdir file for a model",
                           epilog="example: directions import age_w_boundary.npy --model ffhq.pkl --out age.lsdir")
    imp.add_argument("file", metavar="FILE", help="InterFaceGAN .npy, GANSpace .npz or SeFa .npy/.npz/.pt")
    imp.add_argument("--model", "-m", required=True, metavar="CKPT", help="the model the direction is for")
    imp.add_argument("--kind", choices=KINDS, default=None,
                     help="the file's tool (default: GANSpace for .npz holding lat_comp, SeFa for SeFa's "
                          "keys (boundaries, eigen_vectors, eigvec), else an InterFaceGAN boundary)")
    imp.add_argument("--space", choices=("z", "w", "w+"), default=None,
                     help="the direction's space, needed where z and w have the same size and the name says "
                          "nothing")
    imp.add_argument("--name", default=None, help="the direction's name (default: the file's stem)")
    imp.add_argument("--out", "-o", type=Path, required=True, help=".lsdir file to write")
    imp.add_argument("--force", "-f", action="store_true")
    imp.add_argument("--device", choices=DEVICES, default="auto")
    imp.set_defaults(func=cmd_import)
    app = verbs.add_parser("apply", help="walk a recipe along a saved direction (refused when it does not fit)")
    app.add_argument("recipe", metavar="RECIPE", help="recipe .json")
    app.add_argument("direction", metavar="DIR", help=".lsdir file")
    app.add_argument("--model", "-m", required=True, metavar="CKPT")
    app.add_argument("--row", type=bounded(int, 0, 10 ** 6), default=0, help="which vector of a set (default 0)")
    app.add_argument("--amount", type=float, required=True, help="latent units along the direction")
    app.add_argument("--other-model", action="store_true",
                     help="walk a direction made on another checkpoint of the same size anyway")
    app.add_argument("--out", "-o", type=Path, required=True, help="recipe .json to write")
    app.add_argument("--force", "-f", action="store_true")
    app.add_argument("--device", choices=DEVICES, default="auto")
    app.set_defaults(func=cmd_apply)
    from studio.cli.direction_fit import add_verbs

    add_verbs(verbs)  # labellers, sample, fit


def guess_kind(path: Path) -> str:
    """GANSpace for an .npz holding lat_comp, SeFa for one holding boundaries / eigen_vectors or a .pt holding
    eigvec, else an InterFaceGAN boundary (whose reader says what is wrong with a file that is none)."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError):
            return "interfacegan"
        if "lat_comp.npy" in names:
            return "ganspace"
        return "sefa" if names & {"boundaries.npy", "eigen_vectors.npy"} else "interfacegan"
    if suffix in (".pt", ".pth"):
        from studio.core.direction_library import load_weights_only
        from studio.errors import StudioError

        try:
            obj = load_weights_only(path, "a direction file")
        except StudioError:
            return "interfacegan"
        return "sefa" if isinstance(obj, dict) and "eigvec" in obj else "interfacegan"
    return "interfacegan"


def cmd_import(ns: argparse.Namespace) -> int:
    from studio.core.direction_library import SavedDirection, import_file, save_direction
    from studio.core.direction_spaces import AmbiguousDirectionSpace, ModelDims

    if ns.out.suffix != ".lsdir":
        raise UsageError(f"--out {ns.out}: directions are written as .lsdir")
    check_writable(ns.out, ns.force)
    src = existing_file(ns.file, "direction")
    path = existing_file(ns.model, "checkpoint")
    g = load_model(path, ns.device)
    kind = ns.kind or guess_kind(src)
    try:
        d = import_file(src, kind, ns.space, ModelDims.of(g.info))
    except AmbiguousDirectionSpace as exc:
        say = f"pass --space {' or --space '.join(exc.options)}"
        raise UsageError(str(exc).replace("choose the space", say)) from None
    d = SavedDirection(ns.name or d.name, d.vectors, d.space, d.source, g.model_id, path.name, d.layers,
                       d.created, d.stddev, d.explained, d.info)
    save_direction(d, ns.out)  # atomic: an existing file is replaced only by a whole new one
    print(f"{ns.out}: {len(d)} {kind} direction(s) in {d.describe_space()} ({d.dim} values) for {path.name}")
    return 0


def cmd_apply(ns: argparse.Namespace) -> int:
    from studio.core.direction_library import apply_direction, load_direction
    from studio.core.recipe import Recipe

    if ns.out.suffix.lower() != ".json":
        raise UsageError(f"--out {ns.out}: a recipe is written as .json")
    check_writable(ns.out, ns.force)
    recipe = Recipe.from_json(existing_file(ns.recipe, "recipe").read_text(encoding="utf-8"))
    d = load_direction(existing_file(ns.direction, "direction"))
    path = existing_file(ns.model, "checkpoint")
    g = load_model(path, ns.device)
    walked = apply_direction(recipe, d, ns.row, ns.amount, g.info, g.model_id, path.name, ns.other_model)
    g.context([walked])  # the model's own checks (sizes, layer ranges) before anything is written
    write_atomic(ns.out, ns.force, lambda f: f.write(walked.to_json().encode()))
    print(f"{ns.out}: {d.name} walked {ns.amount:+g} in {d.describe_space()}")
    return 0
