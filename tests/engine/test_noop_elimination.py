"""``noop_elimination``: every rule of ``NOOP_RULES`` removes its no-op form and keeps the rest.

Each case is checked structurally (which node went, which names stayed, the record's counts)
and numerically (original and transformed run in onnxruntime on the same random inputs,
outputs compared exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import pytest
from graphs import (
    BOOL,
    DOUBLE,
    FLOAT,
    INT64,
    INT64_MAX,
    apply_one,
    assert_equivalent,
    check,
    counts,
    function,
    graph,
    init,
    make_model,
    node,
    op_types,
    output_names,
    random_feeds,
    run,
    vi,
)

from graphopt.engine.passes.cleanup.noop_rules import NOOP_RULES

PASS = "noop_elimination"


@dataclass
class Case:
    """``b = <op>(x, <consts>)`` then ``y = Neg(b)``; ``x`` is the graph input."""

    id: str
    op: str
    extra_inputs: list[Any] = field(default_factory=list)  # arrays (initializers) or None
    attrs: dict[str, Any] = field(default_factory=dict)
    shape: list[int | str] = field(default_factory=lambda: [2, 3, 4])
    elem: int = FLOAT
    opset: int = 17
    n_outputs: int = 1
    out_elem: int | None = None  # the output's type when it is not the input's


def _i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _f32(shape: list[int], fill: float) -> np.ndarray:
    return np.full(shape, fill, dtype=np.float32)


def build(case: Case) -> onnx.ModelProto | Any:
    names = ["x"]
    inits = []
    for k, value in enumerate(case.extra_inputs):
        if value is None:
            names.append("")
            continue
        names.append(f"c{k}")
        inits.append(init(f"c{k}", value))
    outs = ["b"] + [f"b{k}" for k in range(1, case.n_outputs)]
    nodes = [node(case.op, names, outs, **case.attrs), node("Neg", ["b"], ["y"])]
    return make_model(
        nodes,
        [vi("x", case.shape, case.elem)],
        [vi("y", None, case.out_elem or case.elem)],
        inits,
        opset=case.opset,
    )


POSITIVE = [
    Case("Identity", "Identity"),
    Case("Concat-single", "Concat", attrs={"axis": 1}),
    Case("Sum-single", "Sum"),
    Case("Max-single", "Max"),
    Case("Min-single", "Min"),
    Case("Mean-single", "Mean"),
    Case("Dropout-plain", "Dropout"),
    Case("Dropout-unused-mask", "Dropout", n_outputs=2),
    Case(
        "Dropout-training-false",
        "Dropout",
        [np.array(0.5, np.float32), np.array(False)],
        n_outputs=2,
    ),
    Case("Dropout-opset7", "Dropout", opset=7),
    Case("Cast-same", "Cast", attrs={"to": FLOAT}),
    Case("Cast-same-int", "Cast", attrs={"to": INT64}, elem=INT64),
    Case("CastLike-same", "CastLike", [np.zeros([1], np.float32)]),
    Case("Reshape-same", "Reshape", [_i64(2, 3, 4)]),
    Case("Reshape-zero-minus-one", "Reshape", [_i64(0, -1, 4)]),
    Case("Flatten-2d", "Flatten", attrs={"axis": 1}, shape=[2, 12]),
    Case("Flatten-neg-axis", "Flatten", attrs={"axis": -1}, shape=[6, 1]),
    Case("Squeeze-no-ones", "Squeeze"),
    Case("Squeeze-opset11", "Squeeze", opset=11),
    Case("Expand-same", "Expand", [_i64(2, 3, 4)]),
    Case("Expand-ones-fewer-dims", "Expand", [_i64(1, 4)]),
    Case("Expand-symbolic", "Expand", [_i64(1, 3, 4)], shape=["N", 3, 4]),
    Case("Tile-ones", "Tile", [_i64(1, 1, 1)]),
    Case("Transpose-identity", "Transpose", attrs={"perm": [0, 1, 2]}),
    Case("Transpose-rank1", "Transpose", shape=[5]),
    Case("Pad-zeros", "Pad", [_i64(0, 0, 0, 0, 0, 0)]),
    Case("Pad-zeros-reflect", "Pad", [_i64(0, 0, 0, 0, 0, 0)], attrs={"mode": "reflect"}),
    Case("Slice-all", "Slice", [_i64(0), _i64(INT64_MAX), _i64(1), _i64(1)]),
    Case("Slice-negative-start", "Slice", [_i64(-3, 0), _i64(3, 100), _i64(-2, 2)]),
    Case("Slice-symbolic", "Slice", [_i64(0), _i64(INT64_MAX), _i64(0)], shape=["N", 3, 4]),
    Case("Slice-opset9", "Slice", attrs={"starts": [0], "ends": [10], "axes": [2]}, opset=9),
    Case("Split-single", "Split", attrs={"axis": 1}),
    Case("Add-zero", "Add", [np.zeros([4], np.float32)]),
    Case("Add-zero-left", "Add", [np.zeros([1, 1, 1], np.float32)]),  # c0 + x, see build
    Case("Add-zero-int", "Add", [np.zeros([], np.int64)], elem=INT64),
    Case("Sub-zero", "Sub", [np.zeros([], np.float32)]),
    Case("Mul-one", "Mul", [_f32([3, 4], 1.0)]),
    Case("Mul-one-symbolic", "Mul", [_f32([1, 4], 1.0)], shape=["N", 3, 4]),
    Case("Div-one", "Div", [_f32([3, 1], 1.0)]),
]

NEGATIVE = [
    Case("Reshape-other-shape", "Reshape", [_i64(3, 2, 4)]),
    Case("Reshape-dynamic-input", "Reshape", [_i64(-1, 3, 4)], shape=["N", 3, 4]),
    Case("Slice-step-minus-one", "Slice", [_i64(-1), _i64(-INT64_MAX), _i64(1), _i64(-1)]),
    Case("Slice-partial", "Slice", [_i64(1), _i64(3), _i64(1)]),
    Case("Slice-step-two", "Slice", [_i64(0), _i64(INT64_MAX), _i64(2), _i64(2)]),
    Case("Slice-symbolic-bounded", "Slice", [_i64(0), _i64(1000), _i64(0)], shape=["N", 3, 4]),
    Case("Pad-plus-minus-one", "Pad", [_i64(0, 1, 0, 0, -1, 0)]),
    Case("Transpose-perm", "Transpose", attrs={"perm": [0, 2, 1]}),
    Case("Transpose-no-perm-rank3", "Transpose"),
    Case("Expand-broadcasts", "Expand", [_i64(2, 3, 4)], shape=[2, 1, 4]),
    Case("Expand-higher-rank", "Expand", [_i64(5, 2, 3, 4)]),
    Case("Expand-symbolic-dim", "Expand", [_i64(2, 3, 4)], shape=["N", 3, 4]),
    Case("Tile-repeats", "Tile", [_i64(1, 2, 1)]),
    Case("Mul-one-broadcasts-x", "Mul", [_f32([2, 3, 4], 1.0)], shape=[2, 1, 4]),
    Case("Mul-one-higher-rank", "Mul", [_f32([2, 2, 3, 4], 1.0)]),
    Case("Mul-two", "Mul", [_f32([4], 2.0)]),
    Case("Add-one", "Add", [np.ones([], np.float32)]),
    Case("Cast-other-type", "Cast", attrs={"to": DOUBLE}, out_elem=DOUBLE),
    Case("CastLike-other-type", "CastLike", [np.zeros([1], np.float64)], out_elem=DOUBLE),
    Case("Squeeze-has-one", "Squeeze", shape=[2, 1, 4]),
    Case("Squeeze-axes", "Squeeze", [_i64(1)], shape=[2, 1, 4]),
    Case("Flatten-changes-shape", "Flatten", attrs={"axis": 1}),
    Case("Dropout-training-true", "Dropout", [np.array(0.0, np.float32), np.array(True)]),
    Case("Split-two-outputs", "Split", attrs={"axis": 1}, shape=[2, 4, 4], n_outputs=2),
]


def test_every_rule_has_a_positive_case() -> None:
    assert {c.op for c in POSITIVE} == set(NOOP_RULES)


@pytest.mark.parametrize("case", POSITIVE, ids=lambda c: c.id)
def test_noop_removed(case: Case) -> None:
    model = build(case)
    if case.id == "Add-zero-left":  # constant as the first operand (commutative rule)
        model.graph.node(0).replace_input_with(0, model.graph.initializers["c0"])
        model.graph.node(0).replace_input_with(1, model.graph.inputs[0])
    result, record = apply_one(model, PASS)
    assert case.op not in op_types(result)
    assert op_types(result) == ["Neg"]
    assert result.graph.node(0).inputs[0] is result.graph.inputs[0]
    assert output_names(result) == ["y"]
    assert (record.nodes_before, record.nodes_after) == (2, 1)
    assert (record.nodes_removed, record.nodes_added, record.node_delta) == (1, 0, -1)
    assert record.changed
    assert counts(record) == {f"no-op {case.op} removed": 1}
    assert_equivalent(model, result, seeds=(0, 1, 2))


@pytest.mark.parametrize("case", NEGATIVE, ids=lambda c: c.id)
def test_not_a_noop_is_kept(case: Case) -> None:
    model = build(case)
    if case.n_outputs > 1:  # every output is read
        model.graph.outputs.append(model.graph.node(0).outputs[1])
    result, record = apply_one(model, PASS)
    assert op_types(result) == [case.op, "Neg"]
    assert not record.changed
    assert record.nodes_removed == 0
    assert counts(record) == {}
    assert_equivalent(model, result)


def test_dropout_whose_mask_is_used_is_kept() -> None:
    model = make_model(
        [
            node("Dropout", ["x"], ["b", "mask"]),
            node("Cast", ["mask"], ["m"], to=FLOAT),
            node("Add", ["b", "m"], ["y"]),
        ],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )
    result, record = apply_one(model, PASS)
    assert op_types(result) == ["Dropout", "Cast", "Add"]
    assert not record.changed
    assert_equivalent(model, result)


def test_dropout_training_mode_from_graph_input_is_kept() -> None:
    model = make_model(
        [node("Dropout", ["x", "ratio", "training"], ["b"]), node("Neg", ["b"], ["y"])],
        [vi("x", [2, 3]), vi("training", [], BOOL)],
        [vi("y", [2, 3])],
        [init("ratio", np.array(0.0, np.float32))],
    )
    result, _ = apply_one(model, PASS)
    assert op_types(result) == ["Dropout", "Neg"]
    feeds = random_feeds(model)
    feeds["training"] = np.array(True)
    assert_equivalent(model, result, feeds)


def test_initializer_that_is_a_graph_input_is_not_a_constant() -> None:
    """``x + z`` with ``z`` an all-zero initializer listed as a graph input: z is overridable."""
    proto = make_model(
        [node("Add", ["x", "z"], ["b"]), node("Neg", ["b"], ["y"])],
        [vi("x", [2, 3]), vi("z", [2, 3])],
        [vi("y", [2, 3])],
        [init("z", np.zeros([2, 3], np.float32))],
    )
    assert proto.graph.inputs[1].is_initializer()
    result, record = apply_one(proto, PASS)
    assert op_types(result) == ["Add", "Neg"]
    assert not record.changed
    feeds = {"x": np.ones([2, 3], np.float32), "z": np.full([2, 3], 5.0, np.float32)}
    out = assert_equivalent(proto, result, [feeds, {"x": feeds["x"]}])
    np.testing.assert_array_equal(out["y"], -np.ones([2, 3], np.float32))
    np.testing.assert_array_equal(run(result, feeds)["y"], np.full([2, 3], -6.0, np.float32))


def test_reshape_to_graph_input_shape_tensor_is_kept() -> None:
    """The target shape is an initializer that is also a graph input: not a true constant."""
    model = make_model(
        [node("Reshape", ["x", "s"], ["b"]), node("Neg", ["b"], ["y"])],
        [vi("x", [2, 3]), vi("s", [2], INT64)],
        [vi("y", None)],
        [init("s", _i64(2, 3))],
    )
    result, _ = apply_one(model, PASS)
    assert op_types(result) == ["Reshape", "Neg"]
    feeds = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "s": _i64(3, 2)}
    assert_equivalent(model, result, feeds)
    assert run(result, feeds)["y"].shape == (3, 2)


# --------------------------------------------------------------------------- graph outputs


def test_identity_between_two_graph_outputs_keeps_both() -> None:
    """``outputs=[a, b]``, ``b = Identity(a)``: both names and values must survive."""
    model = make_model(
        [node("Neg", ["x"], ["a"]), node("Identity", ["a"], ["b"])],
        [vi("x", [2, 3])],
        [vi("a", [2, 3]), vi("b", [2, 3])],
    )
    result, record = apply_one(model, PASS)
    assert output_names(result) == ["a", "b"]
    assert op_types(result) == ["Neg", "Identity"]
    assert not record.changed
    out = assert_equivalent(model, result)
    np.testing.assert_array_equal(out["a"], out["b"])
    check(result)


def test_identity_from_graph_input_to_graph_output_is_kept() -> None:
    model = make_model([node("Identity", ["x"], ["y"])], [vi("x", [2, 3])], [vi("y", [2, 3])])
    result, record = apply_one(model, PASS)
    assert op_types(result) == ["Identity"]
    assert output_names(result) == ["y"]
    assert not record.changed
    assert_equivalent(model, result)


def test_noop_from_initializer_to_graph_output_is_kept() -> None:
    model = make_model(
        [node("Transpose", ["w"], ["y"], perm=[0, 1])],
        [],
        [vi("y", [2, 2])],
        [init("w", np.eye(2, dtype=np.float32))],
    )
    result, _ = apply_one(model, PASS)
    assert op_types(result) == ["Transpose"]
    assert_equivalent(model, result, {})


def test_noop_producing_a_graph_output_forwards_its_name() -> None:
    """``y = Identity(Neg(x))`` with ``y`` an output: Identity goes, Neg's output is ``y``."""
    model = make_model(
        [node("Neg", ["x"], ["a"]), node("Identity", ["a"], ["y"])],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )
    result, record = apply_one(model, PASS)
    assert op_types(result) == ["Neg"]
    assert output_names(result) == ["y"]
    assert result.graph.node(0).outputs[0] is result.graph.outputs[0]
    assert counts(record) == {"no-op Identity removed": 1}
    assert_equivalent(model, result)
    check(result)


def test_chain_of_noops_into_graph_output() -> None:
    model = make_model(
        [
            node("Relu", ["x"], ["a"]),
            node("Identity", ["a"], ["b"]),
            node("Dropout", ["b"], ["c"]),
            node("Transpose", ["c"], ["d"], perm=[0, 1]),
            node("Identity", ["d"], ["y"]),
        ],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )
    result, record = apply_one(model, PASS)
    assert op_types(result) == ["Relu"]
    assert output_names(result) == ["y"]
    assert counts(record) == {
        "no-op Identity removed": 2,
        "no-op Dropout removed": 1,
        "no-op Transpose removed": 1,
    }
    assert_equivalent(model, result)
    _, again = apply_one(result, PASS)
    assert not again.changed


# --------------------------------------------------------------------------- nested bodies


def _if_model() -> Any:
    then_branch = graph(
        [node("Neg", ["x"], ["t1"]), node("Identity", ["t1"], ["t2"])],
        [],
        [vi("t2", [2, 3])],
        name="then",
    )
    else_branch = graph(
        [node("Abs", ["x"], ["e1"]), node("Dropout", ["e1"], ["e2"])],
        [],
        [vi("e2", [2, 3])],
        name="else",
    )
    keep_branch = graph([node("Identity", ["x"], ["k"])], [], [vi("k", [2, 3])], name="keep")
    return make_model(
        [
            node("If", ["cond"], ["r"], then_branch=then_branch, else_branch=else_branch),
            node("If", ["cond"], ["s"], then_branch=keep_branch, else_branch=keep_branch),
            node("Add", ["r", "s"], ["y"]),
        ],
        [vi("x", [2, 3]), vi("cond", [], BOOL)],
        [vi("y", [2, 3])],
    )


def test_noops_inside_if_branches_are_removed() -> None:
    model = _if_model()
    result, record = apply_one(model, PASS)
    first = result.graph.node(0)
    then_g = first.attributes["then_branch"].as_graph()
    else_g = first.attributes["else_branch"].as_graph()
    assert op_types(then_g) == ["Neg"]
    assert op_types(else_g) == ["Abs"]
    assert [v.name for v in then_g.outputs] == ["t2"]
    assert [v.name for v in else_g.outputs] == ["e2"]
    # an Identity of an outer-scope value that is a branch output must stay
    keep = result.graph.node(1).attributes["then_branch"].as_graph()
    assert op_types(keep) == ["Identity"]
    assert counts(record) == {"no-op Identity removed": 1, "no-op Dropout removed": 1}
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 3
    assert_equivalent(model, result, [{"x": x, "cond": np.array(c)} for c in (True, False)])


def test_noops_inside_a_function_are_removed() -> None:
    fn = function(
        "f",
        ["X"],
        ["Y", "Z"],
        [
            node("Identity", ["X"], ["T"]),
            node("Neg", ["T"], ["U"]),
            node("Identity", ["U"], ["Y"]),
            node("Identity", ["X"], ["Z"]),
        ],
    )
    model = make_model(
        [node("f", ["x"], ["y", "z"], domain="local")],
        [vi("x", [2, 3])],
        [vi("y", [2, 3]), vi("z", [2, 3])],
        functions=[fn],
        extra_opsets={"local": 1},
    )
    result, record = apply_one(model, PASS)
    body = result.functions[("local", "f", "")]
    # Identity(X)->T and Identity(U)->Y go; Identity(X)->Z (input to output) stays
    assert op_types(body) == ["Neg", "Identity"]
    assert [v.name for v in body.outputs] == ["Y", "Z"]
    assert counts(record) == {"no-op Identity removed": 2}
    assert_equivalent(model, result)
    check(result)
