"""Loading weights without executing anything stored in the file.

torch.load runs with weights_only=True (an allow-list unpickler inside torch); safetensors holds no code
at all. Families whose formats pickle classes (NVlabs) build on RestrictedUnpickler.
"""
from __future__ import annotations

import argparse
import json
import pickle
import struct
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from studio.core import safe_json
from studio.errors import CheckpointError, clipped


# Plain data containers training scripts pickle beside the weights (rosinality's train.py saves its argparse
# options as "args"); unpickling one only sets attributes, so it is safe to allow.
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


def load_torch(path: str | Path, stand_ins: dict[str, type] | None = None) -> Any:
    """torch.load with weights_only=True, its zip members and every rebuilt tensor checked against the
    budgets (studio.model.claims), and any failure mapped to one CheckpointError sentence (torch's advice
    to allow-list globals or to turn weights_only off is never passed on).

    `stand_ins` maps a pickled class's full name ("models.utils.config.BaseConfig") to an inert attribute
    holder of the family's own, which torch's allow-list unpickler builds in its place (state set as
    attributes, nothing imported or run): for training scripts that pickle a plain config object."""
    from studio.model.claims import check_loaded

    path = Path(path)
    size = _check_zip_members(path)
    allowed = list(SAFE_GLOBALS) + [(cls, name) for name, cls in (stand_ins or {}).items()]
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            # raw pickles (NVlabs snapshots) make torch warn about their protocol before refusing them;
            # no warning of torch's may reach stderr ahead of the one-line error
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        text = str(exc)
        culprit = _culprit(text)
        if not culprit:  # a raw pickle torch stops reading early: list what it would import instead
            names = _pickle_globals(path)
            culprit = ", ".join(names[:3])
        if culprit or "Unsupported global" in text:
            from studio.model.module_pickle import refusal

            whole = refusal(path)  # torch.save(model): what it holds and the next step, read without running it
            if whole:
                raise CheckpointError(whole) from None
            raise CheckpointError(f"{path.name} contains pickled Python objects that are not plain weights "
                                  f"(it refers to {culprit or 'objects torch does not allow'}); refusing to "
                                  "execute them") from None
        raise CheckpointError(f"{path.name} is truncated or corrupt ({_first_plain_line(text)})") from None
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory than is free to load") from None
    except Exception as exc:  # torch's unpickler raises IndexError, TypeError, RuntimeError... on bad bytes
        first = _first_plain_line(str(exc)) or type(exc).__name__
        if _is_cut_zip(path):
            first = "the zip archive inside it is incomplete (was the download or copy interrupted?)"
        raise CheckpointError(f"{path.name} is truncated or corrupt: {first}") from None
    check_loaded(obj, path.name, size)
    return obj


def _culprit(text: str) -> str:
    """The global torch refused ('GLOBAL os.system was not an allowed global'), if it named one."""
    import re

    m = re.search(r"GLOBAL ([\w.]+)", text)
    return clipped(m.group(1), 120) if m else ""


def _first_plain_line(text: str) -> str:
    """torch's first line that is neither advice nor decoration, at most 160 characters."""
    advice = ("weights_only", "safe_globals", "add_safe_globals", "allowlist", "trust", "Please use",
              "Check the documentation", "\x1b[")
    for line in text.splitlines():
        line = line.strip()
        if line and not any(a in line for a in advice):
            return clipped(line, 160)
    return ""


def _check_zip_members(path: Path) -> int:
    """The file's size, after refusing a zip-format file whose members claim more than the weights budget
    (a zip bomb: deflated members torch would inflate in memory)."""
    import zipfile

    from studio import budgets

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc.strerror or type(exc).__name__}") from None
    if not is_zip(path):
        return size
    try:
        with zipfile.ZipFile(path) as z:
            claimed = sum(max(i.file_size, 0) for i in z.infolist())
    except Exception:  # BadZipFile, NotImplementedError (an unknown zip version), OSError, ...: damage
        return size  # torch reports the damage in its own words
    limit = budgets.weights_limit(size)
    if claimed > limit:
        raise budgets.refuse(CheckpointError, path.name, f"{budgets.human(claimed)} once unpacked",
                             f"{budgets.human(limit)} for a file of its size", "weights_per_file_byte")
    return size


def _pickle_globals(path: Path, limit: int = 1 << 20) -> list[str]:
    """Names a raw pickle imports (beyond torch's own), read from its opcodes in the first `limit` bytes
    without executing anything: the culprit to name when a file is refused."""
    import io
    import pickletools

    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return []
    found: list[str] = []
    strings: list[str | None] = []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name == "MEMOIZE":
                continue
            # STACK_GLOBAL takes the two strings pushed just before it (None: pushed some other way)
            strings.append(arg if isinstance(arg, str) and "UNICODE" in op.name else None)
            name = None
            if op.name == "GLOBAL":
                name = str(arg).replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 3 and None not in strings[-3:-1]:
                name = f"{strings[-3]}.{strings[-2]}"
            if name and not name.startswith(("torch.", "collections.")) and name not in found:
                found.append(name)
    except Exception:  # a cut or odd stream: keep what was read
        pass
    return found


def _is_cut_zip(path: Path) -> bool:
    """A zip-format torch file whose end (the central directory) is missing: the usual half-copied file."""
    import zipfile

    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head == b"PK\x03\x04" and not is_zip(path)


def is_zip(path: str | Path) -> bool:
    """zipfile.is_zipfile without its leak: a damaged end record (a zip64 locator naming other disks)
    raises BadZipFile from it instead of answering False."""
    import zipfile

    try:
        return zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


SAFETENSORS_META_KEY = "latent_studio"


def read_safetensors_header(path: str | Path) -> dict[str, Any] | None:
    """The JSON header of a safetensors file, or None when the file is not one (cheap: reads the header only)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return None
            (n,) = struct.unpack("<Q", head)
            if n <= 1 or n > 100_000_000:
                return None
            raw = f.read(n)
        if len(raw) < n or not raw.lstrip().startswith(b"{"):
            return None
        header = safe_json.loads(raw, Path(path).name, CheckpointError)
        return header if isinstance(header, dict) else None
    except (OSError, CheckpointError):
        return None


def load_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and the studio's JSON config (stored in the header metadata under 'latent_studio')."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    header = read_safetensors_header(path)
    if header is None:
        raise CheckpointError(f"{path.name} is not a safetensors file")
    config = studio_config(header, path.name)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path.name} is truncated or corrupt: {clipped(str(exc), 200)}") from None
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory than is free to load") from None
    return tensors, config


def studio_config(header: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """The Latent Studio config in a safetensors header ({} when it has none), parsed within the JSON
    budgets; CheckpointError when it is damaged or not an object."""
    meta = (header or {}).get("__metadata__") or {}
    raw = meta.get(SAFETENSORS_META_KEY, "{}") if isinstance(meta, dict) else "{}"
    config = safe_json.loads(raw, f"the Latent Studio config in {name}", CheckpointError)
    if not isinstance(config, dict):
        raise CheckpointError(f"the Latent Studio config in {name} is not an object")
    return config


def save_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
    """Write weights with the config in the header, through a temporary name so a crash leaves no half file."""
    from safetensors.torch import save_file

    from studio.atomic import write_atomic

    plain = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    write_atomic(path, lambda tmp: save_file(plain, str(tmp), metadata={SAFETENSORS_META_KEY: json.dumps(config)}))


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals and never imports or runs anything else.

    `allowed` maps (module, name) to the object to return, so a family can substitute its own inert
    stand-ins for pickled classes and rebuild networks from their recorded constructor arguments.
    """

    def __init__(self, file: Any, allowed: dict[tuple[str, str], Any],
                 persistent_load: Callable[[Any], Any] | None = None):
        super().__init__(file)
        self._allowed = allowed
        self._persistent = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise CheckpointError(f"checkpoint refers to {module}.{name}, which is not on the allow-list; "
                                  "refusing to load it") from None

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise CheckpointError("checkpoint uses persistent ids this format does not allow")
        return self._persistent(pid)
