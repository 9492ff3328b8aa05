"""``fuse_pad``: constant zero Pad folded into Conv/AveragePool pads (-inf into MaxPool)."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_cases import ATOL, RTOL, branch_ops, check_if_equivalent, fuse, in_if
from graphs import assert_equivalent, init, make_model, node, op_types, vi

PASS = "fuse_pad"
W = np.random.default_rng(2).standard_normal((2, 3, 3, 3)).astype(np.float32)


def _parts(
    consumer: str,
    pads: list[int],
    value: float | None = None,
    mode: str = "constant",
    **attrs: object,
) -> tuple:
    pad_in = ["x", "p"] + (["v"] if value is not None else [])
    consumer_in = ["t", "w"] if consumer == "Conv" else ["t"]
    if consumer != "Conv":
        attrs.setdefault("kernel_shape", [3, 3])
    nodes = [
        node("Pad", pad_in, ["t"], mode=mode),
        node(consumer, consumer_in, ["y"], pads=[1, 0, 1, 0], **attrs),
    ]
    inits = [init("p", np.array(pads, np.int64)), init("w", W)]
    if value is not None:
        inits.append(init("v", np.array(value, np.float32)))
    return nodes, [vi("x", [1, 3, 6, 6])], [vi("y", None)], inits


@pytest.mark.parametrize(
    ("consumer", "value", "attrs"),
    [
        ("Conv", None, {}),
        ("Conv", 0.0, {}),
        ("AveragePool", None, {"count_include_pad": 1}),
        ("MaxPool", -np.inf, {}),
    ],
)
def test_pad_folds(consumer: str, value: float | None, attrs: dict) -> None:
    model = make_model(*_parts(consumer, [0, 0, 1, 2, 0, 0, 1, 2], value, **attrs))
    fused, n = fuse(model, PASS)
    assert op_types(fused) == [consumer], n
    assert list(fused.graph.node(0).attributes["pads"].as_ints()) == [2, 2, 2, 2]
    assert_equivalent(model, fused, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("consumer", "pads", "value", "mode", "attrs"),
    [
        ("Conv", [0, 1, 1, 1, 0, 0, 1, 1], None, "constant", {}),  # pads the channel axis
        ("Conv", [0, 0, -1, 0, 0, 0, 0, 0], None, "constant", {}),  # crops
        ("Conv", [0, 0, 1, 1, 0, 0, 1, 1], None, "reflect", {}),
        ("Conv", [0, 0, 1, 1, 0, 0, 1, 1], 1.0, "constant", {}),
        ("AveragePool", [0, 0, 1, 1, 0, 0, 1, 1], None, "constant", {}),  # excludes padding
        ("MaxPool", [0, 0, 1, 1, 0, 0, 1, 1], None, "constant", {}),  # zero is not -inf
        ("MaxPool", [0, 0, 1, 1, 0, 0, 1, 1], -np.inf, "constant", {"ceil_mode": 1}),
    ],
)
def test_other_pads_are_left_alone(
    consumer: str, pads: list[int], value: float | None, mode: str, attrs: dict
) -> None:
    model = make_model(*_parts(consumer, pads, value, mode, **attrs))
    fused, n = fuse(model, PASS)
    assert op_types(fused) == ["Pad", consumer] and not n


def test_opset_below_11_is_left_alone() -> None:
    nodes = [
        node("Pad", ["x"], ["t"], pads=[0, 0, 1, 1, 0, 0, 1, 1]),
        node("Conv", ["t", "w"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", [1, 3, 6, 6])], [vi("y", None)], [init("w", W)], opset=10)
    assert not fuse(model, PASS)[1]


def test_folds_inside_if_branches() -> None:
    nodes, inputs, _, inits = _parts("Conv", [0, 0, 1, 1, 0, 0, 1, 1])
    model = in_if(nodes, inputs, [vi("y", [1, 2, 8, 6])], inits)
    fused, n = fuse(model, PASS)
    assert sum(n.values()) == 2 and branch_ops(fused) == ["Conv"]
    check_if_equivalent(model, fused)
