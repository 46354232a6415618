"""Whole-module pickles (`torch.save(model)`), read without executing anything stored in them.

Such a file pickles live objects: full unpickling imports every module it names and calls what it says, so a
crafted file runs code. Here a pure-Python unpickler resolves every global to something of ours: the tensor
rebuild functions become checked re-implementations, storages are read from the zip as raw bytes, and every
class becomes an inert `ModuleRecord` that only keeps the pickled `__dict__`. Calling anything else (the
REDUCE a hostile file uses to run os.system) is refused before it happens. Networks are then rebuilt by our
own code from torch.nn built-ins and their recorded attributes (`build_module`); a custom class whose forward
is not in the file is described, never run.
"""
from __future__ import annotations

import collections
import inspect
import io
import pickle
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from studio.errors import CheckpointError, clipped
from studio.model.claims import TensorBudget

NN_PREFIX = "torch.nn.modules."
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ModuleRecord:
    """A pickled object as data: its class's qualified name and the state pickle would have set on it."""

    def __init__(self, qualname: str):
        self.qualname = qualname
        self.state: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def builtin(self) -> bool:
        """A torch.nn class (its forward is torch's, known by name), as opposed to the user's own class."""
        return self.qualname.startswith(NN_PREFIX)

    def children(self) -> dict[str, "ModuleRecord"]:
        mods = self.state.get("_modules") or {}
        return {str(k): v for k, v in mods.items() if isinstance(v, ModuleRecord)}

    def tensors(self) -> dict[str, torch.Tensor]:
        """This module's own parameters and buffers (not its children's)."""
        out: dict[str, torch.Tensor] = {}
        for key in ("_parameters", "_buffers"):
            for k, v in (self.state.get(key) or {}).items():
                if isinstance(v, torch.Tensor):
                    out[str(k)] = v
        return out

    def attributes(self) -> dict[str, Any]:
        """The plain attributes its constructor set (stride, eps, negative_slope...): no underscores."""
        return {k: v for k, v in self.state.items()
                if isinstance(k, str) and not k.startswith("_") and k != "training"}

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Every tensor below this module under its state_dict key (main.0.weight ...)."""
        out = {prefix + k: v for k, v in self.tensors().items()}
        for name, child in self.children().items():
            out.update(child.state_dict(f"{prefix}{name}."))
        return out

    def walk(self, path: str = "") -> Iterator[tuple[str, "ModuleRecord"]]:
        yield path, self
        for name, child in self.children().items():
            yield from child.walk(f"{path}.{name}" if path else name)

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CheckpointError(f"the pickled {self.name} has a state that is not a dict")
        self.state = state

    def __repr__(self) -> str:
        return f"<pickled {self.qualname}>"


@dataclass
class ModuleTree:
    """What a whole-module pickle holds: its top-level object, with every module as a ModuleRecord."""

    path: Path
    root: Any
    globals_named: list[str] = field(default_factory=list)

    def modules(self) -> list[tuple[str, ModuleRecord]]:
        """The top-level modules: the root itself, or the modules in a top-level list, tuple or dict."""
        r = self.root
        if isinstance(r, ModuleRecord):
            return [("", r)]
        if isinstance(r, (list, tuple)):
            return [(f"[{i}]", v) for i, v in enumerate(r) if isinstance(v, ModuleRecord)]
        if isinstance(r, dict):
            return [(str(k), v) for k, v in r.items() if isinstance(v, ModuleRecord)]
        return []


def _placeholder(qualname: str) -> type:
    """A stand-in class for `qualname`: NEWOBJ makes a ModuleRecord of it, calling it is refused (REDUCE)."""
    return type("Pickled", (_Placeholder,), {"qualname": qualname})


class _Placeholder:
    qualname = ""

    def __new__(cls, *args: Any) -> ModuleRecord:  # type: ignore[misc]
        return ModuleRecord(cls.qualname)


@dataclass(frozen=True)
class _StorageTag:
    """torch.FloatStorage and friends: in a pickle they only name the dtype of a storage."""

    dtype: torch.dtype


class _SafeUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """pickle's pure-Python unpickler with every global ours and calls limited to our own functions."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, data: bytes, storages: "_Storages", budget: TensorBudget):
        super().__init__(io.BytesIO(data))
        self._storages = storages
        self._budget = budget
        self.named: list[str] = []
        self._callable_fns = (collections.OrderedDict, set, frozenset)

    def find_class(self, module: str, name: str) -> Any:
        qual = f"{module}.{name}"
        if qual not in self.named:
            self.named.append(qual)
        if (module, name) in (("collections", "OrderedDict"),):
            return collections.OrderedDict
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
            return set if name == "set" else frozenset
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return self._rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageTag(_STORAGE_DTYPES[name])
        return _placeholder(qual)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageTag) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise CheckpointError("it holds a tensor storage record this reader does not know")
        return self._storages.get(pid[2], pid[1].dtype, pid[4])

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                        hooks: Any = None, metadata: Any = None) -> torch.Tensor:
        ints = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
        if not isinstance(storage, torch.Tensor) or not ints(offset) or not isinstance(size, tuple) \
                or not isinstance(stride, tuple) or len(size) != len(stride) \
                or not all(ints(v) for v in (*size, *stride)) or (hooks is not None and len(hooks)):
            raise CheckpointError("it holds a malformed tensor record")
        held = max(storage.numel() - offset, 0) * storage.element_size()
        self._budget.add_claim(size, stride, storage.element_size(), held)
        if storage.device.type == "meta":
            return torch.empty(size, dtype=storage.dtype, device="meta")
        return torch.as_strided(storage, size, stride, offset)

    def _rebuild_parameter(self, data: Any, requires_grad: Any = False, hooks: Any = None) -> torch.Tensor:
        if not isinstance(data, torch.Tensor):
            raise CheckpointError("it holds a malformed parameter record")
        return data

    def load_reduce(self) -> None:
        func = self.stack[-2]
        ours = func in self._callable_fns or func == self._rebuild_tensor or func == self._rebuild_parameter
        if not ours:
            raise _Refused(getattr(func, "qualname", "") or type(func).__name__)
        super().load_reduce()

    def load_build(self) -> None:
        if not isinstance(self.stack[-2], ModuleRecord):
            raise _Refused(type(self.stack[-2]).__name__)
        super().load_build()

    def load_inst(self) -> None:  # protocol 0/1 object creation calls the class: never allowed
        raise _Refused("an object built by calling its class")

    load_obj = load_inst

    def load_newobj_ex(self) -> None:
        raise _Refused("an object built with keyword arguments")

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.INST[0]] = load_inst
    dispatch[pickle.OBJ[0]] = load_obj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex


class _Refused(Exception):
    """The pickle asked to call something that is not ours: what it named."""


class _Storages:
    """Storages from the zip's data/ folder, read on first use (or as meta tensors when `lazy`)."""

    def __init__(self, zf: zipfile.ZipFile, root: str, lazy: bool):
        self.zf, self.root, self.lazy = zf, root, lazy
        self._cache: dict[str, torch.Tensor] = {}

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if self.lazy:
            t = torch.empty(numel, dtype=dtype, device="meta")
        else:
            try:
                raw = self.zf.read(f"{self.root}data/{key}")
            except KeyError:
                raise CheckpointError(f"its tensor data {key!r} is missing") from None
            itemsize = torch.empty((), dtype=dtype).element_size()
            if len(raw) != numel * itemsize:
                raise CheckpointError(f"its tensor data {key!r} holds {len(raw)} bytes, not "
                                      f"{numel * itemsize}")
            t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        self._cache[key] = t
        return t


def _pickle_member(zf: zipfile.ZipFile) -> str | None:
    names = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    return names[0] if len(names) == 1 else None


def looks_like_module_pickle(path: str | Path) -> bool:
    """Cheap: a torch zip whose data.pkl names a torch.nn module class (what torch.save(model) writes)."""
    try:
        with zipfile.ZipFile(path) as zf:
            member = _pickle_member(zf)
            if member is None:
                return False
            with zf.open(member) as f:
                head = f.read(1 << 16)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False
    return b"torch.nn.modules" in head


def read_module_pickle(path: str | Path, lazy: bool = False) -> ModuleTree:
    """The pickle's top-level object with modules as records; `lazy` gives meta tensors (shapes only, for
    sniffing). CheckpointError, one sentence, for anything that is not plain data and torch.nn state."""
    from studio.model.safeload import _check_zip_members

    path = Path(path)
    size = _check_zip_members(path)
    try:
        with zipfile.ZipFile(path) as zf:
            member = _pickle_member(zf)
            if member is None:
                raise CheckpointError(f"{path.name} is not a torch.save zip file (no data.pkl inside)")
            root = member[: -len("data.pkl")]
            bo = f"{root}byteorder"
            if bo in zf.namelist() and zf.read(bo).strip() not in (b"little", b""):
                raise CheckpointError(f"{path.name} was saved on a big-endian machine, which is not "
                                      "supported")
            storages = _Storages(zf, root, lazy)
            unpickler = _SafeUnpickler(zf.read(member), storages, TensorBudget(path.name, size))
            try:
                obj = unpickler.load()
            except _Refused as exc:
                culprit = str(exc) or "an object it would call"
                raise CheckpointError(f"{path.name} contains pickled Python objects that are not plain "
                                      f"weights (it refers to {culprit}); refusing to execute them") from None
    except CheckpointError as exc:
        msg = str(exc)
        raise CheckpointError(msg if msg.startswith(path.name) else f"{path.name}: {msg}") from None
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory than is free to load") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path.name} is truncated or corrupt ({type(exc).__name__})") from None
    except Exception as exc:  # a damaged stream makes pickle raise many types
        first = clipped(str(exc), 120)
        raise CheckpointError(f"{path.name} is a truncated or corrupt pickle ({type(exc).__name__}"
                              f"{': ' + first if first else ''})") from None
    return ModuleTree(path, obj, unpickler.named)


# -- rebuilding torch.nn built-ins ----------------------------------------------------------------------
# Classes rebuilt from their recorded constructor arguments. Their forward is torch's own, known by name.
REBUILDABLE = (
    "Sequential", "Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LayerNorm", "GroupNorm", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU",
    "GELU", "SiLU", "Mish", "Tanh", "Sigmoid", "Hardtanh", "Softplus", "Identity", "Dropout", "Dropout1d",
    "Dropout2d", "Dropout3d", "AlphaDropout", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "Unflatten", "Flatten", "PixelShuffle", "ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d",
    "ConstantPad2d",
)
_PLAIN = (int, float, str, bool, type(None))


def _plain(value: Any, what: str) -> Any:
    """A constructor argument as plain data (lists become tuples); anything else is refused."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, _PLAIN) for v in value):
        return tuple(value)
    raise CheckpointError(f"{what} has a value of type {type(value).__name__}, which is not plain data")


@lru_cache(maxsize=None)
def _signature(cls: type) -> tuple[str, ...]:
    names = inspect.signature(cls.__init__).parameters
    return tuple(p for p in names if p not in ("self", "device", "dtype"))


def build_module(rec: ModuleRecord, where: str = "") -> nn.Module:
    """The torch.nn module a record describes, built by our code and filled with its tensors.

    Every constructor argument comes from the recorded attributes (eps, momentum, negative_slope,
    padding_mode, output_padding: a default is never assumed); bias and affine follow from which tensors
    are present. CheckpointError for a class that is not a rebuildable built-in."""
    label = where or "the top-level module"
    if not rec.builtin or rec.name not in REBUILDABLE:
        raise CheckpointError(f"{label} is a {rec.qualname}, which cannot be rebuilt from the file")
    cls = getattr(nn, rec.name)
    if rec.name == "Sequential":
        kids = collections.OrderedDict((n, build_module(c, f"{where}.{n}" if where else n))
                                       for n, c in rec.children().items())
        return nn.Sequential(kids)
    attrs, own = rec.attributes(), rec.tensors()
    kwargs = constructor_args(rec, label)
    try:
        with torch.device("meta" if any(t.device.type == "meta" for t in own.values()) else "cpu"):
            module = cls(**kwargs)
    except Exception as exc:
        raise CheckpointError(f"{label} ({rec.name}) has arguments torch does not accept: "
                              f"{clipped(str(exc), 120)}") from None
    for name, value in attrs.items():  # what the constructor derived differently (a recorded scale_factor)
        if hasattr(module, name) and not callable(getattr(module, name)) and name not in kwargs:
            setattr(module, name, _plain(value, f"{label}.{name}"))
    _fill(module, own, label)
    return module


def constructor_args(rec: ModuleRecord, label: str = "") -> dict[str, Any]:
    """The keyword arguments that rebuild a built-in `rec`, all from its recorded attributes (bias and the
    PReLU count from which tensors it holds): the same call `plugin new` writes into a drop-in."""
    cls = getattr(nn, rec.name)
    attrs, own = rec.attributes(), rec.tensors()
    kwargs: dict[str, Any] = {}
    for name in _signature(cls):
        if name == "bias" and "bias" not in attrs:
            kwargs["bias"] = "bias" in own
        elif name in attrs:
            kwargs[name] = _plain(attrs[name], f"{label or rec.name}.{name}")
    if rec.name == "PReLU" and "weight" in own:
        kwargs["num_parameters"] = int(own["weight"].numel())
    return kwargs


def _fill(module: nn.Module, own: dict[str, torch.Tensor], label: str) -> None:
    want = {k: v for k, v in [*module._parameters.items(), *module._buffers.items()] if v is not None}
    if set(want) != set(own):
        raise CheckpointError(f"{label} ({type(module).__name__}) holds tensors {sorted(own)}, not the "
                              f"{sorted(want)} its attributes imply")
    for k, t in own.items():
        if tuple(t.shape) != tuple(want[k].shape):
            raise CheckpointError(f"{label}.{k} has shape {tuple(t.shape)}, not {tuple(want[k].shape)}")
        if t.device.type == "meta":
            continue
        target = want[k]
        with torch.no_grad():
            if target.dtype != t.dtype and not target.is_floating_point():
                raise CheckpointError(f"{label}.{k} is {t.dtype}, not {target.dtype}")
            target.copy_(t.to(target.dtype))


def runnable_body(rec: ModuleRecord) -> tuple[str, ModuleRecord] | None:
    """The module that does the work of `rec`: itself when it is a built-in, else (for the user's own class)
    its one child when it has no tensors of its own and exactly one child module (the pytorch/examples
    Generator, whose forward is `self.main(input)`); None when its forward cannot be known."""
    if rec.builtin:
        return "", rec
    kids = rec.children()
    if len(kids) == 1 and not rec.tensors():
        (name, child), = kids.items()
        return (name, child) if child.builtin else None
    return None


def first_layer(rec: ModuleRecord) -> ModuleRecord | None:
    """The first module with tensors, in execution order, of a Sequential tree."""
    for _, r in rec.walk():
        if r.tensors():
            return r
    return None


# -- finding and running the generator ------------------------------------------------------------------
@dataclass(frozen=True)
class FoundGenerator:
    """Where the generator sits in the pickle, the module that does its work, and how z goes in."""

    where: str            # "" (the root), "[0]" (first of a list), "netG" (a dict entry)
    record: ModuleRecord  # the top-level record (the user's class, or a built-in)
    body_path: str        # "" when the record itself runs, else its one child ("main")
    z_dim: int
    z_as_image: bool      # (N, z, 1, 1) for a ConvTranspose2d first layer, else (N, z)
    channels: int
    resolution: int

    @property
    def body(self) -> ModuleRecord:
        return self.record.children()[self.body_path] if self.body_path else self.record


def find_generator(tree: ModuleTree) -> FoundGenerator | None:
    """The first top-level module that maps a latent to a square image: its body runs (a built-in, or the
    user's class with one built-in child), its first layer takes z (ConvTranspose2d or Linear, not the
    Conv2d of a discriminator), and a shape-only run gives N x (1 or 3) x S x S."""
    for where, rec in tree.modules():
        body = runnable_body(rec)
        first = first_layer(body[1]) if body is not None else None
        if body is None or first is None or first.name not in ("ConvTranspose2d", "Linear"):
            continue
        attrs = first.attributes()
        image = first.name == "ConvTranspose2d"
        z_dim = attrs.get("in_channels" if image else "in_features")
        if not isinstance(z_dim, int) or isinstance(z_dim, bool) or z_dim < 1:
            continue
        try:
            net = build_module(_on_meta(body[1]))
            with torch.no_grad():
                out = net.eval()(torch.empty((2, z_dim, 1, 1) if image else (2, z_dim), device="meta"))
        except Exception:  # noqa: BLE001 - not a generator this reader can run
            continue
        if out.ndim == 4 and out.shape[1] in (1, 3) and out.shape[2] == out.shape[3] >= 4:
            return FoundGenerator(where, rec, body[0], z_dim, image, int(out.shape[1]), int(out.shape[2]))
    return None


def _on_meta(rec: ModuleRecord) -> ModuleRecord:
    """A copy of the record tree whose tensors are meta tensors of the same shapes (for a shape-only run)."""
    out = ModuleRecord(rec.qualname)
    state = dict(rec.state)
    for key in ("_parameters", "_buffers"):
        if isinstance(state.get(key), dict):
            state[key] = {k: (torch.empty(v.shape, dtype=v.dtype, device="meta")
                              if isinstance(v, torch.Tensor) else v) for k, v in state[key].items()}
    if isinstance(state.get("_modules"), dict):
        state["_modules"] = {k: (_on_meta(v) if isinstance(v, ModuleRecord) else v)
                             for k, v in state["_modules"].items()}
    out.state = state
    return out


def describe(found: FoundGenerator) -> str:
    """'__main__.Generator (its forward taken to be self.main(z))' or 'torch.nn Sequential'."""
    rec = found.record
    if rec.builtin:
        return f"torch.nn {rec.name}"
    return f"{rec.qualname} (its forward taken to be self.{found.body_path}(z))"


def refusal(path: str | Path) -> str | None:
    """Why a whole-module pickle cannot be opened, as one sentence with the next step, or None when it can
    (or is not one). Reads shapes only."""
    path = Path(path)
    if not looks_like_module_pickle(path):
        return None
    try:
        tree = read_module_pickle(path, lazy=True)
        if find_generator(tree) is not None:
            return None
    except CheckpointError as exc:
        return str(exc)
    except RecursionError:  # a module tree nested past reason
        return f"{path.name} holds a pickled module tree nested too deeply to read"
    except MemoryError:
        return f"{path.name} needs more memory than is free to load"
    step = f"run 'latent-studio plugin new {path.name} --out my_gan.py' to write a drop-in plugin for it"
    custom = [r for _, r in tree.modules() if not r.builtin]
    if custom:
        names = ", ".join(dict.fromkeys(r.qualname for r in custom))
        return (f"{path.name} is a whole pickled {names} (torch.save of the model) whose forward is not in "
                f"the file and cannot be inferred; {step}")
    unknown = sorted({r.qualname for _, top in tree.modules() for _, r in top.walk()
                      if r.builtin and r.name not in REBUILDABLE})
    if unknown:
        return (f"{path.name} holds a pickled torch.nn model using {', '.join(unknown)}, which the studio "
                f"cannot rebuild yet; {step}")
    return f"{path.name} holds pickled torch.nn modules but none maps a latent to an image; {step}"


def build_generator(tree: ModuleTree, found: FoundGenerator, device: torch.device | str, sha256: str,
                    name: str) -> Any:
    """The Generator for `found` in a fully read tree: built-ins rebuilt, one stage per block."""
    from studio.model.api import Choice, ModelInfo
    from studio.model.modules import module_generator

    net = build_module(found.body, found.body_path)
    choices: tuple[Choice, ...] = ()
    if not found.record.builtin:
        choices = (Choice("forward", f"self.{found.body_path}(z)", (f"self.{found.body_path}(z)",),
                          source=f"assumed (not in the file): {found.record.qualname} holds only its "
                                 f"'{found.body_path}' module, as pytorch/examples' Generator does",
                          label="Forward"),)
    where = f" (item {found.where} of the file)" if found.where else ""
    info = ModelInfo(family="torch-module", format=f"whole-module pickle: {describe(found)}{where}",
                     resolution=found.resolution, channels=found.channels, z_dim=found.z_dim, prior="normal",
                     name=name, choices=choices)
    z_dim = found.z_dim
    shape = (-1, z_dim, 1, 1) if found.z_as_image else (-1, z_dim)

    def input_fn(ctx: Any) -> torch.Tensor:
        assert ctx.z is not None
        return ctx.z.reshape(shape)

    from studio.model.modules import split_into_blocks

    prefix = f"{found.body_path}." if found.body_path else ""
    blocks = split_into_blocks(net, prefix)
    return module_generator(net, info, device=device, model_id=sha256, input_fn=input_fn, blocks=blocks)
