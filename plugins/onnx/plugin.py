"""Sniffing and loading ONNX generators: one graph (any exporter's), or our per-stage folders.

- ``NAME.onnx``: one graph with a latent input (N, z) or (N, z, 1, 1), an optional label input and an
  image output (N, C, H, W), C in {1, 3}. Output range is detected from a few latents unless declared in
  ``NAME.onnx.json``: ``{"range": [0, 1], "prior": "uniform", "name": ..., "z_dim": 512,
  "latent": "z", "label": "c", "output": "img", "num_classes": 10}`` (all optional).
- A folder written by ``latent-studio convert``: ``manifest.json`` (format ``latent-studio-onnx``), one
  graph per stage and ``model.onnx`` (the whole model). Opening the manifest or ``model.onnx`` runs the
  stages, so activations are cached and features are readable per layer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from latent_studio_plugins.onnx.header import looks_like_onnx
from studio.core import safe_json
from studio.errors import CheckpointError, StudioError, clipped
from studio.model.api import Generator, ModelInfo
from studio.model.probe import Probe

FAMILY = "onnx"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "latent-studio-onnx"
MANIFEST_VERSION = 1
RANGES = ((-1.0, 1.0), (0.0, 1.0), (0.0, 255.0))


class ONNXPlugin:
    name = "ONNX"
    formats = ".onnx generators (latent in, image out; optional NAME.onnx.json), convert folders"

    def sniff(self, probe: Probe) -> float:
        if looks_like_onnx(probe.head):
            return 0.9
        if probe.path.name == MANIFEST and probe.head.lstrip()[:1] == b"{":
            return 0.9 if read_manifest(probe.path, strict=False) is not None else 0.0
        return 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        path = Path(probe.path)
        manifest = read_manifest(path if path.name == MANIFEST else path.parent / MANIFEST, strict=True)
        listed = () if manifest is None else (manifest.get("whole"), manifest.get("mapping"),
                                              manifest.get("style_encoder"))
        if path.name == MANIFEST or (manifest is not None and path.name in listed):
            assert manifest is not None
            return load_stages(path.parent, manifest, device, probe.sha256)
        if not looks_like_onnx(probe.head):
            raise CheckpointError(f"{path.name} is not an ONNX model")
        return load_single(path, read_sidecar(path), device, probe.sha256)


    def export(self, g: Generator, out: Path, **options: Any) -> Any:
        """Export a torch generator to `out`/ (verified against torch; see latent_studio_plugins.onnx.export for the
        options): `latent-studio convert` reaches it through the registry."""
        from latent_studio_plugins.onnx.export import export_generator

        return export_generator(g, out, **options)

    def runtime_twin(self, g: Generator, folder: Path) -> Generator:
        """`g` run by ONNX Runtime: exported (and verified) into `folder` once, reopened from there.

        The render backend chooser finds this hook through the registry, so studio/render needs no import
        of this family."""
        from latent_studio_plugins.onnx.export import export_generator

        folder = Path(folder)
        manifest = folder / MANIFEST
        if read_manifest(manifest, strict=False) is None:
            export_generator(g, folder, force=folder.is_dir())
        # the checkpoint's id (recipes name the model, not the runtime); the engine's cache keys tell the
        # two runtimes apart
        return load_stages(folder, read_manifest(manifest, strict=True) or {}, g.device, g.model_id)


def read_sidecar(path: Path) -> dict[str, Any]:
    """NAME.onnx.json beside the model, validated; {} when there is none."""
    side = path.with_name(path.name + ".json")
    if not side.is_file():
        return {}
    data = safe_json.load(side, f"{side.name} beside the model", CheckpointError)
    if not isinstance(data, dict):
        raise CheckpointError(f"{side.name} must hold a JSON object")
    if "range" in data:
        data["range"] = _range(data["range"], side.name)
    if data.get("prior", "normal") not in ("normal", "uniform"):
        raise CheckpointError(f"{side.name}: prior must be \"normal\" or \"uniform\", not {data['prior']!r}")
    return data


def _range(value: Any, where: str) -> tuple[float, float]:
    if (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and value[0] < value[1]):
        return float(value[0]), float(value[1])
    raise CheckpointError(f"{where}: range must be two increasing numbers such as [0, 1], not {value!r}")


def read_manifest(path: Path, strict: bool) -> dict[str, Any] | None:
    """Our convert folder's manifest, or None when `path` is not one (strict: a broken one is an error)."""
    if not path.is_file():
        return None
    try:
        data = safe_json.load(path, str(path), CheckpointError)
    except CheckpointError:
        if strict and path.name == MANIFEST:
            raise
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    if data.get("version", 0) > MANIFEST_VERSION:
        raise CheckpointError(f"{path} was written by a newer Latent Studio (manifest version "
                              f"{data['version']}); update to open it")
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages or not all(
            isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("file"), str)
            and "/" not in s["file"] and "\\" not in s["file"] for s in stages):
        if strict:
            raise CheckpointError(f"{path}: 'stages' must list {{name, file}} entries in the same folder")
        return None
    return data


def load_single(path: Path, declared: dict[str, Any], device: torch.device, model_id: str) -> Generator:
    from latent_studio_plugins.onnx.graph import generator_io, read_graph

    io = read_graph(path)
    gio = generator_io(io, path.name, declared)
    stage, notes = _first_stage(path, path.stem, gio.latent, gio.label, gio.image.name, declared)
    return _finish([stage], io, gio.z_dim, declared, device, model_id, notes, path.stem,
                   f"ONNX opset {io.opset} ({io.producer})")


def load_stages(folder: Path, manifest: dict[str, Any], device: torch.device, model_id: str) -> Generator:
    from latent_studio_plugins.onnx.graph import first_stage_inputs, image_output, read_graph
    from latent_studio_plugins.onnx.generator import ORTStage
    from latent_studio_plugins.onnx.runtime import open_session

    if manifest.get("kind") == "translator":
        return load_translator(folder, manifest, device, model_id)
    if manifest.get("kind") == "stylegan":
        from latent_studio_plugins.onnx.stylegan import load_stylegan

        return load_stylegan(folder, manifest, device, model_id)
    if manifest.get("kind") == "stargan_v2":
        from latent_studio_plugins.onnx.stargan_v2 import load_stargan_v2

        return load_stargan_v2(folder, manifest, device, model_id)
    entries = manifest["stages"]
    stages: list[ORTStage] = []
    notes: list[str] = []
    z_dim, first_io = 0, None
    for i, entry in enumerate(entries):
        f = folder / entry["file"]
        if not f.is_file():
            raise CheckpointError(f"{folder.name}/{MANIFEST} lists {entry['file']}, which is missing")
        io = read_graph(f)
        last = i == len(entries) - 1
        out = image_output(io, f.name, {}).name if last else io.outputs[0].name
        if i == 0:
            first_io = io
            latent, z_dim, label = first_stage_inputs(io, f.name, {})
            stage, notes = _first_stage(f, entry["name"], latent, label, out, manifest)
        else:
            if len(io.inputs) != 1:
                raise CheckpointError(f"{f.name} is stage {i + 1} but takes {len(io.inputs)} inputs, not one")
            stage = ORTStage(entry["name"], open_session(f, notes), out)
        stages.append(stage)
    assert first_io is not None
    declared = {**manifest, "range": _range(manifest.get("range", [-1, 1]), MANIFEST)}
    info = manifest.get("info") or {}
    return _finish(stages, first_io, z_dim, declared, device, model_id, notes,
                   info.get("name") or folder.name,
                   f"Latent Studio ONNX export of a {manifest.get('family', '?')} model "
                   f"(opset {manifest.get('opset', first_io.opset)}, {len(stages)} stages)")


def load_translator(folder: Path, manifest: dict[str, Any], device: torch.device, model_id: str) -> Generator:
    """A photo translator exported by `latent-studio convert` (StarGAN v1): stages fed a photo and labels."""
    from latent_studio_plugins.onnx.generator import ORTStage
    from latent_studio_plugins.onnx.graph import read_graph
    from latent_studio_plugins.onnx.runtime import open_session
    from latent_studio_plugins.onnx.translator import IMAGE_INPUT, LABELS_INPUT, ONNXTranslator, photo_feeds, photo_key

    info = manifest.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("attributes"), list) \
            or not isinstance(info.get("resolution"), int):
        raise CheckpointError(f"{folder.name}/{MANIFEST} lacks the translator's attributes and resolution")
    stages, notes = [], []
    for i, entry in enumerate(manifest["stages"]):
        f = folder / entry["file"]
        if not f.is_file():
            raise CheckpointError(f"{folder.name}/{MANIFEST} lists {entry['file']}, which is missing")
        io = read_graph(f)
        want = [IMAGE_INPUT, LABELS_INPUT] if i == 0 else [io.inputs[0].name if io.inputs else "x"]
        if [t.name for t in io.inputs] != want or not io.outputs:
            raise CheckpointError(f"{f.name} takes {[t.name for t in io.inputs]}, not {want}")
        first = i == 0
        stages.append(ORTStage(entry["name"], open_session(f, notes), io.outputs[0].name,
                               first_feeds=photo_feeds if first else None,
                               reads=photo_key if first else None))
    names = tuple(str(a) for a in info["attributes"])
    model_info = ModelInfo(
        family=FAMILY, resolution=info["resolution"], channels=3, z_dim=0, attributes=names,
        format=f"Latent Studio ONNX export of a {manifest.get('family', '?')} translator "
               f"(opset {manifest.get('opset', '?')}, {len(stages)} stages)",
        layer_names=tuple(st.name for st in stages), name=str(info.get("name") or folder.name),
        capabilities=frozenset({"attributes", "translate", "features"}),
    )
    exclusive = [g for g in manifest.get("exclusive", []) if isinstance(g, list)
                 and all(isinstance(i, int) and 0 <= i < len(names) for i in g)]
    return ONNXTranslator(model_info, stages, device=device, model_id=model_id, notes=notes,
                          exclusive=exclusive, multiple=int(manifest.get("multiple", 4)))


def _first_stage(path: Path, name: str, latent: Any, label: Any, output: str,
                 declared: dict) -> tuple[Any, list]:
    from latent_studio_plugins.onnx.graph import FLOAT
    from latent_studio_plugins.onnx.generator import ORTStage
    from latent_studio_plugins.onnx.runtime import open_session

    notes: list[str] = []
    classes = 0
    if label is not None:
        classes = (label.dim(1) or 0) if label.elem_type == FLOAT else int(declared.get("num_classes") or 0)
        if not classes:
            raise CheckpointError(f"{path.name}: label input {label.name} takes a class index; declare the "
                                  f"number of classes as \"num_classes\" in {path.name}.json")
    return ORTStage(name, open_session(path, notes), output, latent, label, classes), notes


def _finish(stages: list, io: Any, z_dim: int, declared: dict[str, Any], device: torch.device, model_id: str,
            notes: list[str], name: str, fmt: str) -> Generator:
    from latent_studio_plugins.onnx.generator import ONNXGenerator, detect_range

    prior = declared.get("prior", "normal")
    try:
        seen_range, sample = detect_range(stages, z_dim, prior)
    except StudioError as exc:  # the run overran its time limit
        raise CheckpointError(f"{name}: {exc}") from None
    except Exception as exc:
        raise CheckpointError(f"{name}: onnxruntime could not run the graph on a latent of size {z_dim}: "
                              f"{clipped(str(exc).strip() or type(exc).__name__, 200)}") from None
    if sample.ndim != 4 or sample.shape[1] not in (1, 3):
        raise CheckpointError(f"{name}: the graph returned shape {tuple(sample.shape)}, "
                              "not images (N, 1|3, H, W)")
    out_range = declared.get("range")
    how = "declared"
    if out_range is None:
        out_range, how = seen_range, "detected"
    stages[-1].out_range = tuple(out_range)
    h, w = int(sample.shape[2]), int(sample.shape[3])
    label = stages[0].label
    c_dim = stages[0].num_classes if label is not None else 0
    multi = len(stages) > 1
    info = ModelInfo(
        family=FAMILY,
        format=f"{fmt}; output range [{out_range[0]:g}, {out_range[1]:g}] {how}"
               + ("" if h == w else f"; {h}x{w} px"),
        resolution=max(h, w), channels=int(sample.shape[1]), z_dim=z_dim, prior=prior, c_dim=c_dim,
        layer_names=tuple(s.name for s in stages),
        capabilities=frozenset({"walk", "features"} if multi else {"walk"}),
        name=str(declared.get("name") or name),
    )
    return ONNXGenerator(info, stages, device=device, model_id=model_id, notes=notes)
