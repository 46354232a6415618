"""An ONNX graph of a few hundred bytes that states a gigantic shape (ConstantOfShape, declared outputs) is
refused from what the file says, before ONNX Runtime allocates it (issue 26 item 1)."""
from __future__ import annotations

import resource

import numpy as np
import pytest

from studio.errors import CheckpointError
from studio.model.registry import Registry

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _graph(path, shape, image_dims=("N", 3, None, None)):
    """z [N, 16] -> image: a ConstantOfShape of `shape` times each row's sum of z (a valid, tiny generator)."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"],
                              value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("ReduceSum", ["z", "axes"], ["s"], keepdims=1),
             helper.make_node("Reshape", ["s", "column"], ["s4"]),
             helper.make_node("Mul", ["big", "s4"], ["image"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 16])],
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(image_dims))],
                          [numpy_helper.from_array(np.array(shape, np.int64), "shape"),
                           numpy_helper.from_array(np.array([1], np.int64), "axes"),
                           numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "column")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.fixture(scope="module")
def registry():
    return Registry.discover(search_paths=[])


def test_constant_of_huge_shape_is_refused_unrun(registry, tmp_path):
    path = _graph(tmp_path / "bomb.onnx", [1, 3, 30000, 30000])  # 10.8 GB of float32
    assert path.stat().st_size < 1000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with pytest.raises(CheckpointError) as exc:
        registry.open(path)
    assert ("bomb.onnx: ConstantOfShape 'big' with shape [1, 3, 30000, 30000] claims 2,700,000,000 elements, "
            "over the limit of 67,108,864 (set LATENT_STUDIO_MAX_ARRAY_ELEMENTS to raise it)") in str(exc.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before < 200


def test_declared_output_shape_is_checked(registry, tmp_path):
    path = _graph(tmp_path / "declared.onnx", [1, 3, 32, 32], image_dims=(1, 3, 100000, 100000))
    with pytest.raises(CheckpointError, match=r"tensor 'image' of shape \[1, 3, 100000, 100000\] claims "
                                              r"30,000,000,000 elements"):
        registry.open(path)


def test_the_same_graph_at_an_honest_size_opens(registry, tmp_path):
    g = registry.open(_graph(tmp_path / "small.onnx", [1, 3, 32, 32]))
    assert g.info.resolution == 32
