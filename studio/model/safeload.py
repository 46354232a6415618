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

from studio.errors import CheckpointError


# Plain data containers training scripts pickle beside the weights (rosinality's train.py saves its argparse
# options as "args"); unpickling one only sets attributes, so it is safe to allow.
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


def load_torch(path: str | Path) -> Any:
    """torch.load with weights_only=True, mapping failures to one clear message."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)), warnings.catch_warnings():
            # raw pickles (NVlabs snapshots) make torch warn about their protocol before refusing them
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        # torch's first line suggests weights_only=False (running the file's code); name the culprit instead
        msg = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported global" in ln), "")
        if not msg:  # a raw (non-zip) pickle torch stops reading early: list what it would import instead
            names = _pickle_globals(path)
            msg = ("it refers to " + ", ".join(names[:3])) if names else (lines[0] if lines else "unknown objects")
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(f"{path.name} contains pickled Python objects that are not plain weights; "
                                  f"refusing to execute them ({msg[:200]})") from None
        raise CheckpointError(f"{path.name} is truncated or corrupt ({msg[:200]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, struct.error, UnicodeDecodeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        if _is_cut_zip(path):
            first = "the zip archive inside it is incomplete (was the download or copy interrupted?)"
        raise CheckpointError(f"{path.name} is truncated or corrupt: {first[:200]}") from None


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
    return head == b"PK\x03\x04" and not zipfile.is_zipfile(path)


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
        return json.loads(raw)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def load_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and the studio's JSON config (stored in the header metadata under 'latent_studio')."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    header = read_safetensors_header(path)
    if header is None:
        raise CheckpointError(f"{path.name} is not a safetensors file")
    meta = header.get("__metadata__") or {}
    try:
        config = json.loads(meta.get(SAFETENSORS_META_KEY, "{}"))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path.name} has an unreadable Latent Studio config in its metadata") from None
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is truncated or corrupt: {str(exc)[:200]}") from None
    return tensors, config


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
