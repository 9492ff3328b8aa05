"""``fuse_layer_normalization`` and ``fuse_gelu`` (portable and onnxruntime targets)."""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir
import pytest
from fusion_cases import ATOL, RTOL, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, check, init, make_model, node, op_types, vi

RNG = np.random.default_rng(4)


def _ln_nodes(
    opset: int, axes: list[int], *, reciprocal: bool = False, affine: bool = True
) -> tuple:
    def mean(src: str, dst: str) -> object:
        if opset >= 18:
            return node("ReduceMean", [src, "axes"], [dst])
        return node("ReduceMean", [src], [dst], axes=axes)

    nodes = [
        mean("x", "mu"),
        node("Sub", ["x", "mu"], ["d"]),
        node("Pow", ["d", "two"], ["d2"]),
        mean("d2", "var"),
        node("Add", ["var", "eps"], ["ve"]),
        node("Sqrt", ["ve"], ["std"]),
    ]
    if reciprocal:
        nodes += [node("Reciprocal", ["std"], ["inv"]), node("Mul", ["inv", "d"], ["n"])]
    else:
        nodes.append(node("Div", ["d", "std"], ["n"]))
    inits = [init("two", np.float32(2.0)), init("eps", np.float32(1e-5))]
    if opset >= 18:
        inits.append(init("axes", np.array(axes, np.int64)))
    out = "n"
    if affine:
        nodes += [node("Mul", ["n", "g"], ["ns"]), node("Add", ["beta", "ns"], ["y"])]
        inits += [
            init("g", RNG.standard_normal(8).astype(np.float32)),
            init("beta", RNG.standard_normal(8).astype(np.float32)),
        ]
        out = "y"
    return nodes, [vi("x", [2, 3, 8])], [vi(out, [2, 3, 8])], inits


@pytest.mark.parametrize(("opset", "reciprocal"), [(17, False), (18, True)])
def test_layer_norm_with_scale_and_bias_fuses_to_one_node(opset: int, reciprocal: bool) -> None:
    model = make_model(*_ln_nodes(opset, [-1], reciprocal=reciprocal), opset=opset)
    fused, _ = fuse(
        model,
        "fuse_layer_normalization",
        then=["fuse_layer_normalization", "fuse_layer_normalization"],
    )
    assert op_types(fused) == ["LayerNormalization"]
    assert len(fused.graph.node(0).inputs) == 3
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_layer_norm_over_two_trailing_axes() -> None:
    nodes, inputs, _, inits = _ln_nodes(17, [1, 2], affine=False)
    model = make_model(nodes, inputs, [vi("n", [2, 3, 8])], inits)
    fused, n = fuse(model, "fuse_layer_normalization")
    assert op_types(fused) == ["LayerNormalization"] and n == {"LayerNormalization fused": 1}
    assert fused.graph.node(0).attributes.get_int("axis") == 1
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_reduction_over_a_leading_axis_is_left_alone() -> None:
    model = make_model(*_ln_nodes(17, [1], affine=False))
    assert not fuse(model, "fuse_layer_normalization")[1]


def test_layer_norm_below_opset_17_is_left_alone() -> None:
    model = make_model(*_ln_nodes(16, [-1], affine=False), opset=16)
    assert not fuse(model, "fuse_layer_normalization")[1]


def test_layer_norm_with_mean_read_elsewhere_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _ln_nodes(17, [-1], affine=False)
    model = make_model(nodes, inputs, [*outputs, vi("mu", None)], inits)
    assert not fuse(model, "fuse_layer_normalization")[1]


def test_layer_norm_inside_if_branches() -> None:
    model = in_if(*_ln_nodes(17, [-1], affine=False))
    fused, n = fuse(model, "fuse_layer_normalization")
    assert n == {"LayerNormalization fused": 2}
    check_if_equivalent(model, fused)


def _gelu(form: str, opset: int, half_first: bool = True, bias: bool = False) -> ir.Model:
    """GELU of input ``x`` (of ``x_in + bias`` when ``bias``), output ``y``, shape (3, 7)."""
    if form == "erf":
        inner = [node("Div", ["x", "sqrt2"], ["s"]), node("Erf", ["s"], ["e"])]
        inits = [init("sqrt2", np.float32(math.sqrt(2)))]
    else:
        inner = [
            node("Pow", ["x", "three"], ["x3"]),
            node("Mul", ["x3", "k"], ["kx3"]),
            node("Add", ["x", "kx3"], ["u"]),
            node("Mul", ["u", "c"], ["s"]),
            node("Tanh", ["s"], ["e"]),
        ]
        inits = [
            init("three", np.float32(3)),
            init("k", np.float32(0.044715)),
            init("c", np.float32(math.sqrt(2 / math.pi))),
        ]
    tail = [node("Add", ["e", "one"], ["p"])]
    if half_first:
        tail += [node("Mul", ["x", "half"], ["h"]), node("Mul", ["h", "p"], ["y"])]
    else:
        tail += [node("Mul", ["x", "p"], ["h"]), node("Mul", ["half", "h"], ["y"])]
    inits += [init("one", np.float32(1)), init("half", np.float32(0.5))]
    head = [node("Add", ["x_in", "bias"], ["x"])] if bias else []
    if bias:
        inits.append(init("bias", RNG.standard_normal(7).astype(np.float32)))
    inputs = [vi("x_in" if bias else "x", [3, 7])]
    typed = [vi("x", [3, 7])] if bias else []
    return make_model(
        [*head, *inner, *tail], inputs, [vi("y", [3, 7])], inits, opset=opset, value_info=typed
    )


@pytest.mark.parametrize(
    ("form", "half_first"), [("erf", True), ("erf", False), ("tanh", True), ("tanh", False)]
)
def test_gelu_portable_at_opset_20(form: str, half_first: bool) -> None:
    model = _gelu(form, 20, half_first)
    fused, n = fuse(model, "fuse_gelu")
    assert op_types(fused) == ["Gelu"], n
    assert fused.graph.node(0).attributes.get_string("approximate", "none") == (
        "none" if form == "erf" else "tanh"
    )
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_gelu_portable_below_opset_20_is_left_alone() -> None:
    assert not fuse(_gelu("erf", 17), "fuse_gelu")[1]


@pytest.mark.parametrize(("form", "op_type"), [("erf", "Gelu"), ("tanh", "FastGelu")])
def test_gelu_for_onnxruntime_emits_contrib_ops(form: str, op_type: str) -> None:
    model = _gelu(form, 17)
    fused, _ = fuse(model, "fuse_gelu", target="onnxruntime")
    (only,) = list(fused.graph)
    assert (only.domain, only.op_type) == ("com.microsoft", op_type)
    assert fused.opset_imports.get("com.microsoft") == 1
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_gelu_with_wrong_constant_is_left_alone() -> None:
    model = _gelu("erf", 20)
    model.graph.initializers["half"].const_value = ir.tensor(np.float32(0.4))
    assert not fuse(model, "fuse_gelu")[1]


def test_layer_norm_below_opset_17_fuses_for_onnxruntime() -> None:
    model = make_model(*_ln_nodes(12, [-1]), opset=12)
    fused, _ = fuse(
        model,
        "fuse_layer_normalization",
        target="onnxruntime",
        then=["fuse_layer_normalization", "fuse_layer_normalization"],
    )
    assert op_types(fused) == ["LayerNormalization"]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_gelu_with_one_element_constants_and_reciprocal_scale() -> None:
    nodes = [
        node("Mul", ["x", "inv_sqrt2"], ["s"]),
        node("Erf", ["s"], ["e"]),
        node("Add", ["one", "e"], ["p"]),
        node("Mul", ["x", "half"], ["h"]),
        node("Mul", ["p", "h"], ["y"]),
    ]
    inits = [
        init("inv_sqrt2", np.array([1 / math.sqrt(2)], np.float32)),
        init("one", np.array([1], np.float32)),
        init("half", np.array([0.5], np.float32)),
    ]
    model = make_model(nodes, [vi("x", [3, 7])], [vi("y", [3, 7])], inits, opset=20)
    fused, n = fuse(model, "fuse_gelu")
    assert op_types(fused) == ["Gelu"], n
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("form", "fused_op"), [("erf", "BiasGelu"), ("tanh", "FastGelu")])
def test_bias_add_before_gelu_folds_for_onnxruntime(form: str, fused_op: str) -> None:
    gelu = _gelu(form, 17, bias=True)
    fused, _ = fuse(gelu, "fuse_gelu", target="onnxruntime", then=["fuse_gelu"])
    assert [(n.domain, n.op_type) for n in fused.graph] == [("com.microsoft", fused_op)]
    assert len(fused.graph.node(0).inputs) == 2
    assert_equivalent(gelu, fused, rtol=RTOL, atol=ATOL)


def _skip_ln(shape: list[int], *, axis: int = -1) -> ir.Model:
    hidden = shape[axis]
    nodes = [
        node("Add", ["a", "b"], ["s"]),
        node("LayerNormalization", ["s", "g", "beta"], ["y"], axis=axis, epsilon=1e-6),
    ]
    inits = [
        init("g", RNG.standard_normal(hidden).astype(np.float32)),
        init("beta", RNG.standard_normal(hidden).astype(np.float32)),
    ]
    return make_model(nodes, [vi("a", shape), vi("b", shape)], [vi("y", shape)], inits)


def test_add_then_layer_norm_becomes_skip_layer_norm_for_onnxruntime() -> None:
    model = _skip_ln([2, 3, 8])
    fused, n = fuse(model, "fuse_layer_normalization", target="onnxruntime")
    assert [(x.domain, x.op_type) for x in fused.graph] == [
        ("com.microsoft", "SkipLayerNormalization")
    ], n
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)
    assert not fuse(model, "fuse_layer_normalization")[1]  # portable: left alone


def test_skip_layer_norm_over_a_leading_axis_is_left_alone() -> None:
    model = _skip_ln([2, 8, 8], axis=1)
    assert not fuse(model, "fuse_layer_normalization", target="onnxruntime")[1]


def test_silu_becomes_quick_gelu_for_onnxruntime_only() -> None:
    nodes = [node("Sigmoid", ["x"], ["s"]), node("Mul", ["s", "x"], ["y"])]
    model = make_model(nodes, [vi("x", [3, 7])], [vi("y", [3, 7])])
    fused, _ = fuse(model, "fuse_gelu", target="onnxruntime")
    assert [(n.domain, n.op_type) for n in fused.graph] == [("com.microsoft", "QuickGelu")]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)
    assert not fuse(model, "fuse_gelu")[1]
