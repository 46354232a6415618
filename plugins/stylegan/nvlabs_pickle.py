"""Reading NVlabs network pickles (stylegan2-ada-pytorch, stylegan3) without running anything in them.

Those pickles store each module as REDUCE(torch_utils.persistence._reconstruct_persistent_obj, (meta,)), where
meta carries the module's Python source, class name and __dict__. The official loader execs that source. We
resolve only an allow-list of globals: the persistence hook becomes an inert NVNode holding class name and
state (the source string is dropped unread), tensors come back through torch's weights-only loader, and the
network is rebuilt by convert.py from the recorded constructor kwargs and tensors.
"""
from __future__ import annotations

import collections
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latent_studio_plugins.stylegan.convert import NVNode
from studio.errors import CheckpointError, clipped
from studio.model.claims import TensorBudget
from studio.model.safeload import RestrictedUnpickler

MARKER = b"torch_utils.persistence"

# Every class a stylegan2-ada / stylegan3 snapshot holds (generator, discriminator, augmentation pipeline).
KNOWN_CLASSES = frozenset({
    "Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer",
    "FullyConnectedLayer", "Conv2dLayer", "SynthesisInput", "Discriminator", "DiscriminatorBlock",
    "DiscriminatorEpilogue", "MinibatchStdLayer", "AugmentPipe",
})


class EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict (a dict with attribute access; only the dict part matters here)."""


def _reconstruct_persistent_obj(meta: Any) -> NVNode:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("malformed NVlabs persistent object (expected a class record)")
    name = meta.get("class_name")
    if name not in KNOWN_CLASSES:
        raise CheckpointError(f"NVlabs pickle contains an unknown class {name!r}; refusing to load it "
                              "(its embedded source is never executed)")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"NVlabs {name} has no recorded state")
    return NVNode(str(name), state)


def _load_storage(data: bytes) -> Any:
    """torch.storage._load_from_bytes, but through torch's weights-only unpickler."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("malformed tensor storage in NVlabs pickle")
    try:
        with warnings.catch_warnings():  # a damaged stream makes torch warn (its protocol) before it fails
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad stream
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"unreadable tensor storage in NVlabs pickle: {clipped(first, 160)}") from None


def _checked_rebuild(budget: TensorBudget) -> Any:
    """torch._utils._rebuild_tensor_v2, refusing sizes and strides that claim more than the storage holds
    (a stride-0 view of a few bytes can claim gigabytes) before the view is made."""
    def rebuild(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
        if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)) or not _ints(offset) \
                or not isinstance(size, tuple) or not isinstance(stride, tuple) or len(size) != len(stride) \
                or not all(_ints(v) for v in (*size, *stride)):
            raise CheckpointError("malformed tensor record in NVlabs pickle")
        typed = isinstance(storage, torch.TypedStorage)  # (its methods warn of deprecation: read fields)
        itemsize = storage.dtype.itemsize if typed else 1
        held = (storage._untyped_storage if typed else storage).nbytes()
        budget.add_claim(size, stride, itemsize, max(held - offset * itemsize, 0))
        return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, *rest)
    return rebuild


def _ints(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _dtype(*args: Any) -> np.dtype:
    dt = np.dtype(*args)
    if dt.hasobject:
        raise CheckpointError("NVlabs pickle holds a numpy object array; refusing to load it")
    return dt


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    out: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "scalar")] = multiarray.scalar
        out[(mod, "_reconstruct")] = multiarray._reconstruct
    out[("numpy", "dtype")] = _dtype
    out[("numpy", "ndarray")] = np.ndarray
    return out


ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol 3 (Python 3.7, the 2020-21 official pickles) pickles sets this way
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    **_numpy_globals(),
}


def looks_like_nvlabs(head: bytes) -> bool:
    """Cheap sniff: a raw pickle stream that names the persistence hook early on (before any tensor data)."""
    return head[:1] == b"\x80" and MARKER in head


def read_head(path: Path, n: int = 1 << 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def load_nvlabs_pickle(path: str | Path) -> dict[str, Any]:
    """The snapshot dict with every module as an NVNode; CheckpointError for anything not allow-listed."""
    path = Path(path)
    try:
        budget = TensorBudget(path.name, path.stat().st_size)
        allowed = {**ALLOWED, ("torch._utils", "_rebuild_tensor_v2"): _checked_rebuild(budget)}
        with open(path, "rb") as f:
            data = RestrictedUnpickler(f, allowed).load()
    except CheckpointError as exc:
        raise CheckpointError(exc.args[0] if str(exc).startswith(path.name) else f"{path.name}: {exc}") \
            from None
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory than is free to load") from None
    except Exception as exc:  # a damaged stream makes pickle, numpy and torch raise many types
        first = clipped(str(exc), 160)
        raise CheckpointError(f"{path.name} is not a readable NVlabs network pickle (truncated or corrupt: "
                              f"{type(exc).__name__}{': ' + first if first else ''})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path.name} is a pickle but not an NVlabs network snapshot")
    return data


def generator_node(data: dict[str, Any], path: Path) -> NVNode:
    """G_ema (what the official tools run), else G."""
    for key in ("G_ema", "G"):
        node = data.get(key)
        if isinstance(node, NVNode):
            return node
    raise CheckpointError(f"{path.name} holds no generator (no G_ema or G entry)")
