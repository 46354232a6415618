"""A checkpoint file as plugins see it while sniffing: read once, shared by every plugin."""
from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any

from studio.errors import CheckpointError
from studio.model.safeload import is_zip, load_torch, read_safetensors_header


class Probe:
    """Lazy, cached views of one file, so N plugins sniffing it cost one read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.load_error: str | None = None  # why the file could not be read as torch data, when it could not
        self.notes: list[str] = []  # plugins' failures while sniffing, added to the "nothing reads it" message

    @cached_property
    def head(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read(64)

    @cached_property
    def size(self) -> int:
        return self.path.stat().st_size

    @cached_property
    def safetensors_header(self) -> dict[str, Any] | None:
        return read_safetensors_header(self.path)

    @property
    def looks_like_torch(self) -> bool:
        """Zip container (torch >= 1.6; a truncated one still starts with a zip local header, so it is
        reported as corrupt rather than as an unknown format) or legacy pickle stream (PROTO opcode)."""
        return self.head[:4] == b"PK\x03\x04" or is_zip(self.path) or self.head[:1] == b"\x80"

    @cached_property
    def _torch(self) -> Any:
        if not self.looks_like_torch:
            return None
        try:
            return load_torch(self.path)
        except CheckpointError as exc:
            self.load_error = str(exc)
            return None

    def torch_object(self) -> Any:
        """The object torch.load(weights_only=True) returns, or None when the file is not readable torch data."""
        return self._torch

    @cached_property
    def _module_tree(self) -> Any:
        from studio.model.module_pickle import looks_like_module_pickle, read_module_pickle

        if not self.looks_like_torch or self._torch is not None or not looks_like_module_pickle(self.path):
            return None
        try:
            return read_module_pickle(self.path, lazy=True)
        except (CheckpointError, RecursionError, MemoryError):  # not a tree plugins can use
            return None

    def module_tree(self) -> Any:
        """For a whole-module pickle (`torch.save(model)`, which torch_object() refuses): its modules as
        inert records with shape-only tensors (studio.model.module_pickle.ModuleTree), else None. Nothing
        in the file is run; `read_module_pickle(path)` reads the tensors."""
        return self._module_tree

    def state_dict(self, *prefer: str) -> dict[str, Any] | None:
        """A flat name->tensor dict: the file itself, or its first entry named in `prefer` that is one."""
        obj = self._torch
        if isinstance(obj, dict):
            for k in prefer:
                if isinstance(obj.get(k), dict):
                    return obj[k]
            if obj and all(isinstance(k, str) for k in obj) and any(hasattr(v, "shape") for v in obj.values()):
                return obj
        return None

    @cached_property
    def sha256(self) -> str:
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
