"""``fuse_attention``: scaled-dot-product attention -> MultiHeadAttention / Attention."""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir
import pytest
from fusion_cases import ATOL, RTOL, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, check, init, make_model, node, op_types, vi

B, H, S, KV, D = 2, 3, 5, 7, 4
RNG = np.random.default_rng(11)
MHA = "MultiHeadAttention"


def _sdpa_nodes(
    *,
    key_format: str = "BHSd",
    scaling: str = "qk_div",
    mask: tuple[int, ...] | None = None,
    mask_first: bool = False,
    constant_mask: np.ndarray | None = None,
    guard: bool = False,
) -> tuple:
    """Bare SDPA on 4-D q, k, v inputs; output ``y`` (B, H, S, D).

    ``constant_mask`` makes the mask an initializer; ``guard`` adds torch's
    ``Where(IsNaN(w), 0, w)``; key format ``BHSd-3d`` is the dynamo exporter's transpose.
    """
    inits = []
    if key_format == "BHSd-3d":
        nodes = [
            node("Reshape", ["k", "flat"], ["k3"]),
            node("Transpose", ["k3"], ["k3t"], perm=[0, 2, 1]),
            node("Reshape", ["k3t", "back"], ["kt"]),
        ]
        inits += [
            init("flat", np.array([B * H, KV, D], np.int64)),
            init("back", np.array([B, H, D, KV], np.int64)),
        ]
    else:
        perm = [0, 1, 3, 2] if key_format == "BHSd" else [0, 2, 3, 1]
        nodes = [node("Transpose", ["k"], ["kt"], perm=perm)]
    q, kt = "q", "kt"
    if scaling == "q_and_k":  # both scaled by d^-1/4, as some exporters write it
        nodes += [node("Mul", ["q", "qs"], ["qq"]), node("Mul", ["kt", "qs"], ["kk"])]
        inits.append(init("qs", np.float32(D**-0.25)))
        q, kt = "qq", "kk"
    nodes.append(node("MatMul", [q, kt], ["scores"]))
    last = "scores"
    if scaling == "qk_div":
        nodes.append(node("Div", ["scores", "sqrt_d"], ["scaled"]))
        inits.append(init("sqrt_d", np.float32(math.sqrt(D))))
        last = "scaled"
    elif scaling == "qk_mul":
        nodes.append(node("Mul", ["scaled_by", "scores"], ["scaled"]))
        inits.append(init("scaled_by", np.float32(0.3)))
        last = "scaled"
    inputs = [vi("q", [B, H, S, D]), vi("v", [B, H, KV, D])]
    inputs.insert(1, vi("k", [B, KV, H, D] if key_format == "BSHd" else [B, H, KV, D]))
    if mask is not None or constant_mask is not None:
        operands = ["mask", last] if mask_first else [last, "mask"]
        nodes.append(node("Add", operands, ["masked"]))
        if constant_mask is not None:
            inits.append(init("mask", constant_mask.astype(np.float32)))
        else:
            inputs.append(vi("mask", list(mask or ())))
        last = "masked"
    nodes.append(node("Softmax", [last], ["w"], axis=-1))
    if guard:
        nodes += [node("IsNaN", ["w"], ["nan"]), node("Where", ["nan", "zero", "w"], ["wg"])]
        inits.append(init("zero", np.float32(0)))
    nodes.append(node("MatMul", ["wg" if guard else "w", "v"], ["y"]))
    return nodes, inputs, [vi("y", [B, H, S, D])], inits


def _model(opset: int = 17, **kwargs: object) -> ir.Model:
    return make_model(*_sdpa_nodes(**kwargs), opset=opset)  # type: ignore[arg-type]


def _mha_block(opset: int = 17) -> ir.Model:
    """A transformer self-attention block on x (B, S, H*D): projections, head split and
    merge around SDPA, as exporters write it."""
    hidden = H * D
    nodes, inits = [], []
    for name in ("q", "k", "v"):
        nodes += [
            node("MatMul", ["x", f"w{name}"], [f"{name}_p"]),
            node("Reshape", [f"{name}_p", "split"], [f"{name}_s"]),
            node("Transpose", [f"{name}_s"], [name], perm=[0, 2, 1, 3]),
        ]
        inits.append(init(f"w{name}", RNG.standard_normal((hidden, hidden)).astype(np.float32)))
    inits += [
        init("split", np.array([B, S, H, D], np.int64)),
        init("merge", np.array([B, S, hidden], np.int64)),
        init("sqrt_d", np.float32(math.sqrt(D))),
    ]
    nodes += [
        node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        node("MatMul", ["q", "kt"], ["scores"]),
        node("Div", ["scores", "sqrt_d"], ["scaled"]),
        node("Add", ["scaled", "mask"], ["masked"]),
        node("Softmax", ["masked"], ["w"], axis=-1),
        node("MatMul", ["w", "v"], ["ctx"]),
        node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
        node("Reshape", ["ctx_t", "merge"], ["y"]),
    ]
    inputs = [vi("x", [B, S, hidden]), vi("mask", [B, 1, 1, S])]
    return make_model(nodes, inputs, [vi("y", [B, S, hidden])], inits, opset=opset)


@pytest.mark.parametrize(
    ("key_format", "scaling", "mask", "mask_first"),
    [
        ("BHSd", "qk_div", None, False),
        ("BHSd", "qk_mul", (B, 1, S, KV), True),
        ("BSHd", "q_and_k", (S, KV), False),
        ("BHSd", "none", (1, H, 1, KV), False),
    ],
)
def test_sdpa_becomes_multi_head_attention(
    key_format: str, scaling: str, mask: tuple[int, ...] | None, mask_first: bool
) -> None:
    model = _model(key_format=key_format, scaling=scaling, mask=mask, mask_first=mask_first)
    fused, n = fuse(model, "fuse_attention", target="onnxruntime")
    assert sum(n.values()) == 1, n
    ops = op_types(fused)
    assert ops.count(MHA) == 1 and "Softmax" not in ops and "MatMul" not in ops
    mha = next(x for x in fused.graph if x.op_type == MHA)
    assert mha.domain == "com.microsoft" and mha.attributes.get_int("num_heads") == H
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_attention_block_collapses_to_projections_and_one_mha() -> None:
    model = _mha_block()
    inferred, _ = fuse(model, "shape_inference")  # the head split's shapes
    fused, n = fuse(
        inferred,
        "fuse_attention",
        target="onnxruntime",
        then=["fuse_transposes", "fuse_reshapes", "noop_elimination", "dead_code_elimination"],
    )
    assert sum(n.values()) == 1
    ops = op_types(fused)
    assert ops.count(MHA) == 1 and "Transpose" not in ops, ops
    assert ops.count("MatMul") == 3  # the projections
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("key_format", ["BHSd", "BSHd"])
def test_portable_opset_23_emits_the_standard_attention_op(key_format: str) -> None:
    model = _model(opset=23, key_format=key_format, mask=(B, 1, S, KV))
    fused, n = fuse(model, "fuse_attention")
    assert sum(n.values()) == 1
    ops = op_types(fused)
    assert "Attention" in ops and "Softmax" not in ops
    assert all(x.domain == "" for x in fused.graph)
    check(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_portable_below_opset_23_is_left_alone() -> None:
    assert not fuse(_model(opset=22), "fuse_attention")[1]


def test_attention_inside_if_branches() -> None:
    nodes, inputs, outputs, inits = _sdpa_nodes(mask=(B, H, S, KV))
    model = in_if(nodes, inputs, outputs, inits)
    fused, n = fuse(model, "fuse_attention", target="onnxruntime")
    assert sum(n.values()) == 2
    then = [x.op_type for x in model.graph.node(0).attributes["then_branch"].as_graph()]
    fused_then = [x.op_type for x in fused.graph.node(0).attributes["then_branch"].as_graph()]
    assert "Softmax" in then and MHA in fused_then and "Softmax" not in fused_then
    check_if_equivalent(model, fused)


def test_weights_read_elsewhere_softmax_on_another_axis_and_float16_are_left_alone() -> None:
    nodes, inputs, outputs, inits = _sdpa_nodes()
    read = make_model(nodes, inputs, [*outputs, vi("w", None)], inits)
    assert not fuse(read, "fuse_attention", target="onnxruntime")[1]
    other_axis = [
        node("Softmax", ["scaled"], ["w"], axis=2) if x.op_type == "Softmax" else x for x in nodes
    ]
    model = make_model(other_axis, inputs, outputs, inits)
    assert not fuse(model, "fuse_attention", target="onnxruntime")[1]


def test_dynamic_shapes_are_left_alone() -> None:
    nodes, _, _, inits = _sdpa_nodes()
    inputs = [vi("q", ["b", H, S, D]), vi("k", ["b", H, KV, D]), vi("v", ["b", H, KV, D])]
    model = make_model(nodes, inputs, [vi("y", None)], inits)
    assert not fuse(model, "fuse_attention", target="onnxruntime")[1]


def test_a_mask_that_enlarges_the_scores_is_left_alone() -> None:
    model = _model(mask=(2, B, H, S, KV))
    assert not fuse(model, "fuse_attention", target="onnxruntime")[1]


def _causal(rows: int = S, cols: int = KV) -> np.ndarray:
    return np.where(np.tri(rows, cols, dtype=bool), 0.0, -np.inf).reshape(1, 1, rows, cols)


@pytest.mark.parametrize("key_format", ["BHSd", "BHSd-3d"])
def test_torch_export_with_nan_guard_and_causal_mask_fuses(key_format: str) -> None:
    model = _model(key_format=key_format, constant_mask=_causal(), guard=True)
    inferred, _ = fuse(model, "shape_inference")  # the 3-D round trip's shapes
    fused, n = fuse(inferred, "fuse_attention", target="onnxruntime")
    assert sum(n.values()) == 1, n
    ops = op_types(fused)
    assert MHA in ops and not {"Softmax", "IsNaN", "Where"} & set(ops)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_dynamo_key_round_trip_without_guard_fuses_for_portable_opset_23() -> None:
    model = _model(opset=23, key_format="BHSd-3d", scaling="q_and_k")
    inferred, _ = fuse(model, "shape_inference")
    fused, n = fuse(inferred, "fuse_attention")
    assert sum(n.values()) == 1 and "Attention" in op_types(fused)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_nan_guard_that_may_act_is_left_alone() -> None:
    computed = _model(mask=(B, 1, S, KV), guard=True)  # a runtime mask may empty a row
    assert not fuse(computed, "fuse_attention", target="onnxruntime")[1]
    empty_row = _causal()
    empty_row[..., 0, :] = -np.inf  # softmax of an all -inf row is NaN: the guard acts
    model = _model(constant_mask=empty_row, guard=True)
    assert not fuse(model, "fuse_attention", target="onnxruntime")[1]
