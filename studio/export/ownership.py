"""What proves that the studio wrote a file, so --force replaces only the studio's own output.

--force once replaced any folder of PNGs (a user's photos went) and any existing folder on `convert`. Now an
existing output is replaced only when something shows the studio made it: an export's sidecar naming the
file (and its size), the studio's mark in an image (EXIF Software "Latent Studio", or the recipe a saved PNG
carries), the studio's own JSON formats and safetensors metadata; a folder only when every entry in it is
such a file (or one its sidecar or manifest lists). Everything else is refused with the names it holds.
"""
from __future__ import annotations

import json
import re
import struct
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

from studio.core.project import PROJECT_FORMAT
from studio.errors import StudioError
from studio.export.png_recipe import RECIPE_TEXT_KEY  # the chunk of a PNG saved with its recipe (Save image)

MARK = "Latent Studio"       # EXIF Software (tag 0x0131) of every image the CLI writes
SOFTWARE_TAG = 0x0131
FRAME_NAME = re.compile(r"frame_(\d{4,})\.png")
# what file browsers leave in any folder they show; replacing it loses nothing
OS_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".directory"})
MAX_JSON = 256 * 1024 * 1024   # not read beyond this (safe_json's own size budget applies too)
MAX_HEADER = 64 * 1024 * 1024  # safetensors header
SHOWN = 5                      # foreign names listed in a refusal before "and N more"


class NotOurs(StudioError):
    """--force was asked to replace something the studio did not write; `foreign` names what is in the way."""

    def __init__(self, target: Path, foreign: list[str], folder: bool):
        self.target, self.foreign = target, foreign
        if folder:
            files = "file" if len(foreign) == 1 else "files"
            msg = (f"refusing to replace {target}: it holds {files} Latent Studio did not write "
                   f"({name_list(foreign)}); move them or choose another output")
        else:
            msg = (f"refusing to overwrite {target}: nothing shows Latent Studio wrote it (no export sidecar "
                   f"{target.name}.json naming it, no studio mark in the file); remove it yourself or choose "
                   f"another output")
        super().__init__(msg)


def name_list(names: list[str]) -> str:
    """The first few names, then how many more: 'a.jpg, b.png, c.txt, d, e and 12 more'."""
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def image_mark(fmt: str) -> dict[str, Any]:
    """Pillow save options that mark an image as the studio's (formats without EXIF get none)."""
    if fmt.upper() not in ("PNG", "JPEG", "WEBP", "TIFF"):
        return {}
    from PIL import Image

    exif = Image.Exif()
    exif[SOFTWARE_TAG] = MARK
    return {"exif": exif.tobytes()}


def empty_folder(path: Path) -> bool:
    """An existing folder with nothing in it: a fine output without --force."""
    try:
        return path.is_dir() and not path.is_symlink() and next(path.iterdir(), None) is None
    except OSError:
        return False


def studio_made(path: Path) -> bool:
    """Whether a regular file shows that the studio wrote it (see the module docstring)."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    if _sidecar_names(path):
        return True
    suffix = path.suffix.lower()
    if suffix == ".json":
        from studio.export.sidecar import SIDECAR_FORMAT  # (sidecar -> writers -> safe -> here)

        data = read_json(path)
        return isinstance(data, dict) and data.get("format") in (SIDECAR_FORMAT, PROJECT_FORMAT) \
            or _recipes(data)
    if suffix in (".safetensors", ".lsdir"):
        return _studio_safetensors(path)
    return _marked_image(path)


def foreign_files(folder: Path, own: Callable[[Path], bool]) -> list[str]:
    """Names in `folder` that `own` does not vouch for (folders and links never are), sorted."""
    out = []
    for p in sorted(Path(folder).iterdir()):
        if p.name in OS_LITTER and p.is_file() and not p.is_symlink():
            continue
        if p.is_symlink() or not p.is_file() or not own(p):
            out.append(p.name + ("/" if p.is_dir() and not p.is_symlink() else ""))
    return out


def sequence_files(folder: Path) -> Callable[[Path], bool]:
    """What an earlier PNG-sequence export left: its sidecar and the frames it lists, or marked frames."""
    from studio.export.sidecar import SIDECAR_FORMAT
    from studio.export.writers import SIDECAR_IN_FOLDER

    data = read_json(Path(folder) / SIDECAR_IN_FOLDER)
    ok = isinstance(data, dict) and data.get("format") == SIDECAR_FORMAT
    frames = data.get("frames") if ok else 0
    listed = frames if isinstance(frames, int) and not isinstance(frames, bool) else 0

    def own(p: Path) -> bool:
        if p.name == SIDECAR_IN_FOLDER:
            return ok
        m = FRAME_NAME.fullmatch(p.name)
        return m is not None and (int(m.group(1)) < listed or _marked_image(p))

    return own


def listed_files(names: Iterable[str]) -> Callable[[Path], bool]:
    """Own exactly these names (an ONNX folder's manifest and the graphs it lists)."""
    allowed = frozenset(names)
    return lambda p: p.name in allowed


def check_replaceable(target: Path, own: Callable[[Path], bool] | None = None) -> None:
    """NotOurs unless --force may replace `target`: a file the studio made, or a folder holding only files
    `own` (default: an exported PNG sequence) vouches for."""
    target = Path(target)
    if target.is_dir() and not target.is_symlink():
        try:
            foreign = foreign_files(target, own or sequence_files(target))
        except OSError as exc:
            raise NotOurs(target, [f"(unreadable: {exc.strerror or exc})"], True) from None
        if foreign:
            raise NotOurs(target, foreign, True)
    elif not studio_made(target):
        raise NotOurs(target, [target.name], False)


# -- proofs ---------------------------------------------------------------------------------------------
def read_json(path: Path) -> Any:
    """The JSON in `path` within safe_json's limits, or None (missing, unreadable, damaged)."""
    from studio.core import safe_json

    try:
        if not path.is_file() or path.stat().st_size > MAX_JSON:
            return None
        return safe_json.loads(path.read_bytes(), path.name)
    except (OSError, StudioError):  # unreadable, or JSON the studio would not have written
        return None


def _recipes(data: Any) -> bool:
    """A recipe file `render --save-recipe` writes: one recipe or a list of them."""
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(d, dict) for d in items):
        return False
    from studio.core.recipe import Recipe

    try:
        for d in items:
            Recipe.from_dict(d)
    except Exception:  # whatever a malformed recipe raises, it is not one the studio wrote
        return False
    return True


def _sidecar_names(path: Path) -> bool:
    """walk.mp4.json beside walk.mp4: an export sidecar naming the file (and its size, when recorded)."""
    from studio.export.sidecar import SIDECAR_FORMAT

    data = read_json(path.with_name(path.name + ".json"))
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT or data.get("target") != path.name:
        return False
    size = data.get("bytes")
    try:
        return size is None or size == path.stat().st_size
    except OSError:
        return False


def _marked_image(path: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a decompression-bomb warning: we read headers only
            with Image.open(path) as im:
                if im.getexif().get(SOFTWARE_TAG) == MARK:
                    return True
                return im.format == "PNG" and RECIPE_TEXT_KEY in im.info  # written before the image data
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError,
            EOFError, struct.error):
        return False
    return False


def _studio_safetensors(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                return False
            n = struct.unpack("<Q", head)[0]
            if n > MAX_HEADER:
                return False
            header = json.loads(f.read(n))
    except (OSError, ValueError, RecursionError):
        return False
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        return False
    return "latent_studio" in meta or str(meta.get("format", "")).startswith("latent-studio")
