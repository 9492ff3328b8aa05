"""``fuse_slice_split``: sibling Slices that partition an axis become one Split."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, init, make_model, node, op_types, output_names, vi

PASS = "fuse_slice_split"
MERGED = "Slices partitioning an axis merged into a Split"
END = np.iinfo(np.int64).max


def _slices(ranges: list[tuple[int, int]], axis: int = 1, steps: int | None = None, **kw):
    """Slices of x (2x6x3) along ``axis``, each read by a Relu, in the order given."""
    nodes, inits, outputs = [], [], []
    for i, (start, end) in enumerate(ranges):
        names = [f"s{i}", f"e{i}", f"a{i}"] + ([f"st{i}"] if steps else [])
        nodes += [
            node("Slice", ["x", *names], [f"t{i}"]),
            node("Relu", [f"t{i}"], [f"y{i}"]),
        ]
        inits += [
            init(f"s{i}", np.array([start], np.int64)),
            init(f"e{i}", np.array([end], np.int64)),
            init(f"a{i}", np.array([axis], np.int64)),
        ]
        if steps:
            inits.append(init(f"st{i}", np.array([steps], np.int64)))
        outputs.append(vi(f"y{i}", None))
    return make_model(nodes, [vi("x", [2, 6, 3])], outputs, inits, **kw)


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_slices_that_partition_an_axis_become_one_split(opset: int) -> None:
    model = _slices([(2, 5), (0, 2), (5, END)], opset=opset)  # out of order, clamped end
    fused, n = fuse(model, PASS)
    assert n == {MERGED: 1}
    assert op_types(fused) == ["Split", "Relu", "Relu", "Relu"]
    split = fused.graph.node(0)
    assert split.attributes["axis"].value == 1
    if opset >= 13:
        assert split.inputs[1] is not None and split.inputs[1].const_value is not None
        assert split.inputs[1].const_value.numpy().tolist() == [2, 3, 1]
    else:
        assert list(split.attributes["split"].value) == [2, 3, 1]
    assert_equivalent(model, fused)


def test_negative_bounds_and_a_negative_axis() -> None:
    model = _slices([(-6, -2), (-2, 6)], axis=-2)
    fused, n = fuse(model, PASS)
    assert n == {MERGED: 1} and op_types(fused)[0] == "Split"
    assert_equivalent(model, fused)


@pytest.mark.parametrize(
    ("ranges", "steps"),
    [
        ([(0, 2), (3, 6)], None),  # a gap
        ([(0, 3), (2, 6)], None),  # an overlap
        ([(0, 6)], None),  # one Slice: nothing to merge
        ([(0, 3), (3, 3), (3, 6)], None),  # an empty piece
        ([(0, 3), (3, 6)], 2),  # a stride
    ],
)
def test_slices_that_do_not_partition_the_axis_are_left_alone(ranges, steps) -> None:
    assert not fuse(_slices(ranges, steps=steps), PASS)[1]


def _halves(cut: int, end: int, axis: int) -> list:
    """Bounds of two Slices over ``axis``: ``[0, cut)`` (s0, e0) and ``[cut, end)`` (s1, e1)."""
    bounds = {"s0": 0, "e0": cut, "s1": cut, "e1": end, "a": axis}
    return [init(name, np.array([value], np.int64)) for name, value in bounds.items()]


def test_graph_outputs_keep_their_names() -> None:
    nodes = [
        node("Slice", ["x", "s0", "e0", "a"], ["y0"]),
        node("Slice", ["x", "s1", "e1", "a"], ["y1"]),
    ]
    inits = _halves(cut=4, end=6, axis=1)
    model = make_model(nodes, [vi("x", [2, 6, 3])], [vi("y0", None), vi("y1", None)], inits)
    fused, n = fuse(model, PASS)
    assert n == {MERGED: 1} and op_types(fused) == ["Split"]
    assert output_names(fused) == ["y0", "y1"]
    assert_equivalent(model, fused)


def test_slices_inside_if_branches_are_merged() -> None:
    inits = _halves(cut=1, end=3, axis=2)
    nodes = [
        node("Slice", ["x", "s0", "e0", "a"], ["p"]),
        node("Slice", ["x", "s1", "e1", "a"], ["q"]),
        node("ReduceSum", ["q"], ["r"], keepdims=1, axes=[2]),
        node("Add", ["p", "r"], ["y"]),
    ]
    model = in_if(nodes, [vi("x", [2, 6, 3])], [vi("y", None)], inits, opset=11)
    fused, n = fuse(model, PASS)
    assert n == {MERGED: 2}
    assert branch_ops(fused)[0] == "Split" and branch_ops(fused, "else_branch")[0] == "Split"
    check_if_equivalent(model, fused)
