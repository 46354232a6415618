"""Saved directions: the `.lsdir` file format, the user's direction library, imports and model checks.

A direction file is a safetensors file (never a pickle) holding
  - tensor `vectors` (k, dim) float32, unit rows (one slider each), optional `stddev` (k,) and `explained` (k,);
  - metadata `format` = "latent-studio-direction", `version` = "1", and `meta`, a JSON object with
    name, space ("z", "w", "w+" or "act:<stage>", a layer's activations), source ("pca", "ganspace", "sefa", "interfacegan", "fitted:<attribute>",
    "arithmetic", "user"), model_sha256 and model_name (the checkpoint it was made on; "" = any), layers
    ([start, stop) style inputs, or null), created (ISO 8601 UTC) and info (free-form: accuracy, samples...).
A "w+" direction has num_ws * w_dim values (one W vector per style input) and walks as a W-space Walk.

Directions are tied to one model: a different checkpoint with the same dimensions has a different latent
geometry, so applying a direction made elsewhere is refused unless the user overrides it explicitly.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from studio import budgets
from studio.atomic import write_atomic
from studio.core import safe_json
from studio.core.direction_spaces import (ModelDims, SpaceError, describe, infer_space, is_act_space, rows_range,
                                          valid_space)
from studio.core.directions import DirectionSet
from studio.errors import StudioError

FORMAT = "latent-studio-direction"
VERSION = 1
EXT = ".lsdir"
SPACES = ("z", "w", "w+")  # plus "act:<stage>" (studio.core.direction_spaces)
SOURCES = ("pca", "ganspace", "sefa", "interfacegan", "arithmetic", "user")  # plus "fitted:<attribute>"
LABEL_PREFIX = "dir:"


class DirectionFileError(StudioError):
    """A direction file is unreadable, of an unknown layout, or holds arrays of the wrong shape or type."""


class DirectionMismatch(StudioError):
    """A direction does not fit the open model: wrong space or size, or made on another checkpoint."""


def valid_source(source: str) -> bool:
    return source in SOURCES or (source.startswith("fitted:") and len(source) > len("fitted:"))


@dataclass(frozen=True, eq=False)
class SavedDirection:
    """One named direction (or a small set of them) with where it came from and which model it is for."""

    name: str
    vectors: np.ndarray                 # (k, dim) float32, unit rows
    space: str = "z"
    source: str = "user"
    model_sha256: str = ""
    model_name: str = ""
    layers: tuple[int, int] | None = None
    created: str = ""
    stddev: np.ndarray | None = None    # (k,) slider unit per row (spread of samples along it); None = 1
    explained: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DirectionFileError("a direction needs a name")
        if not valid_space(self.space):
            raise DirectionFileError(f"direction {self.name!r}: unknown latent space {self.space!r} "
                                     f"(known: {', '.join(SPACES)}, act:<layer>)")
        if not valid_source(self.source):
            raise DirectionFileError(f"direction {self.name!r}: unknown source {self.source!r} "
                                     f"(known: {', '.join(SOURCES)}, fitted:<attribute>)")
        v = np.asarray(self.vectors)
        if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
            raise DirectionFileError(f"direction {self.name!r}: vectors must be a (k, dim) array, not {v.shape}")
        if not np.issubdtype(v.dtype, np.floating) or not np.isfinite(v).all():
            raise DirectionFileError(f"direction {self.name!r}: vectors must be finite floats")
        norms = np.linalg.norm(v.astype(np.float64), axis=1, keepdims=True)
        if (norms < 1e-12).any():
            raise DirectionFileError(f"direction {self.name!r}: a vector is all zeros")
        object.__setattr__(self, "vectors", (v / norms).astype(np.float32))
        for name in ("stddev", "explained"):
            a = getattr(self, name)
            if a is not None:
                a = np.asarray(a, np.float32).reshape(-1)
                if a.shape != (v.shape[0],):
                    raise DirectionFileError(f"direction {self.name!r}: {name} has {a.size} values for "
                                             f"{v.shape[0]} vectors")
                object.__setattr__(self, name, a)
        if self.layers is not None:
            lay = tuple(self.layers)
            if len(lay) != 2 or not all(isinstance(x, int) for x in lay) or not 0 <= lay[0] < lay[1]:
                raise DirectionFileError(f"direction {self.name!r}: layers must be [start, stop) with "
                                         f"0 <= start < stop, not {self.layers!r}")
            object.__setattr__(self, "layers", lay)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def label(self, i: int = 0) -> str:
        """The recipe label of row i's walk ("dir:Smiling", or "dir:GANSpace:3" for a set)."""
        return f"{LABEL_PREFIX}{self.name}" + (f":{i}" if len(self) > 1 else "")

    def walk_space(self) -> str:
        """The Walk edit's space: a W+ direction is a W walk with one vector per style input."""
        if is_act_space(self.space):
            raise DirectionMismatch(f"direction {self.name!r} lives in the {describe(self.space)}, which no "
                                    f"latent walk moves; decompose that layer with PCA for latent directions")
        return "z" if self.space == "z" else "w"

    def describe_space(self) -> str:
        """'Z', 'W', 'W+ rows 0-3', 'activations of b8'."""
        return describe(self.space, self.layers)

    def as_set(self) -> DirectionSet:
        """As a DirectionSet (kind = "dir:<name>"), so the walk sliders of latent_panel can show it."""
        return DirectionSet(f"{LABEL_PREFIX}{self.name}", self.walk_space(), self.vectors, self.stddev, self.explained)

    def renamed(self, name: str) -> "SavedDirection":
        return replace(self, name=name)

    # -- JSON (projects) ---------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {"name": self.name, "space": self.space, "source": self.source, "model_sha256": self.model_sha256,
                "model_name": self.model_name, "layers": list(self.layers) if self.layers else None,
                "created": self.created, "info": self.info}

    def to_dict(self) -> dict[str, Any]:
        return {**self.meta(), "vectors": self.vectors.tolist(),
                "stddev": None if self.stddev is None else self.stddev.tolist(),
                "explained": None if self.explained is None else self.explained.tolist()}

    @classmethod
    def from_dict(cls, d: Any) -> "SavedDirection":
        if not isinstance(d, dict):
            raise DirectionFileError("a saved direction must be a JSON object")
        try:
            vectors = np.asarray(d["vectors"], np.float32)
        except KeyError:
            raise DirectionFileError(f"direction {d.get('name', '?')!r} has no vectors") from None
        except (TypeError, ValueError):
            raise DirectionFileError(f"direction {d.get('name', '?')!r}: vectors must be a list of "
                                     f"equal-length lists of numbers") from None
        return _from_meta(d, vectors, d.get("stddev"), d.get("explained"))


def _from_meta(m: dict[str, Any], vectors: np.ndarray, stddev: Any = None, explained: Any = None) -> SavedDirection:
    layers = m.get("layers")
    info = m.get("info") or {}
    if not isinstance(info, dict):
        raise DirectionFileError("direction info must be a JSON object")
    return SavedDirection(
        name=str(m.get("name", "")), vectors=vectors, space=str(m.get("space", "z")),
        source=str(m.get("source", "user")), model_sha256=str(m.get("model_sha256", "")),
        model_name=str(m.get("model_name", "")),
        layers=tuple(layers) if isinstance(layers, (list, tuple)) else None, created=str(m.get("created", "")),
        stddev=None if stddev is None else np.asarray(stddev, np.float32),
        explained=None if explained is None else np.asarray(explained, np.float32), info=info)


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# -- .lsdir files ----------------------------------------------------------------------------------------
def save_direction(d: SavedDirection, path: str | os.PathLike) -> Path:
    """Write `d` as an .lsdir file (safetensors), atomically; the suffix is added when missing."""
    from safetensors.numpy import save_file

    path = Path(path)
    if path.suffix != EXT:
        path = path.with_name(path.name + EXT)
    tensors = {"vectors": np.ascontiguousarray(d.vectors, np.float32)}
    if d.stddev is not None:
        tensors["stddev"] = np.ascontiguousarray(d.stddev, np.float32)
    if d.explained is not None:
        tensors["explained"] = np.ascontiguousarray(d.explained, np.float32)
    meta = {"format": FORMAT, "version": str(VERSION), "meta": json.dumps(d.meta())}
    return write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_direction(path: str | os.PathLike) -> SavedDirection:
    """Read an .lsdir file; every failure is a DirectionFileError naming the file and what is wrong."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise DirectionFileError(f"no such direction file: {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise DirectionFileError(f"{path.name} is not a Latent Studio direction file ({exc})") from None
    except (TypeError, AttributeError) as exc:  # a dtype NumPy has no type for (bfloat16, float8)
        raise DirectionFileError(f"{path.name} is damaged: it stores vectors in a type NumPy cannot read "
                                 f"({str(exc)[:80]}); directions are float32 or float16") from None
    if header.get("format") != FORMAT:
        raise DirectionFileError(f"{path.name} is not a Latent Studio direction file")
    try:
        version = int(header.get("version", "0"))
    except ValueError:
        raise DirectionFileError(f"{path.name} is damaged: unreadable metadata") from None
    meta = safe_json.loads(header.get("meta", "{}"), f"{path.name}'s metadata", DirectionFileError)
    if version > VERSION:
        raise DirectionFileError(f"{path.name} was saved by a newer Latent Studio (direction format {version}; "
                                 f"this one reads up to {VERSION}); please update Latent Studio")
    if "vectors" not in tensors:
        raise DirectionFileError(f"{path.name} is damaged: it holds no 'vectors'")
    if not isinstance(meta, dict):
        raise DirectionFileError(f"{path.name} is damaged: metadata is not an object")
    try:
        return _from_meta(meta, tensors["vectors"], tensors.get("stddev"), tensors.get("explained"))
    except DirectionFileError as exc:
        raise DirectionFileError(f"{path.name}: {exc}") from None


# -- imports of other tools' files -----------------------------------------------------------------------
IMPORT_KINDS = ("interfacegan", "ganspace", "sefa")


def _float_array(a: Any, what: str) -> np.ndarray:
    a = np.asarray(a)
    if np.iscomplexobj(a):  # np.linalg.eig (official SeFa) may return complex with zero imaginary parts
        if np.abs(a.imag).max(initial=0.0) > 1e-6 * max(np.abs(a.real).max(initial=0.0), 1e-12):
            raise DirectionFileError(f"{what} has complex values; expected real vectors")
        a = a.real
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise DirectionFileError(f"{what} has dtype {a.dtype}; expected floating-point numbers")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise DirectionFileError(f"{what} contains NaN or infinite values")
    return a


def _check_npy_claim(f: Any, available: int, what: str) -> None:
    """Read an .npy header from `f` and refuse an array that claims more bytes than the `available` ones
    (an impossible shape numpy would allocate before finding the data short) or than the budget."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        if version not in ((1, 0), (2, 0)):  # 3.0 only adds UTF-8 field names: never plain float vectors
            raise ValueError(f"format version {version[0]}.{version[1]} is not one for plain arrays")
        shape, _, dtype = (npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0)(f)
    except Exception as exc:  # numpy parses the header as a Python literal: ValueError, TokenError, ...
        raise DirectionFileError(f"{what} is not a NumPy array file (unreadable header: "
                                 f"{str(exc)[:120] or type(exc).__name__})") from None
    available -= f.tell()  # the data follows the header
    if dtype.hasobject:
        raise DirectionFileError(f"{what} holds Python objects (a pickle), which are never loaded; "
                                 "save the vectors as a plain float array")
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    limit = budgets.current().max_decompressed_bytes
    if claimed > limit:
        raise budgets.refuse(DirectionFileError, what, f"an array of shape {list(shape)} "
                             f"({budgets.human(claimed)})", budgets.human(limit), "max_decompressed_bytes")
    if claimed > available:
        raise DirectionFileError(f"{what} is damaged: its header claims an array of shape {list(shape)} "
                                 f"({budgets.human(claimed)}) but the file holds {budgets.human(available)}")


def _load_npy(path: Path) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            _check_npy_claim(f, path.stat().st_size, path.name)
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DirectionFileError(f"{path.name} holds Python objects (a pickle), which are never loaded; "
                                     f"save the vectors as a plain float array") from None
        raise DirectionFileError(f"{path.name} is not a NumPy array file ({exc})") from None
    except OSError as exc:
        raise DirectionFileError(f"cannot read {path.name}: {exc}") from None


def _check_npz_claims(path: Path) -> None:
    """Refuse an archive whose members unpack beyond the budget (a zip bomb) or whose arrays claim more
    than their members hold, before numpy inflates or allocates anything."""
    import zipfile

    limit = budgets.current().max_decompressed_bytes
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
            total = sum(i.file_size for i in members)
            if total > limit:
                raise budgets.refuse(DirectionFileError, path.name, f"{budgets.human(total)} once unpacked",
                                     budgets.human(limit), "max_decompressed_bytes")
            for i in members:  # opening each checks its local header against the directory
                with z.open(i) as f:
                    if i.filename.endswith(".npy"):
                        _check_npy_claim(f, i.file_size, f"{path.name}/{i.filename}")
    except DirectionFileError:
        raise
    except zipfile.BadZipFile as exc:
        raise DirectionFileError(f"{path.name} is not a NumPy .npz archive ({exc})") from None
    except Exception as exc:  # zipfile raises OSError, EOFError, ValueError, NotImplementedError, ...
        raise DirectionFileError(f"{path.name} is damaged: {str(exc)[:160] or type(exc).__name__}") from None


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    _check_npz_claims(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise DirectionFileError(f"{path.name} is a single array, not an .npz archive")
            return {k: z[k] for k in z.files}
    except DirectionFileError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DirectionFileError(f"{path.name} holds Python objects (a pickle), which are never loaded") from None
        raise DirectionFileError(f"{path.name} is not a NumPy .npz archive ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DirectionFileError(f"cannot read {path.name}: {exc}") from None


def _one_error(read: Any) -> Any:
    """An importer whose leftover numpy errors (a shape that cannot be reshaped, a value that cannot be
    cast) become one DirectionFileError naming the file; the checks inside give the specific messages."""
    import functools

    @functools.wraps(read)
    def wrapper(path: str | os.PathLike, *args: Any, **kwargs: Any) -> SavedDirection:
        try:
            return read(path, *args, **kwargs)
        except StudioError:
            raise
        except (ValueError, IndexError, TypeError, OverflowError, MemoryError) as exc:
            raise DirectionFileError(f"{Path(path).name} holds arrays of unexpected shapes or values "
                                     f"({str(exc)[:160] or type(exc).__name__})") from None
    return wrapper


def _space_for(path: Path, row_shape: tuple[int, ...], dims: ModelDims | None, space: str | None) -> str:
    """infer_space with its refusals as DirectionMismatch (AmbiguousDirectionSpace stays itself)."""
    try:
        return infer_space(path.name, row_shape, dims, space)
    except SpaceError as exc:
        if type(exc) is SpaceError:
            raise DirectionMismatch(str(exc)) from None
        raise


def _w_plus_info(space: str, dims: ModelDims | None) -> dict[str, Any]:
    """A W+ direction remembers its rows' layout: 8 x 64 and 16 x 32 have the same size, not the same rows."""
    return {"w_plus_rows": [dims.num_ws, dims.w_dim]} if space == "w+" and dims is not None else {}


def _w_plus_layers(vectors: np.ndarray, space: str, dims: ModelDims | None) -> tuple[int, int] | None:
    """The style-input rows a W+ direction moves, when it leaves the others at zero."""
    if space != "w+" or dims is None or not dims.num_ws:
        return None
    return rows_range(np.abs(vectors).max(axis=0).reshape(dims.num_ws, dims.w_dim))


@_one_error
def import_interfacegan(path: str | os.PathLike, space: str | None = None, name: str | None = None,
                        dims: ModelDims | None = None) -> SavedDirection:
    """An InterFaceGAN boundary: `*_boundary.npy` (z), `*_w_boundary.npy` (W) or `*_wp_boundary.npy` (W+), a
    unit normal of shape [1, dim] or [dim] (W+: [1, num_ws * w_dim] or [1, num_ws, w_dim]).

    The space is `space`, else the name's, else the only one of `dims`' spaces of that size; two spaces of
    the same size and no name raise AmbiguousDirectionSpace (the caller asks)."""
    path = Path(path)
    a = _float_array(_one_vector_file(path), path.name)
    if a.ndim == 1:
        a = a[None]
    if a.ndim == 3 and a.shape[0] == 1:  # [1, num_ws, w_dim]: a W+ boundary kept by layer
        row_shape: tuple[int, ...] = tuple(a.shape[1:])
        a = a.reshape(1, -1)
    else:
        row_shape = tuple(a.shape[1:])
    if a.ndim != 2 or a.shape[0] != 1:
        raise DirectionFileError(f"{path.name}: an InterFaceGAN boundary has shape [1, dim], [dim] or "
                                 f"[1, layers, dim], not {list(a.shape)}")
    chosen = _space_for(path, row_shape, dims, space)
    return SavedDirection(name or path.stem, a, chosen, "interfacegan", layers=_w_plus_layers(a, chosen, dims),
                          created=now_iso(), info={"imported_from": path.name, **_w_plus_info(chosen, dims)})


@_one_error
def import_ganspace(path: str | os.PathLike, space: str | None = None, name: str | None = None,
                    dims: ModelDims | None = None) -> SavedDirection:
    """GANSpace components: the `.npz` its decomposition writes (`lat_comp` [k, *latent_shape], `lat_mean`,
    `lat_stdev` [k], `var_ratio` [k]). The space is W when the file name carries GANSpace's `_w` tag, else
    inferred from the shape as for InterFaceGAN boundaries."""
    path = Path(path)
    z = _load_npz(path)
    missing = [k for k in ("lat_comp", "lat_stdev") if k not in z]
    if missing:
        raise DirectionFileError(f"{path.name} is not a GANSpace components file: no {', '.join(missing)} "
                                 f"(it holds {', '.join(sorted(z)) or 'nothing'})")
    comp = _float_array(z["lat_comp"], f"{path.name}: lat_comp")
    if comp.ndim < 2 or 0 in comp.shape:
        raise DirectionFileError(f"{path.name}: lat_comp must be [components, ...latent shape], not {list(comp.shape)}")
    row_shape = tuple(s for s in comp.shape[1:] if s != 1) or (1,)  # GANSpace keeps [k, 1, dim]
    comp = comp.reshape(comp.shape[0], -1)
    stdev = _float_array(z["lat_stdev"], f"{path.name}: lat_stdev").reshape(-1)
    if stdev.shape != (comp.shape[0],):
        raise DirectionFileError(f"{path.name}: lat_stdev has {stdev.size} values for {comp.shape[0]} components")
    ratio = None
    if "var_ratio" in z:
        ratio = _float_array(z["var_ratio"], f"{path.name}: var_ratio").reshape(-1)
        if ratio.shape != stdev.shape:
            raise DirectionFileError(f"{path.name}: var_ratio has {ratio.size} values for {comp.shape[0]} components")
    space = _space_for(path, row_shape, dims, space)
    return SavedDirection(name or path.stem, comp, space, "ganspace", layers=_w_plus_layers(comp, space, dims),
                          created=now_iso(),
                          stddev=np.where(stdev > 0, stdev, 1.0), explained=ratio,
                          info={"imported_from": path.name, **_w_plus_info(space, dims)})


@_one_error
def import_sefa(path: str | os.PathLike, k: int = 10, name: str | None = None,
                layers: tuple[int, int] | None = None, dims: ModelDims | None = None) -> SavedDirection:
    """SeFa eigenvectors in W, strongest first. Official SeFa's `factorize_weight` returns
    (layers, boundaries = eigen_vectors.T [rows], eigen_values); the usual dumps read here are
      - `.npy`: the boundaries array [n, w_dim], one direction per row;
      - `.npz`: `boundaries` (or `eigen_vectors`, columns) with optional `values`/`eigen_values`, `layers`;
      - `.pt` of closed_form_factorization (rosinality): {"ckpt": ..., "eigvec": [w_dim, n] columns},
        read with torch's weights-only loader.
    When eigenvalues are present the rows are sorted by them, largest first."""
    path = Path(path)
    values = None
    file_layers: np.ndarray | None = None
    suffix = path.suffix.lower()
    if suffix == ".npy":
        rows = _float_array(_load_npy(path), path.name)
    elif suffix == ".npz":
        z = _load_npz(path)
        if "boundaries" in z:
            rows = _float_array(z["boundaries"], f"{path.name}: boundaries")
        elif "eigen_vectors" in z:
            rows = _float_array(z["eigen_vectors"], f"{path.name}: eigen_vectors").T
        else:
            raise DirectionFileError(f"{path.name} is not a SeFa file: no 'boundaries' or 'eigen_vectors' "
                                     f"(it holds {', '.join(sorted(z)) or 'nothing'})")
        for key in ("values", "eigen_values"):
            if key in z:
                values = _float_array(z[key], f"{path.name}: {key}").reshape(-1)
        file_layers = z.get("layers")
    elif suffix in (".pt", ".pth"):
        rows = _sefa_torch(path)
    else:
        raise DirectionFileError(f"{path.name}: SeFa directions are read from .npy, .npz or .pt files")
    if rows.ndim != 2:
        raise DirectionFileError(f"{path.name}: SeFa directions must be a 2-D array [n, w_dim], not {list(rows.shape)}")
    if values is not None:
        if values.shape != (rows.shape[0],):
            raise DirectionFileError(f"{path.name}: {values.size} eigenvalues for {rows.shape[0]} directions")
        order = np.argsort(values)[::-1]
        rows, values = rows[order], values[order]
    if dims is not None:  # SeFa factorises the style weights: its directions are always W
        _space_for(path, (rows.shape[1],), replace(dims, z_dim=0), "w")
    k = max(1, min(k, rows.shape[0]))
    explained = None if values is None else (values[:k] / max(float(np.abs(values).sum()), 1e-12))
    if layers is None and file_layers is not None and np.asarray(file_layers).size:
        lay = np.asarray(file_layers).reshape(-1).astype(int)
        if (np.diff(lay) == 1).all():  # a contiguous set of style inputs, as SeFa's -L a-b gives
            layers = (int(lay[0]), int(lay[-1]) + 1)
    return SavedDirection(name or path.stem, rows[:k], "w", "sefa", layers=layers, created=now_iso(),
                          explained=explained, info={"imported_from": path.name})


def load_weights_only(path: Path, what: str) -> Any:
    """torch's weights-only loader (never a pickle of code), its failures one DirectionFileError."""
    import pickle

    import torch

    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's unpickler raises many types on damaged bytes
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip() and not any(
            a in ln for a in ("weights_only", "safe_globals", "allowlist", "trust", "Please use"))), "")
        if isinstance(exc, pickle.UnpicklingError) and ("GLOBAL" in str(exc) or not first):
            first = "it holds pickled objects that are not plain tensors"
        raise DirectionFileError(f"{path.name} could not be read safely as {what} "
                                 f"({first[:160] or type(exc).__name__})") from None


def _tensor_array(t: Any, what: str) -> np.ndarray:
    """A stored tensor as a float array, refusing one that claims more than its storage holds."""
    claimed, held = t.numel() * t.element_size(), t.untyped_storage().nbytes()
    if claimed > held or claimed > budgets.current().max_decompressed_bytes:  # a stride-0 view claims any size
        raise DirectionFileError(f"{what} claims {budgets.human(claimed)} (shape "
                                 f"{list(t.shape)}) from {budgets.human(held)} of stored data")
    return _float_array(t.detach().cpu().float().numpy(), what)


def _sefa_torch(path: Path) -> np.ndarray:
    import torch

    obj = load_weights_only(path, "a SeFa factor file")
    eig = obj.get("eigvec") if isinstance(obj, dict) else None
    if not isinstance(eig, torch.Tensor):
        raise DirectionFileError(f"{path.name} is not a SeFa factor file: expected a dict with an 'eigvec' tensor")
    return _tensor_array(eig, f"{path.name}: eigvec").T  # columns are directions


BOUNDARY_KEYS = ("boundary", "direction", "w", "latent")  # names a one-array file may use for its vector


def _one_vector_file(path: Path) -> np.ndarray:
    """The array of a boundary kept as .npy, as .npz / .pt (one array, or one named like BOUNDARY_KEYS)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path)
    if suffix == ".npz":
        arrays = _load_npz(path)
    elif suffix in (".pt", ".pth"):
        import torch

        obj = load_weights_only(path, "a direction file")
        if torch.is_tensor(obj):
            obj = {"": obj}
        if not isinstance(obj, dict):
            raise DirectionFileError(f"{path.name} holds no tensor (a .pt direction is a tensor or a dict of them)")
        arrays = {str(k): _tensor_array(v, f"{path.name}: {k}") for k, v in obj.items() if torch.is_tensor(v)}
    else:
        raise DirectionFileError(f"{path.name}: a boundary is read from .npy, .npz or .pt, not {suffix or 'no suffix'}")
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    for key in BOUNDARY_KEYS:
        if key in arrays:
            return arrays[key]
    raise DirectionFileError(f"{path.name} holds {', '.join(sorted(arrays)) or 'nothing'}; a boundary file holds "
                             f"one array (or one named {' / '.join(BOUNDARY_KEYS)})")


def import_file(path: str | os.PathLike, kind: str, space: str | None = None,
                dims: ModelDims | None = None) -> SavedDirection:
    """Import by kind ("interfacegan", "ganspace", "sefa"), or an .lsdir file whatever the kind. With the open
    model's `dims` the space is inferred from the name and shape (AmbiguousDirectionSpace: ask the user)."""
    path = Path(path)
    if path.suffix == EXT:
        return load_direction(path)
    if not path.is_file():
        raise DirectionFileError(f"no such file: {path}")
    if kind == "interfacegan":
        return import_interfacegan(path, space, dims=dims)
    if kind == "ganspace":
        return import_ganspace(path, space, dims=dims)
    if kind == "sefa":
        return import_sefa(path, dims=dims)
    raise DirectionFileError(f"unknown direction format {kind!r} (known: {', '.join(IMPORT_KINDS)}, {EXT})")


def export_npy(d: SavedDirection, path: str | os.PathLike, row: int = 0) -> Path:
    """One row as an InterFaceGAN-style boundary [1, dim] float32, for tools that read those."""
    path = Path(path)
    np.save(path, d.vectors[row:row + 1].astype(np.float32), allow_pickle=False)
    return path if path.suffix == ".npy" else path.with_name(path.name + ".npy")


# -- fitting a model -------------------------------------------------------------------------------------
def space_dim(space: str, z_dim: int, w_dim: int, num_ws: int) -> int:
    """Values a direction in `space` has for a model of these dimensions (0: the model has no such space)."""
    return {"z": z_dim, "w": w_dim, "w+": w_dim * num_ws}.get(space, 0)


def check_compatible(d: SavedDirection, info: Any, model_sha256: str, model_name: str = "",
                     allow_other_model: bool = False) -> None:
    """Raise DirectionMismatch (a message for the user) unless `d` can walk this model.

    Wrong space or size is always refused; a direction made on another checkpoint of the same size is
    refused unless `allow_other_model`, because the latent axes of two trainings mean different things.
    """
    if "walk" not in getattr(info, "capabilities", ()):
        raise DirectionMismatch(f"direction {d.name!r} cannot be used: this model has no latent space to walk")
    if is_act_space(d.space):
        stage = d.space.split(":", 1)[1]
        if stage not in tuple(getattr(info, "layer_names", ()) or ()):
            raise DirectionMismatch(f"direction {d.name!r} is in the activations of layer {stage!r}, which "
                                    f"this model ({info.family}) does not have")
        d.walk_space()  # raises: activations are analysed, not walked
    if d.space in ("w", "w+") and not (info.w_dim and info.num_ws):
        raise DirectionMismatch(f"direction {d.name!r} is in {d.space.upper()} space, which this model "
                                f"({info.family}) does not have")
    need = space_dim(d.space, info.z_dim, info.w_dim, info.num_ws)
    if need == 0:
        raise DirectionMismatch(f"direction {d.name!r} is in {d.space.upper()} space, which this model "
                                f"({info.family}) does not have")
    if d.dim != need:
        raise DirectionMismatch(f"direction {d.name!r} has {d.dim} values but this model's {d.space.upper()} "
                                f"has {need}; it was made for another kind of model")
    rows = d.info.get("w_plus_rows")
    if d.space == "w+" and isinstance(rows, list) and rows != [info.num_ws, info.w_dim]:
        raise DirectionMismatch(f"direction {d.name!r} is a W+ direction of {rows[0]} style inputs of "
                                f"{rows[1] if len(rows) > 1 else '?'} values; this model has {info.num_ws} of "
                                f"{info.w_dim}")
    if d.layers is not None and d.layers[1] > max(info.num_ws, 1):
        raise DirectionMismatch(f"direction {d.name!r} acts on style inputs {d.layers[0]}..{d.layers[1] - 1}, "
                                f"but this model has {info.num_ws}")
    if d.model_sha256 and model_sha256 and d.model_sha256 != model_sha256 and not allow_other_model:
        made = d.model_name or "another model"
        here = model_name or "the open model"
        raise DirectionMismatch(
            f"direction {d.name!r} was made for {made} (sha256 {d.model_sha256[:12]}…), not {here} "
            f"(sha256 {model_sha256[:12]}…); the sizes match but the meaning of its axes probably does not. "
            f"Use 'Apply anyway' to walk it regardless.")


def apply_direction(recipe: Any, d: SavedDirection, row: int, amount: float, info: Any, model_sha256: str = "",
                    model_name: str = "", allow_other_model: bool = False) -> Any:
    """`recipe` walked `amount` latent units along row `row` of `d`: the one way a saved direction becomes a
    Walk, so a direction of the wrong space or size is refused (DirectionMismatch) wherever it is applied."""
    check_compatible(d, info, model_sha256, model_name, allow_other_model)
    if not 0 <= row < len(d):
        raise DirectionMismatch(f"direction {d.name!r} has {len(d)} vector(s); there is no number {row + 1}")
    return recipe.with_walk(d.label(row), tuple(float(v) for v in d.vectors[row]), float(amount), d.walk_space(),
                            d.layers)


def matches_model(d: SavedDirection, info: Any, model_sha256: str) -> str:
    """'match', 'other model' (same size, another checkpoint), 'any model' (no hash saved) or 'mismatch'."""
    try:
        check_compatible(d, info, model_sha256, allow_other_model=True)
    except DirectionMismatch:
        return "mismatch"
    if not d.model_sha256 or not model_sha256:
        return "any model"
    return "match" if d.model_sha256 == model_sha256 else "other model"


# -- the library folder ----------------------------------------------------------------------------------
def default_library_dir() -> Path:
    """Under the user data folder ($LATENT_STUDIO_DATA overrides it, as for autosave)."""
    override = os.environ.get("LATENT_STUDIO_DATA")
    if override:
        return Path(override) / "directions"
    import platformdirs

    return Path(platformdirs.user_data_dir("latent-studio", "latent-studio")) / "directions"


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "direction"
    return s[:80]


class DirectionLibrary:
    """The user's saved directions: one .lsdir file each in a folder; unreadable files are reported, not fatal."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else default_library_dir()
        self.errors: list[str] = []  # files skipped by the last entries() call, and why

    def entries(self) -> list[tuple[Path, SavedDirection]]:
        self.errors = []
        out = []
        if not self.folder.is_dir():
            return out
        for p in sorted(self.folder.glob(f"*{EXT}")):
            try:
                out.append((p, load_direction(p)))
            except StudioError as exc:
                self.errors.append(str(exc))
        return out

    def add(self, d: SavedDirection) -> Path:
        """Save into the library under a file name made from its name (never overwriting another)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        base = _slug(d.name)
        path = self.folder / f"{base}{EXT}"
        n = 2
        while path.exists():
            path = self.folder / f"{base}-{n}{EXT}"
            n += 1
        return save_direction(d, path)

    def rename(self, path: Path, new_name: str) -> Path:
        d = load_direction(path).renamed(new_name)
        new = self.add(d)
        Path(path).unlink(missing_ok=True)
        return new

    def delete(self, path: Path) -> None:
        Path(path).unlink(missing_ok=True)
