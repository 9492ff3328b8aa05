"""``fuse_batchnorm``: BatchNormalization folded into Conv, ConvTranspose and Gemm."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, check, const, function, init, make_model, node, op_types, vi

PASS = "fuse_batchnorm"
RNG = np.random.default_rng(0)


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _bn_inits(c: int) -> list:
    return [
        init("s", _f32(c)),
        init("bb", _f32(c)),
        init("mu", _f32(c)),
        init("var", (RNG.random(c) + 0.5).astype(np.float32)),
    ]


def _conv_bn(**attrs: object) -> tuple[list, list, list, list]:
    nodes = [
        node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], **attrs),
        node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["y"], epsilon=1e-3),
    ]
    inits = [init("w", _f32(4, 3, 3, 3)), init("b", _f32(4)), *_bn_inits(4)]
    return nodes, [vi("x", [1, 3, 6, 6])], [vi("y", [1, 4, 6, 6])], inits


def test_conv_batchnorm_folds_into_one_conv() -> None:
    model = make_model(*_conv_bn())
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["Conv"]
    assert n == {"BatchNormalization folded into Conv": 1}
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_conv_transpose_with_groups_folds() -> None:
    nodes = [
        node("ConvTranspose", ["x", "w"], ["c"], group=2),
        node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["y"]),
    ]
    model = make_model(
        nodes,
        [vi("x", [1, 4, 5, 5])],
        [vi("y", [1, 6, 7, 7])],
        [init("w", _f32(4, 3, 3, 3)), *_bn_inits(6)],
    )
    fused, _ = fuse(model, PASS)
    assert op_types(fused) == ["ConvTranspose"]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_batchnorm_folds(trans_b: int) -> None:
    w = _f32(5, 3) if trans_b else _f32(3, 5)
    nodes = [
        node("Gemm", ["x", "w", "b"], ["g"], transB=trans_b, beta=0.5),
        node("BatchNormalization", ["g", "s", "bb", "mu", "var"], ["y"]),
    ]
    model = make_model(
        nodes,
        [vi("x", [2, 3])],
        [vi("y", [2, 5])],
        [init("w", w), init("b", _f32(5)), *_bn_inits(5)],
    )
    fused, _ = fuse(model, PASS)
    assert op_types(fused) == ["Gemm"]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_gemm_bias_per_row_is_left_alone() -> None:
    nodes = [
        node("Gemm", ["x", "w", "b"], ["g"]),
        node("BatchNormalization", ["g", "s", "bb", "mu", "var"], ["y"]),
    ]
    inits = [init("w", _f32(3, 5)), init("b", _f32(5, 1)), *_bn_inits(5)]
    model = make_model(nodes, [vi("x", [5, 3])], [vi("y", [5, 5])], inits)
    assert not fuse(model, PASS)[1]


def test_weights_from_a_graph_input_are_left_alone() -> None:
    nodes, inputs, outputs, inits = _conv_bn()
    model = make_model(nodes, [*inputs, vi("w", [4, 3, 3, 3])], outputs, inits[1:])
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["Conv", "BatchNormalization"] and not n


def test_conv_output_read_elsewhere_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _conv_bn()
    model = make_model(
        [*nodes, node("Relu", ["c"], ["r"])], inputs, [*outputs, vi("r", None)], inits
    )
    fused, n = fuse(model, PASS)
    assert "BatchNormalization" in op_types(fused) and not n


def test_conv_output_that_is_a_graph_output_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _conv_bn()
    model = make_model(nodes, inputs, [*outputs, vi("c", None)], inits)
    fused, n = fuse(model, PASS)
    assert "BatchNormalization" in op_types(fused) and not n


def test_training_mode_batchnorm_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _conv_bn()
    nodes[1] = node(
        "BatchNormalization", ["c", "s", "bb", "mu", "var"], ["y", "rm", "rv"], training_mode=1
    )
    model = make_model(nodes, inputs, outputs, inits, opset=15)
    _, n = fuse(model, PASS)
    assert not n


def test_folds_inside_both_if_branches() -> None:
    model = in_if(*_conv_bn())
    fused, n = fuse(model, PASS)
    assert n == {"BatchNormalization folded into Conv": 2}
    assert branch_ops(fused) == ["Conv"] and branch_ops(fused, "else_branch") == ["Conv"]
    check(fused)
    check_if_equivalent(model, fused)


def test_folds_inside_a_function_with_constant_nodes() -> None:
    """Functions cannot hold initializers: the folded weights become Constant nodes."""
    body = [
        const("w", _f32(4, 3, 1, 1)),
        const("s", _f32(4)),
        const("bb", _f32(4)),
        const("mu", _f32(4)),
        const("var", (RNG.random(4) + 0.5).astype(np.float32)),
        node("Conv", ["x", "w"], ["c"]),
        node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["y"]),
    ]
    fn = function("ConvBn", ["x"], ["y"], body)
    model = make_model(
        [node("ConvBn", ["x"], ["y"], domain="local")],
        [vi("x", [1, 3, 4, 4])],
        [vi("y", [1, 4, 4, 4])],
        functions=[fn],
        extra_opsets={"local": 1},
    )
    fused, n = fuse(model, PASS, then=["dead_code_elimination"])
    ops = [x.op_type for x in next(iter(fused.functions.values()))]
    assert n == {"BatchNormalization folded into Conv": 1}
    assert ops.count("Conv") == 1 and "BatchNormalization" not in ops
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)
