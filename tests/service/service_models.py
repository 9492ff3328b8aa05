"""Small ONNX models for the service tests, built with onnx.helper."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from graphopt.store.models import ModelRow


def small_model() -> bytes:
    """x[1,8] -> Identity -> Relu -> Add(b, b) -> y: one no-op for the pipeline to remove."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Add", ["b", "b"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "small", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def variant(seed: int) -> bytes:
    """``small_model`` with a distinct graph name: same behaviour, different sha256."""
    model = onnx.load_from_string(small_model())
    model.graph.name = f"small_{seed}"
    return model.SerializeToString()


def slow_model(iterations: int = 200_000_000) -> bytes:
    """A Loop that adds its input ``iterations`` times: onnxruntime takes minutes to run it,
    so verification keeps the job's sandboxed process busy (for cancel and crash tests)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body)],
        "slow",
        [x],
        [y],
        initializer=[
            helper.make_tensor("trip", TensorProto.INT64, [], [iterations]),
            helper.make_tensor("cond", TensorProto.BOOL, [], [True]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def model_row(model_id: str = "model_1", sha256: str = "0" * 64, size_bytes: int = 1) -> ModelRow:
    """A model's metadata row, for tests that write the store directly (no file behind it
    unless the test stores one under ``sha256``)."""
    return ModelRow(
        id=model_id,
        sha256=sha256,
        size_bytes=size_bytes,
        filename="m.onnx",
        kind="onnx",
        info={},
        stats={},
    )
