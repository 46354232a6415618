"""Labellers: classifiers that score generated images for named attributes, each with the domain it knows.

A labeller fits directions (label samples, fit a boundary in the latent) and scores walks. It is only worth
anything on images like those it was trained on: the ToyFaces attribute model, shown a CelebA face, reports
a confident score for a walk that turns the face into a smear. So each labeller says which models it applies
to (and the side it reads images at), and the Directions panel offers only those (hand labels are always
there).

Labellers are found like generator plugins: the `latent_studio.labellers` entry-point group (each entry a
callable returning a Labeller or a list of them; the bundled ToyFaces attribute model is registered there
exactly as a third party's would be), drop-in `.py` files in the plugin folders exposing `labeller` or
`LABELLERS`, and `register_labeller` (what a drop-in may call at import). `torch_labeller` and
`onnx_labeller` make one from a classifier's weights without the author writing the image plumbing.
A labeller that fails to load is reported in `LabellerDiscovery.problems` (Help > Plugins), never fatal.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from studio.errors import StudioError
from studio.model.api import ModelInfo

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "latent_studio.labellers"
TOYFACES = "ToyFaces"


class LabellerError(StudioError):
    """A labeller that cannot be built, or whose scores are unusable (wrong names, shapes, NaN)."""


def _any_model(info: ModelInfo) -> bool:
    return True


@dataclass(frozen=True)
class Labeller:
    """`predict(images)` takes (N, H, W, 3) uint8 and returns {attribute: (N,) probability in [0, 1]}.

    `input_size`: the side (pixels) the classifier reads; `score` resizes images to it first, so `predict`
    may assume it (None: any size). `applies_to(info)` says whether a model's images are its domain."""

    name: str
    attributes: tuple[str, ...]
    predict: Callable[[np.ndarray], dict[str, np.ndarray]]
    applies_to: Callable[[ModelInfo], bool] = _any_model
    domain: str = ""  # what it was trained on, for messages ("ToyFaces")
    input_size: int | None = None
    origin: str = field(default="", compare=False)  # the entry point or file it came from (Help > Plugins)

    def score(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Checked scores of (N, H, W, 3) uint8 images: every declared attribute, (N,) finite floats in [0, 1]."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise LabellerError(f"{self.name}: expected (N, H, W, 3) images, got {images.shape}")
        if self.input_size is not None and images.shape[1:3] != (self.input_size, self.input_size):
            images = resize_images(images, self.input_size)
        out = self.predict(images)
        scores: dict[str, np.ndarray] = {}
        for a in self.attributes:
            if a not in out:
                raise LabellerError(f"{self.name} returned no score for {a!r} (it declares {list(self.attributes)})")
            v = np.asarray(out[a], np.float64).reshape(-1)
            if len(v) != len(images):
                raise LabellerError(f"{self.name} returned {len(v)} scores of {a!r} for {len(images)} images")
            if not np.isfinite(v).all() or v.min() < 0 or v.max() > 1:
                raise LabellerError(f"{self.name}'s scores of {a!r} are not probabilities in [0, 1]")
            scores[a] = v.astype(np.float32)
        return scores


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 resized to size x size (area when shrinking, bilinear when growing)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    shrink = x.shape[-1] > size
    x = F.interpolate(x, size=(size, size), mode="area" if shrink else "bilinear",
                      **({} if shrink else {"align_corners": False}))
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_nchw(images: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """uint8 (N, H, W, 3) as float32 NCHW mapped onto value_range: what most classifiers were trained on."""
    lo, hi = value_range
    x = np.asarray(images, np.float32).transpose(0, 3, 1, 2) / 255.0
    return np.ascontiguousarray(x * (hi - lo) + lo, np.float32)


def _probabilities(out: np.ndarray, n: int, attributes: Sequence[str], logits: bool, name: str) -> dict[str, np.ndarray]:
    out = np.asarray(out, np.float64).reshape(n, -1)
    if out.shape[1] != len(attributes):
        raise LabellerError(f"{name} outputs {out.shape[1]} values per image but names {len(attributes)} "
                            f"attributes ({', '.join(attributes)})")
    p = 1.0 / (1.0 + np.exp(-out)) if logits else out
    return {a: p[:, i] for i, a in enumerate(attributes)}


def torch_labeller(weights: str | Path, module: Any, attributes: Sequence[str], name: str,
                   input_size: int, applies_to: Callable[[ModelInfo], bool] = _any_model, domain: str = "",
                   logits: bool = True, value_range: tuple[float, float] = (-1.0, 1.0),
                   batch: int = 256) -> Labeller:
    """A torch classifier as a labeller: `module` (an nn.Module built by the caller) gets the state dict in
    `weights` (.pt read with weights_only=True, or .safetensors; never unpickled), and maps NCHW images in
    value_range to (N, len(attributes)) logits (or probabilities with logits=False)."""
    import torch

    path = Path(weights)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except FileNotFoundError:
        raise LabellerError(f"{name}: no weights file {path}") from None
    except Exception as exc:  # an unsafe pickle, a wrong architecture: one sentence, never a traceback
        raise LabellerError(f"{name}: cannot load {path.name} ({type(exc).__name__}: {str(exc)[:200]})") from None
    module.eval()

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(to_nchw(images, value_range))
        with torch.inference_mode():
            out = torch.cat([module(x[i:i + batch]).float() for i in range(0, len(x), batch)])
        return _probabilities(out.numpy(), len(images), attributes, logits, name)

    return Labeller(name, tuple(attributes), predict, applies_to, domain, input_size, origin=str(path))


def onnx_labeller(path: str | Path, attributes: Sequence[str], name: str | None = None,
                  applies_to: Callable[[ModelInfo], bool] = _any_model, domain: str = "",
                  logits: bool = True, value_range: tuple[float, float] = (-1.0, 1.0),
                  input_size: int | None = None) -> Labeller:
    """An ONNX image classifier as a labeller (needs the onnx extra: onnxruntime). Its first input is NCHW
    float; the side it reads is taken from the file when fixed there, else `input_size`."""
    path = Path(path)
    name = name or path.stem
    try:
        import onnxruntime as ort
    except ImportError:
        raise LabellerError(f"{name}: ONNX labellers need onnxruntime (pip install 'latent-studio[onnx]')") from None
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise LabellerError(f"{name}: cannot read {path.name} as an ONNX model ({str(exc)[:200]})") from None
    inp = session.get_inputs()[0]
    shape = inp.shape
    side = shape[-1] if len(shape) == 4 and isinstance(shape[-1], int) else input_size
    if side is None:
        raise LabellerError(f"{name}: {path.name} does not fix its input size; pass input_size")
    lock = threading.Lock()  # one run at a time: a session is shared by the worker and the CLI alike

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        x = to_nchw(images, value_range)
        with lock:
            out = session.run(None, {inp.name: x})[0]
        return _probabilities(out, len(images), attributes, logits, name)

    return Labeller(name, tuple(attributes), predict, applies_to, domain, int(side), origin=str(path))


# -- the bundled ToyFaces attribute model ----------------------------------------------------------------
def trained_on_toyfaces(info: ModelInfo) -> bool:
    """The bundled demos name their data in their header ("DCGAN ToyFaces 64"); nothing else claims it."""
    return re.search(r"\btoy\s*faces\b", info.name, re.IGNORECASE) is not None


@functools.lru_cache(maxsize=4)
def toyfaces_labeller(path: str | Path) -> Labeller:
    """The bundled ToyFaces attribute model as a labeller (loaded now: a bad file fails here, clearly)."""
    from studio.demo import attributes
    from studio.demo.toyfaces import BINARY_ATTRIBUTES

    net = attributes.load(path)
    return Labeller("ToyFaces attribute model", tuple(BINARY_ATTRIBUTES),
                    lambda images: {k: v for k, v in attributes.predict(net, images).items()
                                    if k in BINARY_ATTRIBUTES},
                    trained_on_toyfaces, TOYFACES, attributes.IMAGE_SIZE, origin=str(path))


def bundled_labellers() -> list[Labeller]:
    """The `latent_studio.labellers` entry point of the studio itself: the ToyFaces attribute model."""
    from studio.bundled import attribute_model_path

    return [toyfaces_labeller(attribute_model_path())]


# -- discovery --------------------------------------------------------------------------------------------
_registered: list[Labeller] = []


def register_labeller(labeller: Labeller) -> None:
    """Offer `labeller` for the models it applies to (a later one of the same name replaces it)."""
    _registered[:] = [x for x in _registered if x.name != labeller.name] + [labeller]


@dataclass
class LabellerDiscovery:
    """What discovery found: the labellers, and one line per labeller that failed (for Help > Plugins)."""

    labellers: list[Labeller] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _made(obj: Any, origin: str) -> list[Labeller]:
    """Labellers from what an entry point or a drop-in offers: a Labeller, a list, or a callable making them."""
    if callable(obj) and not isinstance(obj, Labeller):
        obj = obj()
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    bad = [x for x in items if not isinstance(x, Labeller)]
    if bad:
        raise TypeError(f"{bad[0]!r} is not a studio.model.labellers.Labeller")
    return [x if x.origin else _with_origin(x, origin) for x in items]


def _with_origin(lab: Labeller, origin: str) -> Labeller:
    from dataclasses import replace

    return replace(lab, origin=origin)


def module_labellers(module: Any) -> Any:
    """What a drop-in module offers as labellers (`LABELLERS` or `labeller`), or None."""
    return getattr(module, "LABELLERS", None) or getattr(module, "labeller", None)


def discover_labellers(search_paths: Iterable[Path] | None = None) -> LabellerDiscovery:
    """Every labeller of the entry points and the drop-in folders (the generator plugins' folders)."""
    from studio.model.registry import _dropin_files, dropin_module, plugin_search_paths

    found = LabellerDiscovery()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.labellers += _made(ep.load(), f"entry point {ep.name} ({ep.value})")
        except Exception as exc:  # a broken third-party labeller must not take the panel down
            found.problems.append(f"labeller {ep.name} ({ep.value}) failed to load: {type(exc).__name__}: {exc}")
    for folder in (plugin_search_paths() if search_paths is None else search_paths):
        for file in _dropin_files(Path(folder)):
            try:
                module = dropin_module(file)
            except Exception as exc:  # worded as the generator registry words it: the two lists merge into one
                found.problems.append(f"drop-in plugin {file} failed to load: {type(exc).__name__}: {exc}")
                continue
            try:
                offered = module_labellers(module)
                if offered is not None:
                    found.labellers += _made(offered, str(file))
            except Exception as exc:
                found.problems.append(f"drop-in labeller {file} failed to load: {type(exc).__name__}: {exc}")
    for p in found.problems:
        log.warning(p)
    return found


_default: LabellerDiscovery | None = None
_default_lock = threading.Lock()


def default_labellers() -> LabellerDiscovery:
    """Discovered once per process (drop-ins are imported then; call off the GUI thread the first time)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = discover_labellers()
        return _default


def discovered_labellers() -> LabellerDiscovery | None:
    """The discovery once it has run, else None (never discovers: for the GUI thread)."""
    return _default


def reset_labellers() -> None:
    """Forget discovered labellers (after the plugin path changed, and in tests)."""
    global _default
    with _default_lock:
        _default = None


def all_labellers(extra: Sequence[Labeller] = ()) -> list[Labeller]:
    """Discovered, registered and `extra` labellers, first of each name kept."""
    out: list[Labeller] = []
    for lab in [*default_labellers().labellers, *_registered, *extra]:
        if all(x.name != lab.name for x in out):
            out.append(lab)
    return out


def available_labellers(info: ModelInfo, extra: Sequence[Labeller] = ()) -> list[Labeller]:
    """The labellers that know `info`'s domain (the ToyFaces one only for ToyFaces models). A labeller whose
    own check fails is left out rather than trusted."""
    out = []
    for lab in all_labellers(extra):
        try:
            fits = bool(lab.applies_to(info))
        except Exception:
            fits = False
        if fits:
            out.append(lab)
    return out


def find_labeller(info: ModelInfo, name: str | None = None, attribute: str | None = None) -> Labeller:
    """The labeller called `name` (case-insensitive) or, without a name, the first that scores `attribute`,
    among those for `info`; a clear error naming what there is otherwise."""
    offered = available_labellers(info)
    for lab in offered:
        if (name is None or lab.name.lower() == name.lower()) and (attribute is None or attribute in lab.attributes):
            return lab
    names = "; ".join(f"{x.name} ({', '.join(x.attributes)})" for x in offered) or "none"
    what = f"{name!r}" if name else "a labeller"
    raise LabellerError(f"{what}{f' scoring {attribute!r}' if attribute else ''} is not offered for "
                        f"{info.name or info.family} (labellers for it: {names}; others are in Help > Plugins)")
