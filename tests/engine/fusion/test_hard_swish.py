"""``fuse_hard_swish``: the decomposed hard-swish -> HardSwish, or a HardSigmoid pair below 14."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, check, init, make_model, node, op_types, vi

PASS = "fuse_hard_swish"


def _parts(form: str, *, bounds: tuple[float, float] = (0.0, 6.0), shape: tuple = ()) -> tuple:
    """A hard-swish of x in ``form``; constants of ``shape`` (``()`` or ``(1,)``)."""
    nodes = [
        node("Add", ["three", "x"], ["s"]),
        node("Clip", ["s", "lo", "hi"], ["c"]),
    ]
    if form == "x*clip/6":
        nodes += [node("Mul", ["x", "c"], ["m"]), node("Div", ["m", "six"], ["y"])]
        k = 6.0
    elif form == "x*clip*(1/6)":
        nodes += [node("Mul", ["c", "x"], ["m"]), node("Mul", ["k", "m"], ["y"])]
        k = 1 / 6
    else:
        nodes += [node("Div", ["c", "six"], ["m"]), node("Mul", ["m", "x"], ["y"])]
        k = 6.0
    inits = [
        init("three", np.full(shape, 3, np.float32)),
        init("lo", np.float32(bounds[0])),
        init("hi", np.float32(bounds[1])),
        init("six" if k == 6.0 else "k", np.full(shape, k, np.float32)),
    ]
    return nodes, [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])], inits


@pytest.mark.parametrize("form", ["x*clip/6", "x*clip*(1/6)", "x*(clip/6)"])
@pytest.mark.parametrize("shape", [(), (1,)])
def test_clip_forms_become_hard_swish_at_opset_14(form: str, shape: tuple) -> None:
    model = make_model(*_parts(form, shape=shape), opset=14)
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["HardSwish"], n
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_below_opset_14_a_hard_sigmoid_pair_is_emitted() -> None:
    model = make_model(*_parts("x*clip/6"), opset=12)
    fused, _ = fuse(model, PASS)
    assert sorted(op_types(fused)) == ["HardSigmoid", "Mul"]
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_hard_sigmoid_form_becomes_hard_swish() -> None:
    nodes = [
        node("HardSigmoid", ["x"], ["h"], alpha=1 / 6, beta=0.5),
        node("Mul", ["h", "x"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])], opset=14)
    fused, _ = fuse(model, PASS)
    assert op_types(fused) == ["HardSwish"]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_other_bounds_and_slopes_are_left_alone() -> None:
    model = make_model(*_parts("x*clip/6", bounds=(0.0, 5.0)), opset=14)
    assert not fuse(model, PASS)[1]
    nodes = [node("HardSigmoid", ["x"], ["h"]), node("Mul", ["h", "x"], ["y"])]  # alpha 0.2
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])], opset=14)
    assert not fuse(model, PASS)[1]


def test_rank_growing_constant_is_left_alone() -> None:
    nodes, _, _, inits = _parts("x*clip/6", shape=(1, 1, 1, 1))
    model = make_model(nodes, [vi("x", [2, 3, 4])], [vi("y", None)], inits, opset=14)
    assert not fuse(model, PASS)[1]


def test_fuses_inside_if_branches() -> None:
    model = in_if(*_parts("x*clip/6"), opset=14)
    fused, n = fuse(model, PASS)
    assert sum(n.values()) == 2 and branch_ops(fused) == ["HardSwish"]
    check_if_equivalent(model, fused)
