"""``fuse_rms_normalization``: RMSNormalization (opset 23) / SimplifiedLayerNormalization (ORT)."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, init, make_model, node, op_types, vi

PASS = "fuse_rms_normalization"
RNG = np.random.default_rng(6)


def _rms(axes: list[int], *, reciprocal: bool = True, power: bool = True) -> tuple:
    """``weight * x * 1/sqrt(mean(x^2) + eps)`` over ``axes`` of a (2, 3, 8) input."""
    square = node("Pow", ["x", "two"], ["sq"]) if power else node("Mul", ["x", "x"], ["sq"])
    nodes = [
        square,
        node("ReduceMean", ["sq", "axes"], ["var"]),
        node("Add", ["var", "eps"], ["ve"]),
        node("Sqrt", ["ve"], ["std"]),
    ]
    if reciprocal:
        nodes += [node("Reciprocal", ["std"], ["inv"]), node("Mul", ["x", "inv"], ["n"])]
    else:
        nodes.append(node("Div", ["x", "std"], ["n"]))
    nodes.append(node("Mul", ["w", "n"], ["y"]))
    inits = [
        init("two", np.array([2], np.float32)),
        init("eps", np.float32(1e-6)),
        init("axes", np.array(axes, np.int64)),
        init("w", RNG.standard_normal(8).astype(np.float32)),
    ]
    return nodes, [vi("x", [2, 3, 8])], [vi("y", [2, 3, 8])], inits


@pytest.mark.parametrize(("reciprocal", "power"), [(True, True), (False, False)])
def test_rms_norm_with_weight_fuses_at_opset_23(reciprocal: bool, power: bool) -> None:
    model = make_model(*_rms([-1], reciprocal=reciprocal, power=power), opset=23)
    fused, n = fuse(model, PASS, then=[PASS])
    assert op_types(fused) == ["RMSNormalization"], n
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_rms_norm_for_onnxruntime_at_any_opset() -> None:
    model = make_model(*_rms([-1]), opset=18)
    fused, n = fuse(model, PASS, target="onnxruntime", then=[PASS])
    assert op_types(fused) == ["SimplifiedLayerNormalization"], n
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_portable_below_opset_23_and_leading_axes_are_left_alone() -> None:
    assert not fuse(make_model(*_rms([-1]), opset=18), PASS)[1]
    assert not fuse(make_model(*_rms([1]), opset=23), PASS, target="onnxruntime")[1]


def test_rms_norm_inside_if_branches() -> None:
    model = in_if(*_rms([-1]), opset=23)
    fused, n = fuse(model, PASS)
    assert n == {
        "RMS normalization -> RMSNormalization": 2,
        "Mul folded into RMSNormalization": 2,
    }
    assert branch_ops(fused) == ["RMSNormalization"]
    check_if_equivalent(model, fused)
