"""Multiply-accumulate counts and the per-op cost model used for the critical path.

Cost model (unit: MAC-equivalents, one multiply-accumulate or one element written):

- Conv, ConvTranspose, Gemm and MatMul (default domain) with known shapes cost their MACs;
- every other op, and a MAC-bearing op whose MACs are unknown, costs the number of
  elements of its outputs whose shapes are static (memory-bound: one unit per element written);
- every op costs at least 1.0 (launch overhead), which is also the cost of an op whose
  shapes are unknown.

Shapes are read from the IR values as they are; nothing here runs shape inference.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx_ir as ir

_DEFAULT_DOMAINS = frozenset({"", "ai.onnx"})


def static_shape(value: ir.Value | None) -> tuple[int, ...] | None:
    """The dims of ``value`` when its shape is known and every dim is an int >= 0, else None.

    (Some exporters write -1 for an unknown dim; it counts as unknown.)
    """
    if value is None or value.shape is None:
        return None
    dims = tuple(value.shape)
    if all(isinstance(dim, int) and dim >= 0 for dim in dims):
        return dims  # type: ignore[return-value]
    return None


def _input_shape(node: ir.Node, index: int) -> tuple[int, ...] | None:
    return static_shape(node.inputs[index]) if index < len(node.inputs) else None


def _conv_macs(node: ir.Node) -> int | None:
    """out_elems x (C_in/group) x prod(kernel); W is (C_out, C_in/group, k...)."""
    output = static_shape(node.outputs[0])
    weight = _input_shape(node, 1)
    if output is None or weight is None or len(weight) < 2:
        return None
    return math.prod(output) * math.prod(weight[1:])


def _conv_transpose_macs(node: ir.Node) -> int | None:
    """in_elems x (C_out/group) x prod(kernel); W is (C_in, C_out/group, k...)."""
    data = _input_shape(node, 0)
    weight = _input_shape(node, 1)
    if data is None or weight is None or len(weight) < 2:
        return None
    return math.prod(data) * math.prod(weight[1:])


def _gemm_macs(node: ir.Node) -> int | None:
    """M x N x K, with A (M, K) or (K, M) under transA and B (K, N) or (N, K) under transB."""
    a = _input_shape(node, 0)
    b = _input_shape(node, 1)
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return None
    trans_a = node.attributes.get_int("transA", 0)
    trans_b = node.attributes.get_int("transB", 0)
    m, k = (a[1], a[0]) if trans_a else a
    n = b[0] if trans_b else b[1]
    return m * n * k


def _matmul_macs(node: ir.Node) -> int | None:
    """batch x M x N x K under numpy matmul rules (1-D operands, broadcast batch dims)."""
    a = _input_shape(node, 0)
    b = _input_shape(node, 1)
    if a is None or b is None or not a or not b:
        return None
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        return None
    return math.prod(batch) * a2[-2] * b2[-1] * a2[-1]


_MAC_COUNTERS: dict[str, Callable[[ir.Node], int | None]] = {
    "Conv": _conv_macs,
    "ConvTranspose": _conv_transpose_macs,
    "Gemm": _gemm_macs,
    "MatMul": _matmul_macs,
}


def _is_mac_bearing(node: ir.Node) -> bool:
    """Whether ``node`` is a default-domain Conv, ConvTranspose, Gemm or MatMul."""
    return node.domain in _DEFAULT_DOMAINS and node.op_type in _MAC_COUNTERS


def node_macs(node: ir.Node) -> int | None:
    """Multiply-accumulates of one node: 0 for ops that bear none, None when shapes are unknown.

    Bias additions are not counted. Needs the static shapes of the operands (and of the
    output for Conv).
    """
    if not _is_mac_bearing(node):
        return 0
    return _MAC_COUNTERS[node.op_type](node)


def node_cost(node: ir.Node) -> float:
    """Cost of one node in MAC-equivalents under the model of this module's docstring.

    Nested bodies are not included: the caller adds them to their owner.
    """
    macs = node_macs(node) if _is_mac_bearing(node) else None
    if macs is not None:
        return float(max(macs, 1))
    shapes = [static_shape(output) for output in node.outputs]
    written = sum(math.prod(shape) for shape in shapes if shape is not None)
    return float(max(written, 1))
