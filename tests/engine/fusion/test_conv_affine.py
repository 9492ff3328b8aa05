"""``fuse_conv_affine``: per-channel Add/Sub/Mul/Div after Conv folded into its weights."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, check, init, make_model, node, op_types, vi

PASS = "fuse_conv_affine"
RNG = np.random.default_rng(1)


def _f32(*shape: int) -> np.ndarray:
    return (RNG.random(shape) + 0.5).astype(np.float32)


def _parts(op: str, c: np.ndarray, *, swap: bool = False, bias: bool = True) -> tuple:
    conv_in = ["x", "w", "b"] if bias else ["x", "w"]
    operands = ["k", "c"] if swap else ["c", "k"]
    nodes = [node("Conv", conv_in, ["c"]), node(op, operands, ["y"])]
    inits = [init("w", _f32(4, 3, 3, 3)), init("k", c)]
    if bias:
        inits.append(init("b", _f32(4)))
    return nodes, [vi("x", [2, 3, 5, 5])], [vi("y", [2, 4, 3, 3])], inits


@pytest.mark.parametrize(
    ("op", "shape", "swap"),
    [
        ("Add", (4, 1, 1), False),
        ("Add", (1, 4, 1, 1), True),
        ("Sub", (4, 1, 1), False),
        ("Mul", (1, 4, 1, 1), True),
        ("Mul", (), False),
        ("Div", (4, 1, 1), False),
    ],
)
def test_per_channel_constant_folds(op: str, shape: tuple[int, ...], swap: bool) -> None:
    model = make_model(*_parts(op, _f32(*shape), swap=swap))
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["Conv"], n
    assert n == {f"{op} by a per-channel constant folded into Conv": 1}
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_conv_without_bias_gets_one() -> None:
    model = make_model(*_parts("Add", _f32(4, 1, 1), bias=False))
    fused, _ = fuse(model, PASS)
    assert op_types(fused) == ["Conv"] and len(fused.graph.node(0).inputs) == 3
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("op", "c", "swap"),
    [
        ("Add", _f32(1, 1, 1, 3), False),  # broadcasts over a spatial axis
        ("Mul", _f32(2, 4, 1, 1), False),  # broadcasts over the batch axis
        ("Add", _f32(1, 1, 4, 1, 1), False),  # would grow the rank
        ("Sub", _f32(4, 1, 1), True),  # c - Conv
        ("Div", np.zeros((4, 1, 1), np.float32), False),  # division by zero
        ("Add", np.ones((4, 1, 1), np.float64), False),  # another dtype
    ],
)
def test_other_operands_are_left_alone(op: str, c: np.ndarray, swap: bool) -> None:
    nodes, inputs, _, inits = _parts(op, c, swap=swap)
    model = make_model(nodes, inputs, [vi("y", None)], inits)
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["Conv", op] and not n


def test_non_constant_operand_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _parts("Mul", _f32(4, 1, 1))
    model = make_model(nodes, [*inputs, vi("k", [4, 1, 1])], outputs, inits[:1] + inits[2:])
    _, n = fuse(model, PASS)
    assert not n


def test_conv_output_read_twice_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _parts("Add", _f32(4, 1, 1))
    model = make_model(
        [*nodes, node("Relu", ["c"], ["r"])], inputs, [*outputs, vi("r", None)], inits
    )
    _, n = fuse(model, PASS)
    assert not n


def test_folds_inside_if_branches() -> None:
    model = in_if(*_parts("Mul", _f32(4, 1, 1)))
    fused, n = fuse(model, PASS)
    assert sum(n.values()) == 2 and branch_ops(fused) == ["Conv"]
    check_if_equivalent(model, fused)


@pytest.mark.parametrize("op", ["Add", "Mul", "Div"])
def test_per_channel_constant_folds_into_grouped_conv_transpose(op: str) -> None:
    nodes = [node("ConvTranspose", ["x", "w"], ["c"], group=2), node(op, ["c", "k"], ["y"])]
    inits = [init("w", _f32(4, 3, 3, 3)), init("k", _f32(1, 6, 1, 1))]
    model = make_model(nodes, [vi("x", [1, 4, 5, 5])], [vi("y", [1, 6, 7, 7])], inits)
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["ConvTranspose"], n
    assert n == {f"{op} by a per-channel constant folded into ConvTranspose": 1}
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)
