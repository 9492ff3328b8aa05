"""Rewriting external-data locations without onnx: initializers, attribute tensors and
subgraph initializers all follow the renamed data file, and the model still runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from graphopt_client._external_data import relocate_external_data


def _model() -> onnx.ModelProto:
    """y = If(cond, then: (x @ w + c) + k, else: x), with k inside the then-branch."""
    row = helper.make_tensor_value_info
    then = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["m"]),
            helper.make_node(
                "Constant",
                [],
                ["c"],
                value=numpy_helper.from_array(np.full((1, 64), 2, np.float32)),
            ),
            helper.make_node("Add", ["m", "c"], ["a"]),
            helper.make_node("Add", ["a", "k"], ["t"]),
        ],
        "then",
        [],
        [row("t", TensorProto.FLOAT, [1, 64])],
        initializer=[numpy_helper.from_array(np.full((1, 64), 5, np.float32), "k")],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"])],
        "else",
        [],
        [row("e", TensorProto.FLOAT, [1, 64])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)],
        "g",
        [row("x", TensorProto.FLOAT, [1, 64]), row("cond", TensorProto.BOOL, [])],
        [row("y", TensorProto.FLOAT, [1, 64])],
        initializer=[numpy_helper.from_array(np.eye(64, dtype=np.float32) * 3, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _locations(model: onnx.ModelProto) -> list[str]:
    """The location of every external tensor (main graph, attributes, subgraphs)."""
    from onnx.external_data_helper import _get_all_tensors

    tensors = _get_all_tensors(model)
    return [e.value for t in tensors for e in t.external_data if e.key == "location"]


def test_every_tensor_follows_the_renamed_data_file(tmp_path: Path) -> None:
    onnx.save(
        _model(),
        tmp_path / "optimized.onnx",
        save_as_external_data=True,
        location="optimized.onnx.data",
        size_threshold=0,
        convert_attribute=True,
    )
    original = onnx.load(tmp_path / "optimized.onnx", load_external_data=False)
    assert _locations(original) == ["optimized.onnx.data"] * 3  # w, the Constant's value, k
    (tmp_path / "optimized.onnx").rename(tmp_path / "out.onnx")
    (tmp_path / "optimized.onnx.data").rename(tmp_path / "out.onnx.data")
    relocate_external_data(tmp_path / "out.onnx", "optimized.onnx.data", "out.onnx.data")
    relocated = onnx.load(tmp_path / "out.onnx", load_external_data=False)
    assert _locations(relocated) == ["out.onnx.data"] * 3
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "out.onnx"))
    (y,) = session.run(None, {"x": x, "cond": np.array(True)})
    np.testing.assert_allclose(y, x * 3 + 7, rtol=1e-5)
