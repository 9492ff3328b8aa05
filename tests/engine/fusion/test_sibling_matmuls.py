"""``fuse_sibling_matmuls``: MatMuls of one input by constant weights become one MatMul."""

from __future__ import annotations

import numpy as np
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, const, init, make_model, node, op_types, output_names, vi

PASS = "fuse_sibling_matmuls"
MERGED = "sibling MatMuls merged into one"
RNG = np.random.default_rng(3)


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _qkv(bias: bool = True, widths: tuple[int, ...] = (8, 8, 4), opset: int = 17):
    """x (2x5x8) times one weight per width (+ a bias each), each result read by a Relu."""
    nodes, inits, outputs = [], [], []
    for i, width in enumerate(widths):
        nodes.append(node("MatMul", ["x", f"w{i}"], [f"m{i}"]))
        inits.append(init(f"w{i}", _f32(8, width)))
        last = f"m{i}"
        if bias:
            nodes.append(node("Add", [f"b{i}", last], [f"a{i}"]))  # the bias first, too
            inits.append(init(f"b{i}", _f32(width)))
            last = f"a{i}"
        nodes.append(node("Relu", [last], [f"y{i}"]))
        outputs.append(vi(f"y{i}", None))
    return make_model(nodes, [vi("x", [2, 5, 8])], outputs, inits, opset=opset)


def test_projections_and_biases_merge() -> None:
    model = _qkv()
    fused, n = fuse(model, PASS, then=["dead_code_elimination"])
    assert n == {MERGED: 3}
    assert op_types(fused) == ["MatMul", "Add", "Split", "Relu", "Relu", "Relu"]
    weight = fused.graph.node(0).inputs[1]
    assert weight is not None and weight.const_value is not None
    assert weight.const_value.shape.numpy() == (8, 20)
    assert sorted(fused.graph.initializers) == sorted(
        v.name for n in fused.graph for v in n.inputs if v is not None and v.is_initializer()
    )  # the three weights and biases are gone, only the merged ones are stored
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_projections_without_biases_merge() -> None:
    model = _qkv(bias=False)
    fused, n = fuse(model, PASS)
    assert n == {MERGED: 3} and op_types(fused)[:2] == ["MatMul", "Split"]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_a_bias_that_is_not_constant_keeps_the_adds() -> None:
    nodes = [
        node("MatMul", ["x", "w0"], ["m0"]),
        node("Add", ["m0", "b0"], ["y0"]),
        node("MatMul", ["x", "w1"], ["m1"]),
        node("Add", ["m1", "bx"], ["y1"]),  # a graph input: not a constant
    ]
    inits = [init("w0", _f32(8, 4)), init("b0", _f32(4)), init("w1", _f32(8, 4))]
    inputs = [vi("x", [2, 8]), vi("bx", [4])]
    model = make_model(nodes, inputs, [vi("y0", None), vi("y1", None)], inits)
    fused, n = fuse(model, PASS)
    assert n == {MERGED: 2}
    assert op_types(fused) == ["MatMul", "Split", "Add", "Add"]  # the Adds read the Split
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_shared_weights_other_dtypes_and_old_opsets_are_left_alone() -> None:
    shared = make_model(
        [node("MatMul", ["x", "w"], ["a"]), node("MatMul", ["x", "w"], ["b"])],
        [vi("x", [2, 8])],
        [vi("a", None), vi("b", None)],
        [init("w", _f32(8, 4))],
    )
    assert not fuse(shared, PASS)[1]
    assert not fuse(_qkv(opset=12), PASS)[1]
    rows = make_model(
        [node("MatMul", ["x", "w0"], ["a"]), node("MatMul", ["x", "w1"], ["b"])],
        [vi("x", ["N", "K"])],
        [vi("a", None), vi("b", None)],
        [init("w0", _f32(8, 4)), init("w1", _f32(4, 4))],
    )
    assert not fuse(rows, PASS)[1]


def test_graph_outputs_keep_their_names() -> None:
    model = make_model(
        [node("MatMul", ["x", "w0"], ["a"]), node("MatMul", ["x", "w1"], ["b"])],
        [vi("x", [2, 8])],
        [vi("a", None), vi("b", None)],
        [init("w0", _f32(8, 4)), init("w1", _f32(8, 6))],
    )
    fused, n = fuse(model, PASS)
    assert n == {MERGED: 2} and output_names(fused) == ["a", "b"]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_projections_inside_if_branches_merge() -> None:
    nodes = [
        const("w0", _f32(8, 4)),
        const("w1", _f32(8, 4)),
        node("MatMul", ["x", "w0"], ["p"]),
        node("MatMul", ["x", "w1"], ["q"]),
        node("Add", ["p", "q"], ["y"]),
    ]
    model = in_if(nodes, [vi("x", [2, 8])], [vi("y", None)])
    fused, n = fuse(model, PASS, then=["dead_code_elimination"])
    assert n == {MERGED: 4}
    for attr in ("then_branch", "else_branch"):
        assert branch_ops(fused, attr)[-3:] == ["MatMul", "Split", "Add"]
    check_if_equivalent(model, fused)


def test_weights_read_elsewhere_are_left_alone() -> None:
    nodes = [
        node("MatMul", ["x", "w0"], ["p"]),
        node("MatMul", ["x", "w1"], ["q"]),
        node("MatMul", ["p", "w0t"], ["r"]),
        node("Add", ["r", "q"], ["y"]),
    ]
    inits = [init("w0", _f32(8, 8)), init("w1", _f32(8, 8))]
    model = make_model(nodes, [vi("x", [2, 8])], [vi("y", None)], inits)
    model.graph.node(2).replace_input_with(1, model.graph.initializers["w0"])  # w0 read twice
    assert not fuse(model, PASS)[1]
