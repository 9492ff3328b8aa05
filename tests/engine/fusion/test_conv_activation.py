"""``fuse_conv_activation``: Conv + activation -> com.microsoft FusedConv for onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import ATOL, RTOL, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, init, make_model, node, op_types, vi

PASS = "fuse_conv_activation"
W = np.random.default_rng(5).standard_normal((4, 3, 3, 3)).astype(np.float32)


def _parts(activation: str, inputs: list[str] | None = None, **attrs: object) -> tuple:
    nodes = [
        node("Conv", ["x", "w"], ["c"]),
        node(activation, ["c", *(inputs or [])], ["y"], **attrs),
    ]
    inits = [init("w", W), init("lo", np.float32(0)), init("hi", np.float32(6))]
    return nodes, [vi("x", [1, 3, 5, 5])], [vi("y", [1, 4, 3, 3])], inits


@pytest.mark.parametrize(
    ("activation", "inputs", "attrs", "params"),
    [
        ("Relu", [], {}, None),
        ("LeakyRelu", [], {"alpha": 0.2}, [0.2]),
        ("Sigmoid", [], {}, None),
        ("HardSigmoid", [], {"alpha": 0.25, "beta": 0.4}, [0.25, 0.4]),
        ("Clip", ["lo", "hi"], {}, [0.0, 6.0]),
    ],
)
def test_conv_activation_becomes_fused_conv(
    activation: str, inputs: list[str], attrs: dict, params: list[float] | None
) -> None:
    model = make_model(*_parts(activation, inputs, **attrs))
    fused, _ = fuse(model, PASS, target="onnxruntime")
    (only,) = list(fused.graph)
    assert (only.domain, only.op_type) == ("com.microsoft", "FusedConv")
    assert only.attributes.get_string("activation") == activation
    if params is not None:
        assert np.allclose(only.attributes["activation_params"].as_floats(), params)
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


def test_portable_target_is_left_alone() -> None:
    model = make_model(*_parts("Relu"))
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["Conv", "Relu"] and not n


def test_clip_without_max_is_left_alone() -> None:
    model = make_model(*_parts("Clip", ["lo"]))
    assert not fuse(model, PASS, target="onnxruntime")[1]


def test_conv_read_twice_is_left_alone() -> None:
    nodes, inputs, outputs, inits = _parts("Relu")
    model = make_model(
        [*nodes, node("Neg", ["c"], ["z"])], inputs, [*outputs, vi("z", None)], inits
    )
    assert not fuse(model, PASS, target="onnxruntime")[1]


def test_fuses_inside_if_branches() -> None:
    model = in_if(*_parts("Relu"))
    fused, n = fuse(model, PASS, target="onnxruntime")
    assert sum(n.values()) == 2
    check_if_equivalent(model, fused)
