"""What an ONNX generator graph takes and gives: its latent, label and image tensors, read from the graph.

Checked before any session is built, so a file that is not a generator (a classifier, a graph whose output
is not an image) gets a message naming what it has instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import CheckpointError, clipped

FLOAT, INT64, INT32 = 1, 7, 6  # onnx.TensorProto element types
LATENT_HINTS = ("z", "latent", "noise", "input")
LABEL_HINTS = ("label", "class", "c", "y", "cond")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    elem_type: int
    dims: tuple[int | str, ...]  # ints where fixed, the symbol (or "?") where dynamic

    @property
    def rank(self) -> int:
        return len(self.dims)

    def dim(self, i: int) -> int | None:
        d = self.dims[i]
        return d if isinstance(d, int) and d > 0 else None

    def describe(self) -> str:
        return f"{self.name} {tuple(self.dims)}"


@dataclass(frozen=True)
class GraphIO:
    """The graph's inputs (initializers excluded) and outputs, plus who made it."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    opset: int
    producer: str


def read_graph(path: Path) -> GraphIO:
    """Parse the graph structure only (weights stored outside the file are not read)."""
    onnx = require_onnx()
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError, truncated files, ...
        raise CheckpointError(f"{path.name} is not a readable ONNX model (corrupt or truncated: "
                              f"{_first_line(exc)})") from None
    g = model.graph
    if not g.node or not g.output:
        raise CheckpointError(f"{path.name} is not a readable ONNX model: its graph is empty")
    _check_claims(g, path.name)
    inits = {i.name for i in g.initializer}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p) or "unknown producer"
    return GraphIO(tuple(_spec(v) for v in g.input if v.name not in inits),
                   tuple(_spec(v) for v in g.output), int(opset), producer)


SHAPE_OPS = {"ConstantOfShape": 0, "Expand": 1, "Tile": 1}  # op -> its input holding the claimed shape


def _check_claims(g: Any, file: str) -> None:
    """Refuse, before any session allocates it, a graph whose declared tensor shapes or constant shapes
    (ConstantOfShape, Expand, Tile repeats) claim more elements than max_array_elements: a 1 kB graph can
    ask ORT for gigabytes. Only what is stated in the file is checked (shapes computed at run time are
    the run's time limit's business)."""
    import math

    from studio import budgets

    limit = budgets.current().max_array_elements

    def refuse(what: str, n: int) -> None:
        raise budgets.refuse(CheckpointError, f"{file}: {what}", f"{n:,} elements", f"{limit:,}",
                             "max_array_elements")

    for v in (*g.input, *g.output, *g.value_info):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim if d.HasField("dim_value") and d.dim_value > 0]
        if math.prod(dims) > limit:
            refuse(f"tensor {v.name!r} of shape {dims}", math.prod(dims))
    consts: dict[str, Any] = {t.name: t for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and node.output:
                    consts[node.output[0]] = attr.t
    for node in g.node:
        k = SHAPE_OPS.get(node.op_type)
        if k is None or len(node.input) <= k or node.input[k] not in consts:
            continue
        t = consts[node.input[k]]
        if t.data_type != INT64 or len(t.dims) != 1 or t.dims[0] > 16 or t.data_location == 1:
            continue
        from onnx import numpy_helper

        try:
            shape = [int(v) for v in numpy_helper.to_array(t)]
        except Exception:  # a malformed constant: ORT reports it in its own words
            continue
        n = math.prod(max(v, 1) for v in shape)
        if n > limit:
            refuse(f"{node.op_type} {node.name or node.output[0]!r} with shape {shape}", n)


def _spec(value_info: Any) -> TensorSpec:
    t = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim)
    return TensorSpec(value_info.name, int(t.elem_type), dims)


@dataclass(frozen=True)
class GeneratorIO:
    """The roles of a generator graph's tensors."""

    latent: TensorSpec
    z_dim: int
    label: TensorSpec | None
    image: TensorSpec


def generator_io(io: GraphIO, file: str, declared: dict[str, Any]) -> GeneratorIO:
    """Pick the latent, optional label and image tensors (names in the sidecar override the guesses)."""
    return GeneratorIO(*first_stage_inputs(io, file, declared), image_output(io, file, declared))


def first_stage_inputs(io: GraphIO, file: str,
                       declared: dict[str, Any]) -> tuple[TensorSpec, int, TensorSpec | None]:
    ins = list(io.inputs)
    listing = ", ".join(i.describe() for i in ins) or "none"
    if not 1 <= len(ins) <= 2:
        raise CheckpointError(f"{file} takes {len(ins)} inputs ({listing}); a generator takes a latent and "
                              "optionally a label")
    latent = _named(ins, declared.get("latent"), file) or _guess_latent(ins)
    if latent is None:
        raise CheckpointError(f"{file} has no latent input shaped (N, z) or (N, z, 1, 1) in float32 "
                              f"(inputs: {listing})")
    z_dim = latent.dim(1) or _int(declared.get("z_dim"))
    if not z_dim:
        raise CheckpointError(f"{file}: the latent size of input {latent.name} is not fixed in the graph; "
                              f"declare it as \"z_dim\" in {file}.json")
    rest = [i for i in ins if i is not latent]
    label = _named(rest, declared.get("label"), file) or (rest[0] if rest else None)
    if label is not None and not (label.elem_type == FLOAT and label.rank == 2
                                  or label.elem_type in (INT64, INT32) and label.rank in (1, 2)):
        raise CheckpointError(f"{file}: input {label.describe()} is neither a float (N, classes) label nor "
                              "an integer class index")
    return latent, z_dim, label


def image_output(io: GraphIO, file: str, declared: dict[str, Any]) -> TensorSpec:
    outs = list(io.outputs)
    image = (_named(outs, declared.get("output"), file)
             or next((o for o in outs if is_image(o) and o.dim(1)), None)  # channels fixed in the graph
             or next((o for o in outs if is_image(o)), None))
    if image is None or not is_image(image):
        listing = ", ".join(o.describe() for o in outs)
        raise CheckpointError(f"{file} has no image-like output (N, C, H, W) with 1 or 3 channels "
                              f"(outputs: {listing})")
    return image


def is_image(t: TensorSpec) -> bool:
    """Float (N, C, H, W) with C 1 or 3, or C not fixed in the graph (checked on the first run instead)."""
    return t.elem_type == FLOAT and t.rank == 4 and t.dim(1) in (1, 3, None)


def _guess_latent(ins: list[TensorSpec]) -> TensorSpec | None:
    cands = [i for i in ins if i.elem_type == FLOAT and (i.rank == 2 or i.rank == 4 and i.dims[2:] == (1, 1))]
    if len(cands) > 1:  # a float label (N, classes) also has rank 2: prefer a latent-like name
        named = [c for c in cands if c.name.lower() in LATENT_HINTS or "latent" in c.name.lower()]
        unlabelled = [c for c in cands if c.name.lower() not in LABEL_HINTS]
        cands = named or unlabelled or cands
    return cands[0] if cands else None


def _named(specs: list[TensorSpec], name: Any, file: str) -> TensorSpec | None:
    if name is None:
        return None
    hit = next((s for s in specs if s.name == name), None)
    if hit is None:
        raise CheckpointError(f"{file}.json names tensor {name!r}, which the graph does not have "
                              f"(it has {', '.join(s.name for s in specs) or 'none'})")
    return hit


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _first_line(exc: BaseException) -> str:
    return clipped(str(exc).strip() or type(exc).__name__, 200)


def require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise CheckpointError("opening ONNX files needs the onnx and onnxruntime packages: "
                              "pip install 'latent-studio[onnx]'") from None
    return onnx
