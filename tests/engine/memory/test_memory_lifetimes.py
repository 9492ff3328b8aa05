"""Tensor sizes and lifetimes: the conventions of docs/memory.md on tiny graphs."""

from __future__ import annotations

import onnx_ir as ir
from graphs import FLOAT, INT64, STRING, const, graph, make_model, node, vi
from memory_graphs import dag_model

from graphopt.engine.memory.lifetimes import collect_tensors, lifetimes, live_bytes
from graphopt.engine.memory.tensor_sizes import align, tensor_bytes


def _spans(model: ir.Model, alignment: int = 1) -> dict[str, tuple[int, int, int]]:
    tensors, _ = collect_tensors(model.graph, alignment)
    return {s.name: (s.first, s.last, s.size) for s in lifetimes(tensors, list(model.graph))}


def test_chain_lifetimes_run_from_producer_to_last_consumer() -> None:
    model = dag_model([("a", ["x"], 10), ("b", ["a"], 20), ("c", ["b", "a"], 5)], ["c"])
    assert _spans(model) == {"a": (0, 2, 40), "b": (1, 2, 80), "c": (2, 2, 20)}


def test_graph_output_lives_to_the_end_and_unused_output_only_at_its_step() -> None:
    model = dag_model(
        [("a", ["x"], 1), ("dead", ["a"], 3), ("b", ["a"], 1), ("c", ["b"], 1)], ["a", "c"]
    )
    spans = _spans(model)
    assert spans["a"] == (0, 3, 4)  # a graph output: live until the last step
    assert spans["dead"] == (1, 1, 12)


def test_inputs_initializers_and_constants_are_outside_the_arena() -> None:
    model = make_model(
        [const("k", [1.0, 2.0]), node("Add", ["x", "k"], ["y"]), node("Mul", ["y", "w"], ["z"])],
        [vi("x", [2])],
        [vi("z", [2])],
        [__import__("graphs").init("w", [3.0, 4.0], "float32")],
        value_info=[vi("y", [2])],
    )
    assert set(_spans(model)) == {"y", "z"}


def test_alignment_rounds_every_size_up() -> None:
    model = dag_model([("a", ["x"], 3), ("b", ["a"], 17)], ["b"])
    spans = _spans(model, alignment=64)
    assert spans["a"][2] == 64 and spans["b"][2] == 128
    assert align(0, 64) == 0 and align(64, 64) == 64 and align(65, 64) == 128


def test_unsized_tensors_are_listed_by_name_with_the_reason() -> None:
    model = make_model(
        [
            node("Relu", ["x"], ["sym"]),
            node("Shape", ["x"], ["shape"]),
            node("Identity", ["s"], ["text"]),
        ],
        [vi("x", ["batch", 3]), vi("s", [2], STRING)],
        [vi("sym", ["batch", 3]), vi("shape", [2], INT64), vi("text", [2], STRING)],
    )
    tensors, unplanned = collect_tensors(model.graph, 64)
    assert [t.name for t in tensors] == ["shape"]
    reasons = {u.name: u.reason for u in unplanned}
    assert reasons == {
        "sym": "dim 0 is symbolic 'batch'",
        "text": "dtype STRING has no fixed width",
    }


def test_tensor_bytes_of_sub_byte_and_unknown_values() -> None:
    value = ir.Value(name="v", type=ir.TensorType(ir.DataType.FLOAT16), shape=ir.Shape([3, 5]))
    assert tensor_bytes(value) == 30
    value = ir.Value(name="b", type=ir.TensorType(ir.DataType.INT4), shape=ir.Shape([3]))
    assert tensor_bytes(value) == 2
    assert tensor_bytes(ir.Value(name="n")) == "no type information"
    unknown_rank = ir.Value(name="r", type=ir.TensorType(ir.DataType.FLOAT))
    assert tensor_bytes(unknown_rank) == "unknown rank"


def test_a_value_read_inside_an_if_body_lives_until_the_if() -> None:
    then_branch = graph([node("Add", ["a", "a"], ["t"])], [], [vi("t", [4])], name="then")
    else_branch = graph([node("Neg", ["a"], ["e"])], [], [vi("e", [4])], name="else")
    model = make_model(
        [
            node("Relu", ["x"], ["a"]),
            node("ReduceSum", ["x"], ["s"], keepdims=0),
            node("Cast", ["s"], ["cond"], to=9),
            node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
        ],
        [vi("x", [4])],
        [vi("y", [4])],
        value_info=[vi("a", [4]), vi("s", []), vi("cond", [], 9)],
    )
    spans = _spans(model)
    assert spans["a"] == (0, 3, 16)  # read by the If's bodies only


def test_live_bytes_sums_the_spans_covering_each_step() -> None:
    model = dag_model([("a", ["x"], 1), ("b", ["a"], 2), ("c", ["b"], 4)], ["c"])
    tensors, _ = collect_tensors(model.graph, 1)
    assert live_bytes(lifetimes(tensors, list(model.graph)), 3) == [4, 12, 24]
    assert FLOAT == 1
