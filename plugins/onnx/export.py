"""Exporting a loaded torch generator to ONNX: one graph per stage plus the whole model, verified.

The result opens in the ONNX family with the same stages (so caching and features keep working). Every
graph is checked against torch on random inputs at two batch sizes (the batch axis is dynamic); nothing
is written when any output differs by more than the tolerance. Files are written into a temporary folder
that is renamed into place at the end, so a failure leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import io
import json
import logging
import shutil
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from latent_studio_plugins.onnx.plugin import MANIFEST, MANIFEST_FORMAT, MANIFEST_VERSION
from studio.atomic import temp_path
from studio.export.ownership import empty_folder, listed_files, read_json
from studio.export.safe import ExportError as SafeExportError, commit_folder, replaceable
from studio.errors import StudioError, clipped
from studio.model.api import Generator, StageContext
from studio.model.fast_convt import AutoConvTranspose2d
from studio.model.modules import ModuleStage

OPSET = 18
TOLERANCE = 1e-4
WHOLE = "model.onnx"
VERIFY_BATCHES = (1, 5)


class ExportError(StudioError):
    """The model cannot be exported, or its export does not match torch."""


@dataclass
class ExportReport:
    folder: Path
    files: list[str]
    max_abs_error: float
    per_graph_error: dict[str, float] = field(default_factory=dict)
    exporter: str = ""


@dataclass
class Signature:
    """How the first graph is fed: input names, example tensors, dynamic axes, and how torch makes the
    stage context from the same tensors (for the whole-model reference)."""

    kind: str  # "generator" (latent in) or "translator" (photo and labels in)
    names: list[str]
    dynamic: dict[str, dict[int, str]]
    inner_dynamic: dict[int, str]  # axes of the tensors between stages
    example: Callable[[int, torch.Generator], tuple[Tensor, ...]]  # random inputs for a batch size
    context: Callable[..., StageContext]


def signature(g: Generator) -> tuple[list[nn.Module], Signature]:
    """The stage modules and how the first is fed, or why this generator cannot be exported."""
    family = g.info.family
    if getattr(g, "providers", None) is not None:
        raise ExportError("this model already runs on ONNX Runtime; convert the torch checkpoint it came from")
    if not g.stages or not all(isinstance(s, ModuleStage) for s in g.stages):
        raise ExportError(f"{family} models cannot be exported to ONNX yet: their stages are not plain "
                          "torch modules")
    first = g.stages[0]
    assert isinstance(first, ModuleStage)
    if first.input_fn is None:
        raise ExportError(f"{family}: the first stage has no input function")
    modules = [s.module for s in g.stages if isinstance(s, ModuleStage)]
    batch = {0: "batch"}
    if g.info.z_dim and "translate" not in g.info.capabilities:
        if type(first) is not ModuleStage or any(s.inputs(g.example_context()) for s in g.stages):
            raise ExportError(f"{family}: its stages read more than the latent; cannot export them")
        z_dim = g.info.z_dim
        return modules, Signature(
            "generator", ["z"], {"z": batch}, batch,
            lambda n, gen: (first.input_fn(StageContext(z=torch.randn(n, z_dim, generator=gen))),),
            lambda z: StageContext(z=z.reshape(z.shape[0], -1)))
    ex = g.example_context()
    images = [k for k, v in ex.extras.items() if isinstance(v, Tensor) and v.ndim == 4]
    if "translate" not in g.info.capabilities or len(images) != 1 or ex.c is None:
        raise ExportError(f"exporting {family} models to ONNX is not supported: the ONNX family opens "
                          "latent-to-image generators and photo-plus-labels translators")
    key, res, n_labels = images[0], g.info.resolution, int(ex.c.shape[1])
    spatial = {0: "batch", 2: "height", 3: "width"}

    def context(image: Tensor, labels: Tensor) -> StageContext:
        return replace(ex, c=labels, extras={**ex.extras, key: image})

    def example(n: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        return (torch.rand(n, 3, res, res, generator=gen) * 2 - 1,
                torch.randint(0, 2, (n, n_labels), generator=gen).float())

    return modules, Signature("translator", ["image", "labels"], {"image": spatial, "labels": batch}, spatial,
                              example, context)


class _FirstStage(nn.Module):
    """The first stage with its input function traced in (a translator's label planes)."""

    def __init__(self, module: nn.Module, input_fn: Callable[[StageContext], Tensor], sig: Signature):
        super().__init__()
        self.module = module
        self.input_fn = input_fn
        self.sig = sig

    def forward(self, first: Tensor, second: Tensor | None = None) -> Tensor:  # no *args: dynamo needs names
        if self.sig.kind == "generator":
            return self.module(first)
        return self.module(self.input_fn(self.sig.context(first, second)))


def plain_copy(modules: Sequence[nn.Module]) -> list[nn.Module]:
    """CPU copies with the fast path's AutoConvTranspose2d turned back into ConvTranspose2d, so exporters
    see plain ops (the subclass branches on the input shape in forward)."""
    copies = copy.deepcopy(nn.ModuleList(modules)).to("cpu").eval()
    for m in copies.modules():
        if type(m) is AutoConvTranspose2d:
            m.__class__ = nn.ConvTranspose2d
            for attr in ("_choice", "_folded"):
                m.__dict__.pop(attr, None)
    return list(copies)


def export_generator(g: Generator, out: Path, *, opset: int = OPSET, tolerance: float = TOLERANCE,
                     force: bool = False, seed: int = 0) -> ExportReport:
    """Write `out`/ (manifest.json, stage_NN.onnx per stage, model.onnx) for a torch generator."""
    if getattr(g, "providers", None) is None and isinstance(getattr(g, "net", None), nn.Module) \
            and g.has_w and hasattr(g, "synthesize"):  # StyleGAN: mapping and synthesis graphs
        from latent_studio_plugins.onnx.export_stylegan import export_stylegan

        return export_stylegan(g, out, opset=opset, tolerance=tolerance, force=force, seed=seed)
    if getattr(g, "providers", None) is None and isinstance(getattr(g, "style_encoder", None), nn.Module):
        from latent_studio_plugins.onnx.export_stargan_v2 import export_stargan_v2  # style networks + encoder/decoder

        return export_stargan_v2(g, out, opset=opset, tolerance=tolerance, force=force, seed=seed)
    out = Path(out).expanduser()
    check_target(out, force)
    modules, sig = signature(g)
    first_fn = g.stages[0].input_fn  # type: ignore[attr-defined]
    modules = plain_copy(modules)
    graphs = [_FirstStage(modules[0], first_fn, sig).eval()] + modules[1:]
    example = sig.example(3, torch.Generator().manual_seed(seed))

    with staged(out, force) as tmp:
        names, files, exporter = [], [], ""
        x: tuple[Tensor, ...] = example
        for i, (stage, module) in enumerate(zip(g.stages, graphs)):
            file = f"stage_{i:02d}.onnx"
            last = i == len(graphs) - 1
            in_names = sig.names if i == 0 else ["x"]
            in_axes = sig.dynamic if i == 0 else {"x": sig.inner_dynamic}
            exporter = _export(module, x, tmp / file, in_names, in_axes, "output" if last else "y",
                               sig.inner_dynamic, opset)
            files.append((file, module, x))
            names.append({"name": stage.name, "file": file})
            with torch.no_grad():
                x = (module(*x),)
        whole = nn.Sequential(*graphs[1:])
        whole_model = _Whole(graphs[0], whole).eval()
        _export(whole_model, example, tmp / WHOLE, sig.names, sig.dynamic, "output", sig.inner_dynamic, opset)
        errors = _verify(files, tmp, g, sig, seed)
        worst = check_tolerance(errors, tolerance)
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "kind": sig.kind, "family": g.info.family,
            "name": g.info.name, "prior": g.info.prior, "range": [-1, 1], "opset": opset,
            "exporter": exporter, "whole": WHOLE, "stages": names,
            "source": {"model_id": g.model_id, "format": g.info.format},
            "info": g.info.to_dict(),
            "verified": {"max_abs_error": worst, "tolerance": tolerance, "batch_sizes": list(VERIFY_BATCHES),
                         "per_graph": errors},
        }
        if sig.kind == "translator":
            manifest["exclusive"] = [list(e) for e in getattr(g, "exclusive_groups", ())]
            manifest["multiple"] = int(getattr(g, "multiple", 4))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    written = [n["file"] for n in names] + [WHOLE, MANIFEST]
    return ExportReport(out, written, worst, errors, exporter)


class _Whole(nn.Module):
    def __init__(self, first: nn.Module, rest: nn.Module):
        super().__init__()
        self.first = first
        self.rest = rest

    def forward(self, first: Tensor, second: Tensor | None = None) -> Tensor:
        return self.rest(self.first(first, second))


def _export(module: nn.Module, args: tuple[Tensor, ...], path: Path, in_names: list[str],
            in_axes: dict[str, dict[int, str]], out_name: str, out_axes: dict[int, str], opset: int,
            torchscript: bool = True) -> str:
    """TorchScript-based exporter first (fast, and exact for these convolutional nets), dynamo as fallback
    (or alone, with torchscript=False, for nets the old exporter is known to reject noisily)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if not torchscript:
                raise ExportError("skipped")
            torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset,
                              input_names=in_names, output_names=[out_name],
                              dynamic_axes={**in_axes, out_name: out_axes})
            return "torchscript"
        except Exception as first:
            try:
                dims = {name: torch.export.Dim(name) for axes in in_axes.values() for name in axes.values()}
                params = list(inspect.signature(module.forward).parameters)[:len(args)]
                shapes = {p: {a: dims[n] for a, n in in_axes[name].items()} for p, name in zip(params, in_names)}
                quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed" warnings
                level = quiet.level
                quiet.setLevel(logging.ERROR)
                try:
                    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
                        prog = torch.onnx.export(module, args, None, dynamo=True, opset_version=opset,
                                                 input_names=in_names, output_names=[out_name],
                                                 dynamic_shapes=shapes)
                finally:
                    quiet.setLevel(level)
                prog.save(str(path), external_data=False)
                return "dynamo"
            except Exception as second:
                raise ExportError(f"torch could not export {path.stem} to ONNX: {_line(first)}; "
                                  f"dynamo exporter: {_line(second)}") from None


def check_tolerance(errors: dict[str, float], tolerance: float) -> float:
    """The worst error; refuses the export when any graph differs from torch by more than `tolerance`."""
    worst = max(errors.values())
    if not worst <= tolerance:  # also refuses NaN
        bad = max(errors, key=lambda k: errors[k])
        raise ExportError(f"the ONNX export differs from torch by {worst:.3g} (in {bad}), above the "
                          f"tolerance {tolerance:g}; nothing was written")
    return worst


def _verify(graphs: list, folder: Path, g: Generator, sig: Signature, seed: int) -> dict[str, float]:
    """Max abs difference per graph between ONNX Runtime and torch on fresh random inputs.

    The whole model is compared with the loaded generator itself (its fast CPU path included), each stage
    with its plain module on a random input of the stage's shape."""
    from latent_studio_plugins.onnx.runtime import open_session

    gen = torch.Generator().manual_seed(seed + 1)
    errors: dict[str, float] = {}
    for file, module, example in [*graphs, (WHOLE, None, graphs[0][2])]:
        sess = open_session(folder / file)
        names = [i.name for i in sess.get_inputs()]
        worst = 0.0
        for n in VERIFY_BATCHES:
            if names == sig.names:
                inputs = sig.example(n, gen)
                if module is None:  # the whole model against the generator itself
                    ref = g.run(sig.context(*(t.to(g.device) for t in inputs)))
                else:
                    ref = _torch(module, *inputs)
            else:
                inputs = (torch.randn((n, *example[0].shape[1:]), generator=gen),)
                ref = _torch(module, *inputs)
            got = sess.run(None, {k: t.numpy() for k, t in zip(names, inputs)})[0]
            ref_np = ref.detach().cpu().float().numpy()
            if got.shape != ref_np.shape:
                raise ExportError(f"{file} returned shape {got.shape} for batch {n}, torch {ref_np.shape}")
            worst = max(worst, float(np.abs(got - ref_np).max()))
        errors[file] = worst
    return errors


def _torch(module: nn.Module, *x: Tensor) -> Tensor:
    with torch.inference_mode():
        return module(*x)


def check_target(out: Path, force: bool) -> None:
    """Refuse up front what the final rename would refuse, before any exporting work: an existing folder is
    filled when empty, replaced (`force`) only when it holds nothing but an earlier convert's files."""
    if (out.exists() or out.is_symlink()) and not empty_folder(out):
        if not (force and out.is_dir() and not out.is_symlink()):
            raise ExportError(f"{out} already exists" + (" (use --force to replace it)" if out.is_dir() else ""))
        try:
            replaceable(out, own_files(out))
        except SafeExportError as exc:
            raise ExportError(str(exc)) from None
    if not out.parent.is_dir():
        raise ExportError(f"cannot write {out}: folder {out.parent} does not exist")


def own_files(folder: Path) -> Callable[[Path], bool]:
    """What an earlier convert wrote in `folder`: its manifest and the graphs it names (with their external
    data files); nothing when the manifest is not ours."""
    data = read_json(Path(folder) / MANIFEST)
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return listed_files(())
    graphs: list[str] = []

    def collect(v: object) -> None:
        if isinstance(v, str) and v.endswith(".onnx") and "/" not in v and "\\" not in v:
            graphs.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                collect(x)
        elif isinstance(v, list):
            for x in v:
                collect(x)

    collect(data)
    return listed_files([MANIFEST, *graphs, *(g + ".data" for g in graphs)])


@contextlib.contextmanager
def staged(out: Path, force: bool) -> Iterator[Path]:
    """A temporary sibling folder that becomes `out` only when the body succeeds: a failed or killed
    export leaves nothing under the final name."""
    check_target(out, force)
    tmp = temp_path(out)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        try:  # checked again now: files put in `out` while exporting are never deleted
            commit_folder(tmp, out, force, own_files(out))
        except SafeExportError as exc:
            raise ExportError(str(exc)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify_graph(path: Path, inputs: Callable[[int], tuple[Tensor, ...]],
                 reference: Callable[..., Tensor]) -> float:
    """Max abs difference between ONNX Runtime running `path` and torch's `reference` on the same inputs,
    at each verification batch size."""
    from latent_studio_plugins.onnx.runtime import open_session

    sess = open_session(path)
    names = [i.name for i in sess.get_inputs()]
    worst = 0.0
    for n in VERIFY_BATCHES:
        x = inputs(n)
        with torch.inference_mode():
            ref = reference(*x).detach().cpu().float().numpy()
        got = sess.run(None, {k: t.numpy() for k, t in zip(names, x)})[0]
        if got.shape != ref.shape:
            raise ExportError(f"{path.name} returned shape {got.shape} for batch {n}, torch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def _line(exc: BaseException) -> str:
    return clipped(str(exc).strip() or type(exc).__name__, 200)
