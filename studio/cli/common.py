"""What every `latent-studio` command shares: its one-line errors, safe file writes, loading models."""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from studio.errors import StudioError
from studio.files import regular_file

if TYPE_CHECKING:
    import torch

    from studio.model.api import Generator

PROG = "latent-studio"
DEVICES = ("auto", "cpu", "cuda", "mps")


class UsageError(StudioError):
    """Bad arguments or files given on the command line."""


def parse_range(part: str, what: str) -> tuple[int, int] | None:
    """'3-7' -> (3, 7) and '5' -> (5, 5): an inclusive range of non-negative integers, as typed; None when
    `part` is not a range at all (the caller knows how to word that), an error when it runs backwards."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", part)
    if m is None:
        return None
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if hi < lo:
        raise argparse.ArgumentTypeError(f"bad {what} {part!r}: the end is below the start")
    return lo, hi


def bounded(kind: type, lo: float, hi: float, *, above: bool = False,
            rule: str | None = None) -> Callable[[str], Any]:
    """An argparse type: a whole number (`kind` int) or a finite number (float) from lo (or, `above`, just
    over it) to hi, with a one-line message naming the rule."""
    noun = "a whole number" if kind is int else "a number"
    rule = rule or (f"must be above {lo} and at most {hi}" if above else f"must be between {lo} and {hi}")

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not (math.isfinite(v) and (lo < v if above else lo <= v) and v <= hi):
            raise argparse.ArgumentTypeError(f"{rule}, got {v if kind is int else text}")
        return v

    return parse


positive_int = bounded(int, 1, 64)  # scales, batch sizes, grid sides


def write_atomic(path: Path, force: bool, write: Any) -> None:
    """Write one file through a temporary name beside `path`, then move it in place (studio.export.safe):
    a crash leaves no half file, and an existing file is replaced only with `force`."""
    from studio.atomic import write_atomic as write_file

    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    path = path.expanduser()
    try:
        write_file(path, to_file, replace=force)
    except FileExistsError:
        raise UsageError(f"{path} already exists (use --force to overwrite)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_writable(path: Path, force: bool) -> None:
    """Fail before any work when the output cannot be written (so no render is wasted)."""
    from studio.export.safe import check_target

    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name to write")
    check_target(path, force)


def image_format(path: Path) -> str:
    from PIL import Image

    ext = path.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(f"cannot tell the image format of {path.name!r}: use an extension such as "
                         f".png, .jpg or .webp")
    return fmt


def existing_file(path: Path | str, what: str) -> Path:
    """The file the user named; for a checkpoint, `demo:NAME` names a bundled demo (studio.bundled)."""
    if what == "checkpoint" and str(path).startswith("demo:"):
        from studio.bundled import resolve_demo

        try:
            return resolve_demo(path)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"no such {what} file: {path}")
    if p.is_dir():
        from studio.model.registry import pretrained_file

        inner = pretrained_file(p) if what == "checkpoint" else None  # a from_pretrained folder (BigGAN)
        if inner is None:
            raise UsageError(f"{path} is a folder, not a {what} file")
        p = inner
    return regular_file(p, what, UsageError)  # a FIFO or a device would block the command's first read


def add_backend_option(p: Any) -> None:
    p.add_argument("--backend", choices=("torch", "onnx", "auto"), default="torch",
                   help="runtime: torch, ONNX Runtime (exported once and verified), or auto (the faster "
                        "one for this model and batch size, timed once and remembered); default torch")


def add_precision_option(p: Any) -> None:
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"), default="fp32",
                   help="number format: fp32 (default: exactly what the recipe renders in the studio's "
                        "exports), bf16 (faster where the CPU or GPU computes it natively), fp16 (CUDA), "
                        "auto (bf16 where native and within 40 dB PSNR of fp32, else fp32)")


def load_model(path: Path, device: str, backend: str = "torch", batch: int = 1,
               picks: Sequence[str] = ()) -> "Generator":
    """The model on `device`, run by `backend` (for "auto": the runtime faster at `batch`); why it stayed
    on torch (or fell back to another ONNX Runtime provider) goes to stderr, one line each. `picks` are
    --pick NAME=VALUE settings among the model's choices (a progressive GAN's scale, fade-in alpha)."""
    from studio.render.engine import ModelCache

    models = ModelCache(resolve_device(device), backend=backend)
    g = models.get(path, batch)
    for note in models.notes:
        print(f"note: {note}", file=sys.stderr)
    if picks:
        from studio.errors import RecipeError
        from studio.model.choices import parse_picks

        try:
            g = g.choose(**parse_picks(picks))
        except (ValueError, RecipeError) as exc:
            raise UsageError(str(exc)) from None
    return g


def add_pick_option(p: Any) -> None:
    """--pick NAME=VALUE, repeatable: a setting among those `info` lists under the model's choices."""
    p.add_argument("--pick", action="append", default=[], metavar="NAME=VALUE",
                   help="pick a setting the checkpoint holds several of (repeatable; `info` lists them), "
                        "e.g. --pick scale=2 --pick alpha=0.5 for a progressive GAN")


def resolve_device(name: str) -> "torch.device":
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


def sha256_of(g: "Generator", path: Path) -> str:
    if re.fullmatch(r"[0-9a-f]{64}", g.model_id or ""):
        return g.model_id
    from studio.model.probe import Probe

    return Probe(path).sha256


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text


def say(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def add_condition_options(p: Any) -> None:
    """--class / --condition for class-conditional models (render, walk, mix)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--class", dest="class_index", type=int, metavar="N",
                       help="class-conditional models: draw class N (one-hot; `info` lists the classes)")
    group.add_argument("--condition", type=parse_condition, metavar="V,V,...",
                       help="conditional models: the raw condition vector, one number per model input")


def parse_condition(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad condition {text!r}: use numbers separated by commas, "
                                         f"e.g. 0,0,1,0") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"bad condition {text!r}: every value must be a finite number")
    return values


def with_condition(recipes: list[Any], ns: argparse.Namespace, g: "Generator", name: str) -> list[Any]:
    """The recipes with the condition the command line asked for; a note when a conditional model gets none.

    Without --class the all-zero condition is silently no class at all, which users read as "class 0".
    """
    from dataclasses import replace

    from studio.core.recipe import class_condition
    from studio.errors import RecipeError

    c_dim = g.info.c_dim
    index, values = getattr(ns, "class_index", None), getattr(ns, "condition", None)
    if index is None and values is None:
        if c_dim and not any(any(r.condition) for r in recipes):
            print(f"note: {name} is class-conditional ({c_dim} classes) and no class was given: rendering "
                  f"with an all-zero condition (pick one with --class 0-{c_dim - 1})", file=sys.stderr)
        return recipes
    if not c_dim:
        flag = "--class" if index is not None else "--condition"
        raise UsageError(f"{flag} needs a conditional model; {name} ({g.info.family}) takes no condition")
    if values is not None and len(values) != c_dim:
        raise UsageError(f"--condition has {len(values)} values but {name} takes {c_dim}")
    try:
        cond = class_condition(index, c_dim) if index is not None else values
    except RecipeError as exc:
        raise UsageError(f"--class: {exc}") from None
    return [replace(r, condition=cond) for r in recipes]
