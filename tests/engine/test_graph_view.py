"""The networkx view of a model and its node-link JSON and GraphML exports."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import onnx
import onnx_ir as ir
from onnx import TensorProto, helper

from graphopt.engine.graph_view import build_view, to_node_link, write_graphml
from graphopt.engine.graph_view.view import op_ids

FLOAT = TensorProto.FLOAT


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] | None = None,
    functions: list[onnx.FunctionProto] | None = None,
) -> ir.Model:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers or [])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)]
    proto = helper.make_model(graph, opset_imports=opsets, functions=functions or [])
    return ir.serde.deserialize_model(proto)


def _vi(name: str, shape: list[int | str] | None, elem: int = FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _conv_relu() -> ir.Model:
    weight = helper.make_tensor("w", FLOAT, [4, 3, 3, 3], [0.0] * 108)
    bias = helper.make_tensor("b", FLOAT, [4], [0.0] * 4)
    conv = helper.make_node(
        "Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]
    )
    relu = helper.make_node("Relu", ["c"], ["y"])
    return _model(
        [conv, relu],
        [_vi("x", [1, 3, 8, 8])],
        [_vi("y", [1, 4, 8, 8])],
        [weight, bias],
    )


def _if_model() -> ir.Model:
    """``relu`` feeds an If whose then-branch reads ``x`` and ``w`` and whose else-branch
    returns ``x`` itself (a graph output naming an outer value)."""
    then_branch = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["t"], name="add")], "then", [], [_vi("t", [2])]
    )
    else_branch = helper.make_graph([], "else", [], [_vi("x", [2])])
    nodes = [
        helper.make_node("Relu", ["a"], ["x"], name="relu"),
        helper.make_node(
            "If", ["cond"], ["y"], name="if", then_branch=then_branch, else_branch=else_branch
        ),
    ]
    return _model(
        nodes,
        [_vi("a", [2]), _vi("cond", [], TensorProto.BOOL)],
        [_vi("y", [2])],
        [helper.make_tensor("w", FLOAT, [2], [1.0, 2.0])],
    )


def _function_model() -> ir.Model:
    body = [
        helper.make_node("Add", ["p", "q"], ["s"], name="sum"),
        helper.make_node("LeakyRelu", ["s"], ["r"], name="act"),
    ]
    body[1].attribute.append(helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT))
    function = helper.make_function(
        "custom",
        "AddAct",
        ["p", "q"],
        ["r"],
        body,
        [helper.make_opsetid("", 17)],
        attributes=["alpha"],
    )
    call = helper.make_node("AddAct", ["a", "b"], ["y"], name="call", domain="custom", alpha=0.1)
    return _model([call], [_vi("a", [2]), _vi("b", [2])], [_vi("y", [2])], functions=[function])


def test_nodes_edges_and_their_attributes() -> None:
    view = build_view(_conv_relu())

    assert set(view.nodes) == {
        "input:x",
        "initializer:w",
        "initializer:b",
        "conv",
        "Relu_1",
        "output:y",
    }
    assert view.number_of_edges() == 5
    conv = view.nodes["conv"]
    assert conv["kind"] == "op"
    assert (conv["op_type"], conv["domain"], conv["name"], conv["index"]) == ("Conv", "", "conv", 0)
    assert conv["attributes"] == {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    assert view.nodes["initializer:w"] == {
        "kind": "initializer",
        "name": "w",
        "dtype": "FLOAT",
        "shape": [4, 3, 3, 3],
        "bytes": 432,
    }
    assert view.nodes["output:y"]["kind"] == "output"

    assert list(view.get_edge_data("input:x", "conv").values()) == [
        {"tensor": "x", "dtype": "FLOAT", "shape": [1, 3, 8, 8], "bytes": 768, "slot": 0}
    ]
    assert [d["slot"] for d in view.get_edge_data("initializer:b", "conv").values()] == [2]
    assert [d["slot"] for d in view.get_edge_data("Relu_1", "output:y").values()] == [0]
    assert view.graph["name"] == "g"
    assert view.graph["opset"] == {"": 17, "custom": 1}
    assert view.graph["functions"] == {}


def test_one_edge_per_input_slot() -> None:
    add = helper.make_node("Add", ["x", "x"], ["y"], name="add")
    view = build_view(_model([add], [_vi("x", ["N", 3])], [_vi("y", ["N", 3])]))

    uses = view.get_edge_data("input:x", "add")
    assert sorted(d["slot"] for d in uses.values()) == [0, 1]
    assert all(d["shape"] == ["N", 3] and d["bytes"] is None for d in uses.values())


def _clashing_names() -> list[onnx.NodeProto]:
    """x -> d through four Relus: two named alike, one named like a generated id, one
    like the input's pseudo-node."""
    return [
        helper.make_node("Relu", ["x"], ["a"], name="dup"),
        helper.make_node("Relu", ["a"], ["b"], name="dup"),
        helper.make_node("Relu", ["b"], ["c"], name="Relu_0"),
        helper.make_node("Relu", ["c"], ["d"], name="input:x"),
    ]


def test_ids_are_unique_when_names_repeat_or_clash() -> None:
    nodes = [*_clashing_names(), helper.make_node("Relu", ["d"], ["y"])]
    view = build_view(_model(nodes, [_vi("x", [1])], [_vi("y", [1])]))

    ops = [n for n, d in view.nodes(data=True) if d["kind"] == "op"]
    assert ops == ["Relu_0", "Relu_1", "Relu_0~1", "input:x~1", "Relu_4"]
    assert view.nodes["input:x"]["kind"] == "input"


def test_op_ids_without_the_view_are_the_views() -> None:
    nodes = [
        *_clashing_names(),
        helper.make_node("Add", ["d", "w"], ["e"], name="initializer:w"),
        helper.make_node("Relu", ["e"], ["y"]),
    ]
    init = helper.make_tensor("w", FLOAT, [1], [1.0])
    model = _model(nodes, [_vi("x", [1])], [_vi("y", [1])], [init])
    view = build_view(model)

    ops = [n for n, d in view.nodes(data=True) if d["kind"] == "op"]
    assert op_ids(model.graph) == ops
    assert ops[3:5] == ["input:x~1", "initializer:w~1"]


def test_initializer_listed_as_input_and_tensor_attributes() -> None:
    init = helper.make_tensor("w", FLOAT, [2], [1.0, 2.0])
    constant = helper.make_node(
        "Constant", [], ["k"], name="k", value=helper.make_tensor("v", FLOAT, [2, 2], [0.0] * 4)
    )
    add = helper.make_node("Add", ["w", "k"], ["y"], name="add")
    view = build_view(_model([constant, add], [_vi("w", [2])], [_vi("y", [2, 2])], [init]))

    assert view.nodes["input:w"]["kind"] == "input"
    assert view.nodes["input:w"]["initializer"] is True
    assert "initializer:w" not in view
    assert view.nodes["k"]["attributes"] == {"value": {"dtype": "FLOAT", "shape": [2, 2]}}


def test_if_bodies_are_nested_views_with_capture_edges() -> None:
    view = build_view(_if_model())

    owner = view.nodes["if"]
    assert owner["attributes"] == {
        "then_branch": "if/then_branch/0",
        "else_branch": "if/else_branch/0",
    }
    then_view = owner["subgraphs"]["then_branch"][0]
    else_view = owner["subgraphs"]["else_branch"][0]
    assert then_view.graph["id"] == "if/then_branch/0"
    assert set(then_view.nodes) == {"add", "outer:x", "outer:w", "output:t"}
    assert then_view.nodes["outer:w"]["kind"] == "input"
    assert then_view.nodes["outer:w"]["outer"] is True
    assert [d["slot"] for _, _, d in then_view.in_edges("add", data=True)] == [0, 1]
    assert set(else_view.edges()) == {("outer:x", "output:x")}

    captures = {
        (source, d["tensor"]) for source, _, d in view.in_edges("if", data=True) if d.get("capture")
    }
    assert captures == {("relu", "x"), ("initializer:w", "w")}
    assert not [n for n in view if n.startswith("outer:")]
    assert all(d["slot"] is None for *_, d in view.in_edges("if", data=True) if d.get("capture"))


def test_captures_propagate_through_nested_bodies() -> None:
    inner_then = helper.make_graph(
        [helper.make_node("Neg", ["a"], ["n"], name="neg")], "inner_then", [], [_vi("n", [2])]
    )
    inner_else = helper.make_graph(
        [helper.make_node("Abs", ["a"], ["m"], name="abs")], "inner_else", [], [_vi("m", [2])]
    )
    inner_if = helper.make_node(
        "If", ["cond"], ["z"], name="inner", then_branch=inner_then, else_branch=inner_else
    )
    outer_then = helper.make_graph([inner_if], "outer_then", [], [_vi("z", [2])])
    outer_else = helper.make_graph(
        [helper.make_node("Identity", ["a"], ["i"], name="id")], "outer_else", [], [_vi("i", [2])]
    )
    outer_if = helper.make_node(
        "If", ["cond"], ["y"], name="outer", then_branch=outer_then, else_branch=outer_else
    )
    view = build_view(
        _model([outer_if], [_vi("a", [2]), _vi("cond", [], TensorProto.BOOL)], [_vi("y", [2])])
    )

    captured = {
        (s, d["tensor"]) for s, _, d in view.in_edges("outer", data=True) if d.get("capture")
    }
    assert captured == {("input:a", "a"), ("input:cond", "cond")}
    then_view = view.nodes["outer"]["subgraphs"]["then_branch"][0]
    assert {s for s, _, d in then_view.in_edges("inner", data=True) if d.get("capture")} == {
        "outer:a"
    }
    deepest = then_view.nodes["inner"]["subgraphs"]["then_branch"][0]
    assert deepest.graph["id"] == "outer/then_branch/0/inner/then_branch/0"
    assert set(deepest.nodes) == {"neg", "outer:a", "output:n"}


def test_functions_are_nested_views() -> None:
    view = build_view(_function_model())

    assert list(view.graph["functions"]) == ["custom::AddAct"]
    function = view.graph["functions"]["custom::AddAct"]
    assert function.graph["id"] == "function:custom::AddAct"
    assert set(function.nodes) == {"input:p", "input:q", "sum", "act", "output:r"}
    assert function.nodes["act"]["attributes"] == {"alpha": {"ref": "alpha"}}
    assert view.nodes["call"]["domain"] == "custom"
    assert view.nodes["call"]["attributes"] == {"alpha": 0.10000000149011612}


def test_view_does_not_change_the_model() -> None:
    model = _if_model()
    before = ir.serde.serialize_model(model).SerializeToString()
    build_view(model)
    assert ir.serde.serialize_model(model).SerializeToString() == before


def test_node_link_json_round_trip() -> None:
    model = _if_model()
    view = build_view(model)

    data = json.loads(json.dumps(to_node_link(view)))
    loaded = nx.node_link_graph(data, edges="edges")

    assert set(loaded.nodes) == set(view.nodes)
    assert loaded.number_of_edges() == view.number_of_edges()
    assert isinstance(view.nodes["if"]["subgraphs"]["then_branch"][0], nx.MultiDiGraph)
    then_data = loaded.nodes["if"]["subgraphs"]["then_branch"][0]
    then_view = nx.node_link_graph(then_data, edges="edges")
    assert set(then_view.nodes) == {"add", "outer:x", "outer:w", "output:t"}
    assert then_view.graph["id"] == "if/then_branch/0"


def test_node_link_of_functions_is_json() -> None:
    data = json.loads(json.dumps(to_node_link(build_view(_function_model()))))
    function = nx.node_link_graph(data["graph"]["functions"]["custom::AddAct"], edges="edges")
    assert set(function.nodes) == {"input:p", "input:q", "sum", "act", "output:r"}


def test_graphml_round_trip_flattens_nested_views(tmp_path: Path) -> None:
    path = tmp_path / "if.graphml"
    write_graphml(build_view(_if_model()), path)

    loaded = nx.read_graphml(path)
    assert {"relu", "if", "input:a", "output:y"} <= set(loaded.nodes)
    assert loaded.nodes["if/then_branch/0/add"]["parent"] == "if"
    assert loaded.nodes["if/else_branch/0/outer:x"]["parent"] == "if"
    assert loaded.has_edge("if/then_branch/0/outer:w", "if/then_branch/0/add")
    assert json.loads(loaded.nodes["if"]["attributes"])["then_branch"] == "if/then_branch/0"
    assert json.loads(loaded.nodes["input:a"]["shape"]) == [2]
    assert loaded.nodes["input:a"]["bytes"] == 8
    assert "slot" not in loaded.edges["initializer:w", "if", 0]
    assert loaded.edges["initializer:w", "if", 0]["capture"] is True


def test_graphml_holds_function_bodies(tmp_path: Path) -> None:
    path = tmp_path / "function.graphml"
    write_graphml(build_view(_function_model()), path)

    loaded = nx.read_graphml(path)
    node = loaded.nodes["function:custom::AddAct/act"]
    assert node["function"] == "custom::AddAct"
    assert json.loads(node["attributes"]) == {"alpha": {"ref": "alpha"}}
    assert json.loads(loaded.graph["opset"]) == {"": 17, "custom": 1}
