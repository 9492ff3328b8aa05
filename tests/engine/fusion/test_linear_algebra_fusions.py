"""``fuse_matmul_add`` (MatMul+Add -> Gemm) and ``fuse_transposes`` (Transpose pairs)."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, check, init, make_model, node, op_types, vi

from graphopt.engine.passes.fusion.transpose_merging import composed

RNG = np.random.default_rng(3)


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _matmul_add(bias_shape: tuple[int, ...], *, swap: bool = False, trans_b: bool = False) -> tuple:
    nodes = []
    right = "w"
    if trans_b:
        nodes.append(node("Transpose", ["w"], ["wt"], perm=[1, 0]))
        right = "wt"
    nodes.append(node("MatMul", ["x", right], ["m"]))
    nodes.append(node("Add", ["c", "m"] if swap else ["m", "c"], ["y"]))
    w = _f32(5, 4) if trans_b else _f32(4, 5)
    return (
        nodes,
        [vi("x", [3, 4]), vi("w", list(w.shape))],
        [vi("y", None)],
        [init("c", _f32(*bias_shape))],
    )


@pytest.mark.parametrize(
    ("bias", "swap", "trans_b"),
    [
        ((5,), False, False),
        ((1, 5), True, False),
        ((3, 1), False, True),
        ((3, 5), True, True),
        ((), False, False),
    ],
)
def test_matmul_add_becomes_gemm(bias: tuple[int, ...], swap: bool, trans_b: bool) -> None:
    model = make_model(*_matmul_add(bias, swap=swap, trans_b=trans_b))
    fused, n = fuse(model, "fuse_matmul_add")
    assert op_types(fused) == ["Gemm"], n
    assert fused.graph.node(0).attributes.get_int("transB", 0) == int(trans_b)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_batched_matmul_and_growing_bias_are_left_alone() -> None:
    nodes, _, outputs, inits = _matmul_add((5,))
    batched = make_model(nodes, [vi("x", [2, 3, 4]), vi("w", [4, 5])], outputs, inits)
    assert not fuse(batched, "fuse_matmul_add")[1]
    nodes, inputs, outputs, _ = _matmul_add((5,))
    grows = make_model(nodes, inputs, outputs, [init("c", _f32(2, 3, 5))])
    assert not fuse(grows, "fuse_matmul_add")[1]


def test_matmul_read_elsewhere_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _matmul_add((5,))
    model = make_model(
        [*nodes, node("Relu", ["m"], ["r"])], inputs, [*outputs, vi("r", None)], inits
    )
    assert not fuse(model, "fuse_matmul_add")[1]


def test_gemm_inside_if_branches() -> None:
    nodes, inputs, _, inits = _matmul_add((5,))
    model = in_if(nodes, inputs, [vi("y", [3, 5])], inits)
    fused, n = fuse(model, "fuse_matmul_add")
    assert sum(n.values()) == 2 and branch_ops(fused) == ["Gemm"]
    check_if_equivalent(model, fused)


def test_composed_permutation() -> None:
    x = np.arange(24).reshape(2, 3, 4)
    p, q = [2, 0, 1], [1, 2, 0]
    assert np.array_equal(x.transpose(p).transpose(q), x.transpose(composed(p, q)))


def _transposes(p: list[int], q: list[int]) -> ir.Model:
    nodes = [node("Transpose", ["x"], ["t"], perm=p), node("Transpose", ["t"], ["y"], perm=q)]
    return make_model(nodes, [vi("x", [2, 3, 4])], [vi("y", None)])


def test_transpose_pair_merges() -> None:
    model = _transposes([2, 0, 1], [0, 2, 1])
    fused, n = fuse(model, "fuse_transposes")
    assert op_types(fused) == ["Transpose"] and n == {"Transpose pair merged": 1}
    assert_equivalent(model, fused)


def test_cancelling_pair_disappears_with_noop_elimination() -> None:
    model = _transposes([2, 0, 1], [1, 2, 0])
    fused, _ = fuse(model, "fuse_transposes", then=["noop_elimination"])
    assert op_types(fused) in ([], ["Identity"])
    assert_equivalent(model, fused)


def test_transpose_read_twice_is_left_alone() -> None:
    nodes = [
        node("Transpose", ["x"], ["t"], perm=[1, 0]),
        node("Transpose", ["t"], ["y"], perm=[1, 0]),
        node("Neg", ["t"], ["z"]),
    ]
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", [2, 3]), vi("z", [3, 2])])
    assert not fuse(model, "fuse_transposes")[1]


def test_transposes_inside_if_branches() -> None:
    nodes = [
        node("Transpose", ["x"], ["t"], perm=[1, 0]),
        node("Transpose", ["t"], ["y"], perm=[1, 0]),
    ]
    model = in_if(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])])
    fused, n = fuse(model, "fuse_transposes")
    assert sum(n.values()) == 2
    check(fused)
    check_if_equivalent(model, fused)


@pytest.mark.parametrize(
    ("shape", "perm"), [([1, 3, 1, 4], [2, 0, 1, 3]), ([3, 1], [1, 0]), ([2, 1, 5], [0, 2, 1])]
)
def test_transpose_of_unit_axes_becomes_reshape(shape: list[int], perm: list[int]) -> None:
    out = [shape[axis] for axis in perm]
    model = make_model(
        [node("Transpose", ["x"], ["y"], perm=perm)], [vi("x", shape)], [vi("y", out)]
    )
    fused, n = fuse(model, "fuse_transposes")
    assert op_types(fused) == ["Reshape"] and n == {"Transpose of size-1 axes -> Reshape": 1}
    check(fused)
    assert_equivalent(model, fused)


@pytest.mark.parametrize(("shape", "perm"), [([2, 1, 3], [2, 1, 0]), (["n", 1, 3], [1, 0, 2])])
def test_transpose_moving_larger_or_unknown_axes_is_left_alone(
    shape: list, perm: list[int]
) -> None:
    model = make_model(
        [node("Transpose", ["x"], ["y"], perm=perm)], [vi("x", shape)], [vi("y", None)]
    )
    assert not fuse(model, "fuse_transposes")[1]
