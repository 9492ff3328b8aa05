"""MACs, the cost model and the statistics of hand-built models and of a real ResNet-50."""

from __future__ import annotations

import math
from pathlib import Path

import onnx
import onnx_ir as ir
import pytest
from onnx import TensorProto, helper

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.graph_view import build_view, compute_stats, node_cost, node_macs
from graphopt.engine.inspection import model_stats

FLOAT = TensorProto.FLOAT


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] | None = None,
    functions: list[onnx.FunctionProto] | None = None,
    value_info: list[onnx.ValueInfoProto] | None = None,
) -> ir.Model:
    graph = helper.make_graph(
        nodes, "g", inputs, outputs, initializer=initializers or [], value_info=value_info or []
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)]
    proto = helper.make_model(graph, opset_imports=opsets, functions=functions or [])
    return ir.serde.deserialize_model(proto)


def _vi(name: str, shape: list[int | str] | None, elem: int = FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _single(
    op_type: str, shapes: list[list[int | str] | None], out: list[int | str] | None, **attrs: object
) -> ir.Node:
    """One node whose inputs ``i0, i1...`` have ``shapes`` and whose output has ``out``."""
    names = [f"i{k}" for k in range(len(shapes))]
    node = helper.make_node(op_type, names, ["o"], name="n", **attrs)
    inputs = [_vi(name, shape) for name, shape in zip(names, shapes, strict=True)]
    return _model([node], inputs, [_vi("o", out)]).graph.node(0)


def _relu(src: str, dst: str, name: str) -> onnx.NodeProto:
    return helper.make_node("Relu", [src], [dst], name=name)


def test_conv_macs() -> None:
    conv = _single("Conv", [[1, 3, 8, 8], [4, 3, 3, 3]], [1, 4, 8, 8], pads=[1, 1, 1, 1])
    assert node_macs(conv) == 1 * 4 * 8 * 8 * 3 * 3 * 3


def test_grouped_conv_macs() -> None:
    conv = _single("Conv", [[1, 4, 8, 8], [4, 1, 3, 3]], [1, 4, 6, 6], group=4)
    assert node_macs(conv) == 4 * 6 * 6 * 1 * 9


def test_conv_transpose_macs() -> None:
    deconv = _single("ConvTranspose", [[1, 2, 4, 4], [2, 3, 3, 3]], [1, 3, 6, 6])
    assert node_macs(deconv) == 2 * 4 * 4 * 3 * 9


def test_gemm_macs_respect_transposes() -> None:
    assert node_macs(_single("Gemm", [[2, 5], [3, 5]], [2, 3], transB=1)) == 2 * 3 * 5
    assert node_macs(_single("Gemm", [[5, 2], [5, 3]], [2, 3], transA=1)) == 2 * 3 * 5


def test_batched_matmul_of_two_activations() -> None:
    attention = _single("MatMul", [[2, 4, 8, 16], [2, 4, 16, 8]], [2, 4, 8, 8])
    assert node_macs(attention) == 2 * 4 * 8 * 8 * 16


def test_matmul_broadcast_and_vector_rules() -> None:
    assert node_macs(_single("MatMul", [[3, 1, 4, 5], [2, 5, 6]], [3, 2, 4, 6])) == 6 * 4 * 6 * 5
    assert node_macs(_single("MatMul", [[5], [5, 6]], [6])) == 30
    assert node_macs(_single("MatMul", [[4, 5], [5]], [4])) == 20
    assert node_macs(_single("MatMul", [[5], [5]], [])) == 5


def test_unknown_shapes_give_none_and_other_ops_zero() -> None:
    assert node_macs(_single("MatMul", [["B", 4, 5], [5, 6]], ["B", 4, 6])) is None
    assert node_macs(_single("Conv", [[1, 3, 8, 8], None], None)) is None
    assert node_macs(_single("Relu", [["B"]], ["B"])) == 0


def test_node_cost_model() -> None:
    assert node_cost(_single("MatMul", [[4, 5], [5, 6]], [4, 6])) == 120.0
    assert node_cost(_single("Relu", [[2, 3]], [2, 3])) == 6.0
    assert node_cost(_single("MatMul", [["B", 5], [5, 6]], [7, 6])) == 42.0
    assert node_cost(_single("Relu", [["B"]], ["B"])) == 1.0
    assert node_cost(_single("Relu", [[0, 3]], [0, 3])) == 1.0


def test_unknown_macs_are_counted() -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("MatMul", ["h", "w"], ["y"], name="mm2"),
    ]
    model = _model(
        nodes,
        [_vi("x", ["B", 4]), _vi("w", [4, 4])],
        [_vi("y", None)],
        value_info=[_vi("h", [1, 4])],
    )
    stats = compute_stats(model)
    assert stats.macs == 16
    assert stats.macs_unknown_nodes == 1


def _diamond() -> ir.Model:
    """a -> b1 -> b2 -> d and a -> c -> d, with c a MatMul costing 16 MACs."""
    nodes = [
        _relu("x", "ta", "a"),
        _relu("ta", "tb1", "b1"),
        _relu("tb1", "tb2", "b2"),
        helper.make_node("MatMul", ["ta", "w"], ["tc"], name="c"),
        helper.make_node("Add", ["tb2", "tc"], ["y"], name="d"),
    ]
    weight = helper.make_tensor("w", FLOAT, [4, 4], [0.0] * 16)
    shapes = [_vi(name, [1, 4]) for name in ("ta", "tb1", "tb2", "tc")]
    return _model(nodes, [_vi("x", [1, 4])], [_vi("y", [1, 4])], [weight], value_info=shapes)


def test_depth_and_critical_path_on_a_diamond() -> None:
    stats = compute_stats(_diamond())

    assert stats.depth == 4
    assert stats.critical_path == ["a", "c", "d"]
    assert stats.critical_path_cost == 4 + 16 + 4
    assert stats.total_cost == 4 * 4 + 16
    assert stats.parallelism == pytest.approx(32 / 24)
    assert stats.macs == 16
    assert stats.nodes == stats.main_graph_nodes == 5
    assert stats.op_histogram == {"Relu": 3, "MatMul": 1, "Add": 1}
    assert stats.initializers == 1
    assert (stats.params, stats.param_bytes) == (16, 64)


def test_parallelism_of_two_equal_branches() -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["l"], name="left"),
        helper.make_node("MatMul", ["x", "w"], ["r"], name="right"),
        helper.make_node("Add", ["l", "r"], ["y"], name="join"),
    ]
    weight = helper.make_tensor("w", FLOAT, [64, 64], [0.0] * 64 * 64)
    shapes = [_vi("l", [1, 64]), _vi("r", [1, 64])]
    stats = compute_stats(
        _model(nodes, [_vi("x", [1, 64])], [_vi("y", [1, 64])], [weight], value_info=shapes)
    )

    branch, join = 64 * 64, 64
    assert stats.total_cost == 2 * branch + join
    assert stats.critical_path_cost == branch + join
    assert stats.parallelism == pytest.approx((2 * branch + join) / (branch + join))
    assert stats.depth == 2


def test_subgraph_costs_are_attributed_to_their_owner() -> None:
    then_branch = helper.make_graph([_relu("x", "t", "neg")], "then", [], [_vi("t", [4])])
    else_branch = helper.make_graph(
        [_relu("x", "e1", "e1"), _relu("e1", "e", "e2")],
        "else",
        [],
        [_vi("e", [4])],
        value_info=[_vi("e1", [4])],
    )
    nodes = [
        _relu("a", "x", "first"),
        helper.make_node(
            "If", ["cond"], ["y"], name="if", then_branch=then_branch, else_branch=else_branch
        ),
    ]
    model = _model(
        nodes,
        [_vi("a", [4]), _vi("cond", [], TensorProto.BOOL)],
        [_vi("y", [4])],
        value_info=[_vi("x", [4])],
    )
    stats = compute_stats(model)

    assert (stats.nodes, stats.main_graph_nodes, stats.subgraphs) == (5, 2, 2)
    assert stats.op_histogram == {"Relu": 4, "If": 1}
    assert stats.depth == 2
    assert stats.critical_path == ["first", "if"]
    # first: 4 elements; if: its output (4) + then (4) + else (4 + 4)
    assert stats.total_cost == 4 + (4 + 4 + 4 + 4)
    assert stats.critical_path_cost == stats.total_cost
    assert stats.parallelism == 1.0


def test_function_calls_cost_their_body() -> None:
    body = [helper.make_node("Add", ["p", "q"], ["s"]), helper.make_node("Relu", ["s"], ["r"])]
    function = helper.make_function(
        "custom", "AddRelu", ["p", "q"], ["r"], body, [helper.make_opsetid("", 17)]
    )
    nodes = [
        helper.make_node("AddRelu", ["a", "b"], ["y"], name="call", domain="custom"),
        helper.make_node("FusedConv", ["y"], ["z"], name="fused", domain="com.microsoft"),
    ]
    model = _model(
        nodes,
        [_vi("a", [2]), _vi("b", [2])],
        [_vi("z", [2])],
        functions=[function],
        value_info=[_vi("y", [2])],
    )
    stats = compute_stats(model)

    assert (stats.nodes, stats.main_graph_nodes, stats.functions) == (4, 2, 1)
    assert stats.op_histogram == {
        "custom::AddRelu": 1,
        "com.microsoft::FusedConv": 1,
        "Add": 1,
        "Relu": 1,
    }
    # call: its output (2 elements) + the body's two ops of unknown shape (1 each); fused: 2
    assert stats.total_cost == (2 + 1 + 1) + 2
    assert stats.critical_path == ["call", "fused"]


def test_params_count_initializers_of_every_body_and_tensor_attributes() -> None:
    then_branch = helper.make_graph(
        [helper.make_node("Add", ["x", "k"], ["t"])],
        "then",
        [],
        [_vi("t", [3])],
        initializer=[helper.make_tensor("k", TensorProto.INT64, [3], [1, 2, 3])],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [_vi("e", [3])]
    )
    nodes = [
        helper.make_node(
            "Constant", [], ["x"], value=helper.make_tensor("v", FLOAT, [3], [0.0] * 3)
        ),
        helper.make_node(
            "Constant",
            [],
            ["s"],
            value=helper.make_tensor("c", TensorProto.STRING, [2], [b"ab", b"cde"]),
        ),
        helper.make_node(
            "If", ["cond"], ["y"], name="if", then_branch=then_branch, else_branch=else_branch
        ),
    ]
    weight = helper.make_tensor("w", TensorProto.FLOAT16, [2, 5], [0.0] * 10)
    model = _model(
        nodes,
        [_vi("cond", [], TensorProto.BOOL)],
        [_vi("y", [3]), _vi("s", [2], TensorProto.STRING)],
        [weight],
    )
    stats = compute_stats(model)

    assert stats.initializers == 2
    assert stats.params == 10 + 3 + 3 + 2
    assert stats.param_bytes == 10 * 2 + 3 * 8 + 3 * 4 + len(b"ab") + len(b"cde")


def test_stats_do_not_change_the_model() -> None:
    model = _diamond()
    before = ir.serde.serialize_model(model).SerializeToString()
    compute_stats(model)
    assert ir.serde.serialize_model(model).SerializeToString() == before


def test_model_stats_pin_and_infer_shapes_then_put_the_model_back() -> None:
    weight = helper.make_tensor("w", FLOAT, [8, 4], [0.5] * 32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), _relu("h", "y", "r")]
    model = _model(nodes, [_vi("x", ["batch", 8])], [_vi("y", None)], [weight])
    before = ir.serde.serialize_model(model).SerializeToString()

    stats = model_stats(model, {"x": [3, 8]})

    assert stats.macs == 3 * 8 * 4
    assert ir.serde.serialize_model(model).SerializeToString() == before
    assert model.graph.inputs[0].shape == ir.Shape(["batch", 8])
    assert model.graph.node(0).outputs[0].shape is None


def test_empty_graph() -> None:
    stats = compute_stats(_model([], [_vi("x", [2])], [_vi("x", [2])]))
    assert (stats.nodes, stats.depth, stats.critical_path) == (0, 0, [])
    assert (stats.total_cost, stats.critical_path_cost, stats.parallelism) == (0.0, 0.0, 1.0)


def test_critical_path_is_truncated() -> None:
    nodes = [_relu(f"t{i}", f"t{i + 1}", f"r{i}") for i in range(60)]
    stats = compute_stats(_model(nodes, [_vi("t0", [1])], [_vi("t60", [1])]))
    assert stats.depth == 60
    assert stats.critical_path == [f"r{i}" for i in range(50)]
    assert stats.critical_path_cost == 60.0


def test_a_cycle_is_a_graph_cycle_error() -> None:
    nodes = [
        helper.make_node("Add", ["x", "t1"], ["t0"], name="a"),
        _relu("t0", "t1", "b"),
    ]
    with pytest.raises(GraphoptError) as caught:
        compute_stats(_model(nodes, [_vi("x", [2])], [_vi("t1", [2])]))
    assert caught.value.code == ErrorCode.GRAPH_CYCLE
    assert sorted(caught.value.detail["nodes"]) == ["a", "b"]


@pytest.mark.slow
def test_fifty_thousand_nodes_in_a_chain() -> None:
    """A chain deeper than Python's recursion limit: the walks must not recurse per node
    (how fast this runs is measured in bench/, not here)."""
    nodes = [_relu(f"t{i}", f"t{i + 1}", f"r{i}") for i in range(50_000)]
    model = _model(nodes, [_vi("t0", [8])], [_vi("t50000", [8])])
    stats = compute_stats(model)
    assert stats.depth == 50_000
    assert stats.critical_path == [f"r{i}" for i in range(50)]


def _light_resnet50() -> onnx.ModelProto:
    path = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
    return onnx.shape_inference.infer_shapes(onnx.load(path))


def test_light_resnet50() -> None:
    proto = _light_resnet50()
    stats = compute_stats(ir.serde.deserialize_model(proto))

    assert 3.5e9 <= stats.macs <= 4.5e9
    assert stats.macs_unknown_nodes == 0
    assert stats.op_histogram["Conv"] == 53
    assert stats.nodes == stats.main_graph_nodes == len(proto.graph.node)
    assert stats.initializers == len(proto.graph.initializer)
    # The light model stores shapes, not weights: 269 small initializers plus one scalar
    # per ConstantOfShape node, which generates the ~25.5M real weights at run time.
    constant_of_shape = sum(1 for n in proto.graph.node if n.op_type == "ConstantOfShape")
    stored = sum(math.prod(t.dims) for t in proto.graph.initializer)
    assert stats.params == stored + constant_of_shape
    assert stats.params < 10_000
    assert 1.0 < stats.parallelism < 2.0
    assert stats.depth < stats.main_graph_nodes


def test_light_resnet50_generates_its_weights_with_constant_of_shape() -> None:
    view = build_view(ir.serde.deserialize_model(_light_resnet50()))
    generated = {
        data["tensor"]: math.prod(data["shape"])
        for source, _, data in view.edges(data=True)
        if view.nodes[source].get("op_type") == "ConstantOfShape"
    }
    assert 25.0e6 <= sum(generated.values()) <= 26.0e6
