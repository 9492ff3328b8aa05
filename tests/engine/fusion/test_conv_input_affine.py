"""``fuse_conv_input_affine``: a constant Mul/Add before an unpadded Conv folded into it."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, init, make_model, node, op_types, vi

PASS = "fuse_conv_input_affine"
RNG = np.random.default_rng(5)


def _f32(*shape: int) -> np.ndarray:
    return (RNG.random(shape) + 0.5).astype(np.float32)


def _parts(
    ops: list[str], c: np.ndarray, *, group: int = 1, kernel: int = 1, **conv_attrs: object
) -> tuple:
    """``Conv(x <op1> c <op2> c, W, B)``: x (1, 4, 5, 5), W (6, 4 / group, kernel, kernel)."""
    nodes, value = [], "x"
    for i, op in enumerate(ops):
        nodes.append(node(op, ["k", value] if i % 2 else [value, "k"], [f"t{i}"]))
        value = f"t{i}"
    nodes.append(node("Conv", [value, "w", "b"], ["y"], group=group, **conv_attrs))
    inits = [init("k", c), init("w", _f32(6, 4 // group, kernel, kernel)), init("b", _f32(6))]
    return nodes, [vi("x", [1, 4, 5, 5])], [vi("y", None)], inits


@pytest.mark.parametrize(
    ("ops", "shape", "group", "attrs"),
    [
        (["Mul"], (4, 1, 1), 1, {}),
        (["Add"], (1, 4, 1, 1), 1, {}),
        (["Mul", "Add"], (), 1, {"kernel": 3}),
        (["Add"], (), 2, {"kernel": 3, "auto_pad": "VALID"}),
        (["Mul"], (1,), 2, {"kernel": 3, "strides": [2, 2]}),
    ],
)
def test_constant_before_unpadded_conv_folds(
    ops: list[str], shape: tuple, group: int, attrs: dict
) -> None:
    model = make_model(*_parts(ops, _f32(*shape), group=group, **attrs))
    fused, n = fuse(model, PASS, then=[PASS])
    assert op_types(fused) == ["Conv"], n
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("shape", "group", "attrs"),
    [
        ((4, 1, 1), 1, {"kernel": 3, "pads": [1, 1, 1, 1]}),  # padding sees zeros
        ((4, 1, 1), 1, {"kernel": 3, "auto_pad": "SAME_UPPER"}),
        ((4, 1, 1), 2, {}),  # per-channel operand of a grouped Conv
        ((1, 1, 5, 1), 1, {}),  # broadcasts over a spatial axis
    ],
)
def test_other_operands_and_padded_convs_are_left_alone(
    shape: tuple, group: int, attrs: dict
) -> None:
    model = make_model(*_parts(["Add"], _f32(*shape), group=group, **attrs))
    assert not fuse(model, PASS)[1]


def test_folds_inside_if_branches() -> None:
    model = in_if(*_parts(["Mul"], _f32(4, 1, 1)))
    fused, n = fuse(model, PASS)
    assert sum(n.values()) == 2 and branch_ops(fused) == ["Conv"]
    check_if_equivalent(model, fused)
