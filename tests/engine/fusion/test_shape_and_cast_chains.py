"""``fuse_reshapes``, ``fuse_casts`` and ``fuse_constant_chains``."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest
from fusion_cases import check_if_equivalent, fuse, in_if
from graphs import (
    DOUBLE,
    FLOAT,
    INT32,
    INT64,
    assert_equivalent,
    init,
    make_model,
    node,
    op_types,
    vi,
)
from onnx import TensorProto

from graphopt.engine.passes.fusion.cast_chains import holds_exactly
from graphopt.engine.passes.fusion.reshape_chains import merged_unsqueeze_axes

D = ir.DataType


def _i64(*v: int) -> np.ndarray:
    return np.array(v, np.int64)


@pytest.mark.parametrize(
    ("first", "extra"),
    [
        (node("Reshape", ["x", "s1"], ["t"]), [init("s1", _i64(6, 4))]),
        (node("Flatten", ["x"], ["t"], axis=2), []),
        (node("Unsqueeze", ["x", "a"], ["t"]), [init("a", _i64(0))]),
        (node("Squeeze", ["x1", "a"], ["t"]), [init("a", _i64(0))]),
    ],
)
def test_shape_op_then_reshape_collapses(first, extra) -> None:
    nodes = [first, node("Reshape", ["t", "s2"], ["y"])]
    inputs = [vi("x1", [1, 2, 3, 4])] if first.op_type == "Squeeze" else [vi("x", [2, 3, 4])]
    model = make_model(nodes, inputs, [vi("y", [4, 6])], [*extra, init("s2", _i64(4, -1))])
    fused, n = fuse(model, "fuse_reshapes", then=["dead_code_elimination"])
    assert op_types(fused) == ["Reshape"], n
    assert_equivalent(model, fused)


def test_reshape_target_with_zero_is_left_alone() -> None:
    nodes = [node("Reshape", ["x", "s1"], ["t"]), node("Reshape", ["t", "s2"], ["y"])]
    model = make_model(
        nodes,
        [vi("x", [2, 3, 4])],
        [vi("y", None)],
        [init("s1", _i64(6, 4)), init("s2", _i64(0, 2, 2))],
    )
    assert not fuse(model, "fuse_reshapes")[1]


def test_unsqueeze_pair_merges() -> None:
    nodes = [node("Unsqueeze", ["x", "a"], ["t"]), node("Unsqueeze", ["t", "b"], ["y"])]
    model = make_model(
        nodes, [vi("x", [2, 3])], [vi("y", None)], [init("a", _i64(1)), init("b", _i64(0, -1))]
    )
    fused, n = fuse(model, "fuse_reshapes")
    assert op_types(fused) == ["Unsqueeze"] and n == {"Unsqueeze pair merged": 1}
    assert_equivalent(model, fused)


def test_merged_unsqueeze_axes_match_numpy() -> None:
    x = np.zeros((2, 3))
    twice = np.expand_dims(np.expand_dims(x, (1,)), (0, 4))
    assert merged_unsqueeze_axes(2, [1], [0, -1]) == [0, 2, 4]
    assert np.expand_dims(x, (0, 2, 4)).shape == twice.shape


def test_reshapes_inside_if_branches() -> None:
    nodes = [node("Flatten", ["x"], ["t"]), node("Reshape", ["t", "s"], ["y"])]
    model = in_if(nodes, [vi("x", [2, 3, 4])], [vi("y", [4, 6])], [init("s", _i64(4, 6))])
    fused, n = fuse(model, "fuse_reshapes")
    assert sum(n.values()) == 2
    check_if_equivalent(model, fused)


@pytest.mark.parametrize(
    ("source", "middle", "exact"),
    [
        (D.FLOAT16, D.FLOAT, True),
        (D.FLOAT, D.FLOAT16, False),
        (D.INT8, D.INT32, True),
        (D.INT32, D.FLOAT, False),
        (D.INT32, D.DOUBLE, True),
        (D.INT64, D.UINT64, False),
        (D.UINT8, D.INT16, True),
        (D.BOOL, D.FLOAT, True),
        (D.FLOAT16, D.BFLOAT16, False),
    ],
)
def test_holds_exactly(source: D, middle: D, exact: bool) -> None:
    assert holds_exactly(source, middle) is exact


def _casts(source: int, middle: int, target: int) -> ir.Model:
    nodes = [node("Cast", ["x"], ["t"], to=middle), node("Cast", ["t"], ["y"], to=target)]
    return make_model(nodes, [vi("x", [4, 5], source)], [vi("y", [4, 5], target)])


def test_widening_cast_chain_collapses() -> None:
    model = _casts(INT32, DOUBLE, FLOAT)
    fused, n = fuse(model, "fuse_casts")
    assert op_types(fused) == ["Cast"] and n == {"Cast pair collapsed": 1}
    assert_equivalent(model, fused)


def test_rounding_cast_chain_is_left_alone() -> None:
    model = _casts(FLOAT, TensorProto.FLOAT16, FLOAT)
    assert not fuse(model, "fuse_casts")[1]


@pytest.mark.parametrize(
    ("inner", "outer", "swap", "expected"),
    [
        ("Add", "Add", True, "Add"),
        ("Sub", "Add", False, "Add"),
        ("Add", "Sub", False, "Add"),
        ("Sub", "Sub", False, "Sub"),
        ("Mul", "Mul", True, "Mul"),
    ],
)
def test_constant_chains_fold(inner: str, outer: str, swap: bool, expected: str) -> None:
    nodes = [node(inner, ["x", "a"], ["t"]), node(outer, ["b", "t"] if swap else ["t", "b"], ["y"])]
    model = make_model(
        nodes,
        [vi("x", [3, 4], INT64)],
        [vi("y", [3, 4], INT64)],
        [init("a", _i64(2, 3, 4, 5)), init("b", _i64(7))],
    )
    fused, n = fuse(model, "fuse_constant_chains")
    assert op_types(fused) == [expected], n
    assert_equivalent(model, fused)


def test_constant_chain_with_a_variable_operand_is_left_alone() -> None:
    nodes = [node("Add", ["x", "a"], ["t"]), node("Add", ["t", "z"], ["y"])]
    model = make_model(
        nodes,
        [vi("x", [3], INT64), vi("z", [3], INT64)],
        [vi("y", [3], INT64)],
        [init("a", _i64(1, 2, 3))],
    )
    assert not fuse(model, "fuse_constant_chains")[1]


@pytest.mark.parametrize(
    ("inner", "outer", "expected"),
    [("Mul", "Div", "Mul"), ("Div", "Mul", "Mul"), ("Div", "Div", "Div")],
)
def test_float_division_chains_fold(inner: str, outer: str, expected: str) -> None:
    nodes = [node(inner, ["x", "a"], ["t"]), node(outer, ["t", "b"], ["y"])]
    model = make_model(
        nodes,
        [vi("x", [3, 4])],
        [vi("y", [3, 4])],
        [init("a", np.array([2, 3, 4, 5], np.float32)), init("b", np.float32(6))],
    )
    fused, n = fuse(model, "fuse_constant_chains")
    assert op_types(fused) == [expected], n
    assert_equivalent(model, fused, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("dtype", "elem", "b"), [(np.int64, INT64, 6), (np.float32, FLOAT, 0)])
def test_integer_division_and_division_by_zero_are_left_alone(
    dtype: type, elem: int, b: int
) -> None:
    nodes = [node("Mul", ["x", "a"], ["t"]), node("Div", ["t", "b"], ["y"])]
    model = make_model(
        nodes,
        [vi("x", [3], elem)],
        [vi("y", [3], elem)],
        [init("a", np.array([2, 3, 4], dtype)), init("b", np.array(b, dtype))],
    )
    assert not fuse(model, "fuse_constant_chains")[1]


def _slices(first_axes: list[int], second_axes: list[int]) -> ir.Model:
    nodes = [
        node("Slice", ["x", "s1", "e1", "a1"], ["t"]),
        node("Slice", ["t", "s2", "e2", "a2", "st2"], ["y"]),
    ]
    inits = [
        init("s1", _i64(*[1] * len(first_axes))),
        init("e1", _i64(*[3] * len(first_axes))),
        init("a1", _i64(*first_axes)),
        init("s2", _i64(*[-1] * len(second_axes))),
        init("e2", _i64(*[-100] * len(second_axes))),
        init("a2", _i64(*second_axes)),
        init("st2", _i64(*[-2] * len(second_axes))),
    ]
    return make_model(nodes, [vi("x", [4, 5, 6])], [vi("y", None)], inits)


def test_slices_of_disjoint_axes_merge() -> None:
    model = _slices([0], [-1, 1])
    fused, n = fuse(model, "fuse_slices")
    assert op_types(fused) == ["Slice"] and n == {"Slice pair of disjoint axes merged": 1}
    assert_equivalent(model, fused)


def test_slices_of_a_shared_axis_are_left_alone() -> None:
    assert not fuse(_slices([0, 2], [-1]), "fuse_slices")[1]
