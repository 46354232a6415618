"""`latent-studio`: the GUI with no arguments, or the same engine headless (`info`, `render`).

Errors the user can act on end as one line on stderr and exit status 2; nothing half-written is left
behind, and nothing existing is overwritten without --force. Qt is imported only to open the GUI.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from studio.errors import StudioError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio.core.recipe import Recipe
    from studio.model.api import Generator

PROG = "latent-studio"
COMMANDS = ("info", "render")
EXIT_USER_ERROR = 2
EXIT_UNEXPECTED = 1
MAX_SEEDS = 4096  # a contact sheet larger than this is a typo, not a request


class UsageError(StudioError):
    """Bad arguments or files given on the command line."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (with a pointer to --help) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- entry point ------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        if not args or (len(args) == 1 and not args[0].startswith("-") and args[0] not in COMMANDS):
            return _open_gui(args[0] if args else None)
        try:
            ns = build_parser().parse_args(args)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        return int(ns.func(ns) or 0)
    except (StudioError, OSError) as exc:
        if debug:
            traceback.print_exc()
        _say(_one_line(exc))
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `latent-studio info x --json | head`: the reader left, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _say(f"unexpected {type(exc).__name__}: {_one_line(exc)} (rerun with --debug to see the traceback)")
        return EXIT_UNEXPECTED


def build_parser() -> argparse.ArgumentParser:
    from studio import __version__

    p = _Parser(prog=PROG, description="Explore and edit GAN latent spaces. With no command (or just a "
                "checkpoint path) the desktop app opens.",
                epilog="Add --debug anywhere to see the full traceback of an error.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    info = sub.add_parser("info", help="describe a checkpoint: family, resolution, latent, layers",
                          description="Describe a checkpoint (loads it and runs one tiny forward pass).")
    info.add_argument("checkpoint", metavar="CKPT", help="checkpoint file")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="cpu",
                      help="device for the forward pass (default: cpu)")
    info.set_defaults(func=cmd_info)

    r = sub.add_parser("render", help="render a seed, a recipe, or a contact sheet of seeds to an image",
                       description="Render one image, or a contact sheet of many seeds, to a file.",
                       epilog="examples: render netG.pth --seed 3 --truncation 0.7 --out a.png | "
                              "render --recipe r.json --out a.png | "
                              "render netG.pth --seeds 0-15 --grid 4x4 --scale 2 --out sheet.png")
    r.add_argument("checkpoint", metavar="CKPT", nargs="?", help="checkpoint file (or give --recipe)")
    r.add_argument("--recipe", type=Path, help="recipe JSON (one recipe, or a list for a contact sheet)")
    r.add_argument("--model", type=Path, help="checkpoint to use instead of the one the recipe names")
    r.add_argument("--seed", type=int, help="latent seed (default 0, or the recipe's)")
    r.add_argument("--seeds", type=parse_seeds, metavar="SPEC",
                   help="many seeds for a contact sheet: ranges and lists such as 0-15 or 0-3,7,9")
    r.add_argument("--truncation", type=float, metavar="PSI", help="pull toward the mean latent (1 = none)")
    r.add_argument("--grid", type=parse_grid, metavar="COLSxROWS",
                   help="contact-sheet layout, e.g. 4x4 (without --seeds: consecutive seeds from --seed)")
    r.add_argument("--scale", type=_positive_int, default=1, metavar="N",
                   help="integer nearest-neighbour upscale")
    r.add_argument("--out", "-o", type=Path, required=True, help="image to write (.png, .jpg, .webp, ...)")
    r.add_argument("--save-recipe", type=Path, metavar="JSON", help="also write the recipe(s) rendered")
    r.add_argument("--force", "-f", action="store_true", help="overwrite existing output files")
    r.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="compute device (default: auto = cuda > mps > cpu, or $LATENT_STUDIO_DEVICE)")
    r.set_defaults(func=cmd_render)
    return p


# -- argument types ------------------------------------------------------------------------------------
def parse_seeds(spec: str) -> list[int]:
    """'0-3,7,9' -> [0, 1, 2, 3, 7, 9]; order kept, so a sheet shows seeds in the order asked."""
    seeds: list[int] = []
    for part in spec.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise argparse.ArgumentTypeError(f"bad seed list {spec!r}: use numbers and ranges like 0-15 "
                                             f"or 0-3,7,9")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise argparse.ArgumentTypeError(f"bad seed range {part!r}: the end is below the start")
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


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"must be between 1 and 64, got {n}")
    return n


# -- gui -----------------------------------------------------------------------------------------------
def _open_gui(path: str | None) -> int:
    if path is not None and not Path(path).expanduser().exists():
        raise UsageError(f"{path!r} is neither a command ({', '.join(COMMANDS)}) nor an existing file")
    try:
        from studio.ui.app import run_app
    except ImportError as exc:
        raise UsageError(f"the desktop app cannot start: {exc}. The headless commands "
                         f"({', '.join(COMMANDS)}) still work") from None
    return int(run_app(sys.argv, path) or 0)


# -- info ------------------------------------------------------------------------------------------------
def cmd_info(ns: argparse.Namespace) -> int:
    path = _existing_file(Path(ns.checkpoint), "checkpoint")
    g = _load(path, ns.device)
    report = describe_model(g, path)
    if ns.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_info(report))
    return 0


def describe_model(g: "Generator", path: Path) -> dict[str, Any]:
    """Everything `info` prints, as plain data (the --json output)."""
    info = g.info.to_dict()
    layers = [{"name": name, "shape": list(shape)} for name, shape in stage_shapes(g)]
    return {"path": str(path.resolve()), "sha256": _sha256(g, path), "device": str(g.device),
            **info, "layers": layers}


def stage_shapes(g: "Generator") -> list[tuple[str, tuple[int, ...]]]:
    """Each stage's output shape without the batch axis, from one forward pass of seed 0."""
    import torch

    from studio.core.recipe import ModelRef, Recipe, SeedLatent

    ctx = g.context([Recipe(ModelRef(""), SeedLatent(0))])
    out: list[tuple[str, tuple[int, ...]]] = []
    x = None
    with torch.inference_mode():
        for stage in g.stages:
            x = stage(x, ctx)
            out.append((stage.name, tuple(int(s) for s in x.shape[1:])))
    return out


def format_info(d: dict[str, Any]) -> str:
    res = d["resolution"]
    rows = [
        ("file", d["path"]),
        ("name", d.get("name") or "-"),
        ("family", d["family"]),
        ("format", d["format"]),
        ("resolution", f"{res}x{res}, {d['channels']} channel{'s' if d['channels'] != 1 else ''}"),
        ("z_dim", str(d["z_dim"])),
        ("prior", d["prior"]),
    ]
    if d.get("w_dim"):
        rows.append(("w_dim", f"{d['w_dim']} ({d['num_ws']} style inputs)"))
    if d.get("c_dim"):
        rows.append(("c_dim", str(d["c_dim"])))
    if d.get("attributes"):
        rows.append(("attributes", ", ".join(d["attributes"])))
    rows += [("capabilities", ", ".join(d["capabilities"]) or "-"), ("sha256", d["sha256"]),
             ("layers", str(len(d["layers"])))]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    name_w = max((len(layer["name"]) for layer in d["layers"]), default=0)
    for layer in d["layers"]:
        lines.append(f"  {layer['name']:<{name_w}}  {' x '.join(str(s) for s in layer['shape'])}")
    return "\n".join(lines)


# -- render ----------------------------------------------------------------------------------------------
def cmd_render(ns: argparse.Namespace) -> int:
    from PIL import Image

    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.render.engine import Renderer

    if ns.seed is not None and ns.seeds is not None:
        raise UsageError("give --seed or --seeds, not both")
    if ns.checkpoint and ns.model and Path(ns.checkpoint) != ns.model:
        raise UsageError("give the checkpoint either as CKPT or as --model, not two different ones")
    fmt = _image_format(ns.out)
    _check_writable(ns.out, ns.force)
    if ns.save_recipe is not None:
        if ns.save_recipe.suffix.lower() not in (".json", ""):
            raise UsageError(f"--save-recipe writes JSON; {ns.save_recipe.name} looks like another kind "
                             f"of file")
        if ns.save_recipe.expanduser().resolve() == ns.out.expanduser().resolve():
            raise UsageError("--out and --save-recipe name the same file")
        _check_writable(ns.save_recipe, ns.force)

    model_override = ns.model or (Path(ns.checkpoint) if ns.checkpoint else None)
    if ns.recipe is not None:
        base = read_recipes(ns.recipe)
    elif model_override is None:
        raise UsageError("nothing to render: give a checkpoint (CKPT) or --recipe")
    else:
        base = [Recipe(ModelRef(""), SeedLatent(0))]
    if model_override is None and not base[0].model.path:
        raise UsageError(f"{ns.recipe.name} names no model; give one with --model")
    model_path = _existing_file(model_override or Path(base[0].model.path), "checkpoint")
    if len({r.model.path for r in base}) > 1 and model_override is None:
        raise UsageError(f"{ns.recipe.name} mixes recipes of several models; render one model at a time")

    recipes = _apply_overrides(base, ns)
    if ns.grid is not None:
        cols, rows = ns.grid
        if len(recipes) > cols * rows:
            raise UsageError(f"grid {cols}x{rows} holds {cols * rows} images but {len(recipes)} "
                             f"were asked for")
    g = _load(model_path, ns.device)
    ref = ModelRef(str(model_path.resolve()), g.model_id)
    if ns.recipe is not None and model_override is None:
        stale = {r.model.sha256 for r in base} - {"", g.model_id}
        if stale:
            print(f"{PROG}: warning: {model_path.name} has changed since the recipe was saved "
                  f"(sha256 differs); rendering it anyway", file=sys.stderr)
    recipes = [_with_model(r, ref) for r in recipes]

    renderer = Renderer()
    if len(recipes) == 1 and ns.grid is None:
        frame = renderer.render(g, recipes[0])
        if not frame.ok:
            raise StudioError(f"rendering failed: {frame.error}")
        image = frame.image
    else:
        cols, rows = ns.grid or _auto_grid(len(recipes))
        image = contact_sheet(renderer.render_batch(g, recipes), cols, rows)
    assert image is not None
    image = upscale(image, ns.scale)
    write_atomic(ns.out, ns.force, lambda f: Image.fromarray(image).save(f, format=fmt))
    if ns.save_recipe is not None:
        text = recipes[0].to_json() if len(recipes) == 1 else \
            json.dumps([r.to_dict() for r in recipes], indent=2)
        write_atomic(ns.save_recipe, ns.force, lambda f: f.write(text.encode() + b"\n"))
    h, w = image.shape[:2]
    what = "1 image" if len(recipes) == 1 else f"{len(recipes)} images"
    print(f"wrote {ns.out} ({w}x{h}, {what})")
    return 0


def read_recipes(path: Path) -> list["Recipe"]:
    """One recipe, or a JSON list of them; a relative model path is taken relative to the recipe file."""
    from dataclasses import replace

    from studio.core.recipe import Recipe
    from studio.errors import RecipeError

    path = _existing_file(path, "recipe")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecipeError(f"{path.name} is not a text (JSON) recipe file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
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


# -- files -----------------------------------------------------------------------------------------------
def write_atomic(path: Path, force: bool, write: Any) -> None:
    """Write through a temporary name beside `path`, then move it in place: a crash leaves no half file.

    Without `force` the final step is a hard link, which fails if `path` appeared meanwhile, so an
    existing file is never replaced.
    """
    path = path.expanduser()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise UsageError(f"{path} already exists (use --force to overwrite)") from None
            except OSError:  # a file system without hard links
                if path.exists():
                    raise UsageError(f"{path} already exists (use --force to overwrite)") from None
                os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _check_writable(path: Path, force: bool) -> None:
    """Fail before any work when the output cannot be written (so no render is wasted)."""
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name to write")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist")


def _image_format(path: Path) -> str:
    from PIL import Image

    ext = path.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(f"cannot tell the image format of {path.name!r}: use an extension such as "
                         f".png, .jpg or .webp")
    return fmt


def _existing_file(path: Path, what: str) -> Path:
    p = path.expanduser()
    if not p.exists():
        raise UsageError(f"no such {what} file: {path}")
    if p.is_dir():
        raise UsageError(f"{path} is a folder, not a {what} file")
    return p


def _load(path: Path, device: str) -> "Generator":
    from studio.render.engine import ModelCache

    return ModelCache(_device(device)).get(path)


def _device(name: str) -> "torch.device":
    import torch

    from studio.render.device import select_device

    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UsageError("the Apple GPU (mps) was requested but is not available here")
    try:
        return select_device(name)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None


def _sha256(g: "Generator", path: Path) -> str:
    if re.fullmatch(r"[0-9a-f]{64}", g.model_id or ""):
        return g.model_id
    from studio.model.probe import Probe

    return Probe(path).sha256


# -- output ----------------------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text


def _say(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
