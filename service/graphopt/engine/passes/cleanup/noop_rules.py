"""No-op rules: for a default-domain node, the input it passes through unchanged, or None.

Each rule reads only constant operands (true constants, see ``const_array``), attributes
and static input shapes; none looks at the annotated output shape, which may be stale.
A rule returning a value promises: the node's first output equals that value element for
element, with the same shape and dtype (``x + 0`` may turn ``-0.0`` into ``+0.0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx_ir as ir

from graphopt.engine.passes.constants import (
    const_array,
    int_attr,
    ints_attr,
    known_rank,
    static_shape,
)

NoopRule = Callable[[ir.Node, int], ir.Value | None]
_INT_MAX_LIKE = 2**31 - 1


def _first(node: ir.Node, _opset: int) -> ir.Value | None:
    """Identity; Concat, Sum, Max, Min and Mean of a single input."""
    return node.inputs[0] if len(node.inputs) == 1 else None


def _dropout(node: ir.Node, opset: int) -> ir.Value | None:
    """Dropout in inference mode whose mask output is unused."""
    if len(node.outputs) > 1 and (node.outputs[1].uses() or node.outputs[1].is_graph_output()):
        return None
    if opset < 7 and int_attr(node, "is_test", 0) == 0:
        return None
    if len(node.inputs) >= 3 and node.inputs[2] is not None:
        training = const_array(node.inputs[2])
        if training is None or bool(training.reshape(-1)[0]):
            return None
    return node.inputs[0]


def _cast(node: ir.Node, _opset: int) -> ir.Value | None:
    """Cast to the input's own type."""
    x = node.inputs[0]
    if x is not None and x.dtype is not None and x.dtype.value == int_attr(node, "to", -1):
        return x
    return None


def _cast_like(node: ir.Node, _opset: int) -> ir.Value | None:
    """CastLike to a tensor of the input's own type."""
    x, target = node.inputs[0], node.inputs[1]
    if x is not None and target is not None and x.dtype is not None and x.dtype == target.dtype:
        return x
    return None


def _reshape(node: ir.Node, opset: int) -> ir.Value | None:
    """Reshape to the input's own static shape (0 and -1 resolved as the op defines)."""
    x = node.inputs[0]
    shape = static_shape(x)
    target = const_array(node.inputs[1]) if opset >= 5 and len(node.inputs) > 1 else None
    dims = (
        target.tolist() if target is not None else (ints_attr(node, "shape") if opset < 5 else None)
    )
    if shape is None or dims is None or len(dims) != len(shape):
        return None
    if not int_attr(node, "allowzero", 0):
        dims = [shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if dims.count(-1) == 1:
        rest = math.prod(d for d in dims if d != -1)
        if rest == 0:
            return None
        dims[dims.index(-1)] = math.prod(shape) // rest
    return x if tuple(dims) == shape else None


def _flatten(node: ir.Node, _opset: int) -> ir.Value | None:
    """Flatten whose 2-D result is the input's own static shape."""
    x = node.inputs[0]
    shape = static_shape(x)
    if shape is None:
        return None
    axis = int_attr(node, "axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    return x if (math.prod(shape[:axis]), math.prod(shape[axis:])) == shape else None


def _squeeze(node: ir.Node, opset: int) -> ir.Value | None:
    """Squeeze without axes of a static shape that has no dimension of size 1."""
    x = node.inputs[0]
    shape = static_shape(x)
    has_axes = (
        (len(node.inputs) > 1 and node.inputs[1] is not None)
        if opset >= 13
        else ("axes" in node.attributes)
    )
    return x if shape is not None and not has_axes and 1 not in shape else None


def _expand(node: ir.Node, _opset: int) -> ir.Value | None:
    """Expand whose broadcast leaves the input's shape as it is."""
    x = node.inputs[0]
    target = const_array(node.inputs[1])
    rank = known_rank(x)
    if target is None or rank is None or target.ndim != 1 or len(target) > rank:
        return None
    assert x is not None and x.shape is not None
    aligned = x.shape.dims[rank - len(target) :]
    ok = all(
        t == 1 or (isinstance(d, int) and t == d)
        for t, d in zip(target.tolist(), aligned, strict=False)
    )
    return x if ok else None


def _tile(node: ir.Node, _opset: int) -> ir.Value | None:
    """Tile with every repeat equal to 1."""
    repeats = const_array(node.inputs[1])
    return node.inputs[0] if repeats is not None and bool(np.all(repeats == 1)) else None


def _transpose(node: ir.Node, _opset: int) -> ir.Value | None:
    """Transpose by the identity permutation (or of a rank-0/1 input without ``perm``)."""
    perm = ints_attr(node, "perm")
    if perm is None:
        rank = known_rank(node.inputs[0])
        return node.inputs[0] if rank is not None and rank <= 1 else None
    return node.inputs[0] if perm == list(range(len(perm))) else None


def _pad(node: ir.Node, opset: int) -> ir.Value | None:
    """Pad by zero on every side (any mode)."""
    if opset >= 11:
        pads = const_array(node.inputs[1]) if len(node.inputs) > 1 else None
        values = pads.tolist() if pads is not None else None
    else:
        values = ints_attr(node, "pads") or ints_attr(node, "paddings")
    return node.inputs[0] if values is not None and not any(values) else None


def _slice(node: ir.Node, opset: int) -> ir.Value | None:
    """Slice with unit steps whose ranges cover every sliced axis entirely."""
    x = node.inputs[0]
    rank = known_rank(x)
    if rank is None or x is None or x.shape is None:
        return None
    if opset >= 10:
        arrays = [const_array(v) if v is not None else None for v in node.inputs[1:5]]
        arrays += [None] * (4 - len(arrays))
        starts, ends, axes, steps = arrays
        if (
            starts is None
            or ends is None
            or any(
                v is not None and a is None
                for v, a in zip(node.inputs[3:5], arrays[2:4], strict=False)
            )
        ):
            return None
        starts_l, ends_l = starts.tolist(), ends.tolist()
        axes_l = axes.tolist() if axes is not None else list(range(len(starts_l)))
        steps_l = steps.tolist() if steps is not None else [1] * len(starts_l)
    else:
        starts_l, ends_l = ints_attr(node, "starts"), ints_attr(node, "ends")
        if starts_l is None or ends_l is None:
            return None
        axes_l = ints_attr(node, "axes") or list(range(len(starts_l)))
        steps_l = [1] * len(starts_l)
    for start, end, axis, step in zip(starts_l, ends_l, axes_l, steps_l, strict=False):
        if not -rank <= axis < rank or step != 1:
            return None
        dim = x.shape.dims[axis + rank if axis < 0 else axis]
        if isinstance(dim, int):
            start = min(max(start + dim if start < 0 else start, 0), dim)
            end = min(max(end + dim if end < 0 else end, 0), dim)
            if start != 0 or end != dim:
                return None
        elif start != 0 or end < _INT_MAX_LIKE:
            return None
    return x


def _split(node: ir.Node, _opset: int) -> ir.Value | None:
    """Split into a single output covering the whole input."""
    if len(node.outputs) != 1:
        return None
    return node.inputs[0]


def _neutral(neutral: int, commutative: bool) -> NoopRule:
    def rule(node: ir.Node, _opset: int) -> ir.Value | None:
        pairs = [(0, 1), (1, 0)] if commutative else [(0, 1)]
        for xi, ci in pairs:
            x, c = node.inputs[xi], node.inputs[ci]
            arr = const_array(c)
            rank = known_rank(x)
            if arr is None or rank is None or arr.ndim > rank or not np.all(arr == neutral):
                continue
            assert x is not None and x.shape is not None
            aligned = x.shape.dims[rank - arr.ndim :]
            if all(
                cd == 1 or (isinstance(d, int) and cd == d)
                for cd, d in zip(arr.shape, aligned, strict=False)
            ):
                return x
        return None

    rule.__doc__ = f"{'Commutative' if commutative else 'Right'} operand of constant {neutral} that does not broadcast the other."
    return rule


NOOP_RULES: dict[str, NoopRule] = {
    "Identity": _first,
    "Concat": _first,
    "Sum": _first,
    "Max": _first,
    "Min": _first,
    "Mean": _first,
    "Dropout": _dropout,
    "Cast": _cast,
    "CastLike": _cast_like,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Expand": _expand,
    "Tile": _tile,
    "Transpose": _transpose,
    "Pad": _pad,
    "Slice": _slice,
    "Split": _split,
    "Add": _neutral(0, commutative=True),
    "Sub": _neutral(0, commutative=False),
    "Mul": _neutral(1, commutative=True),
    "Div": _neutral(1, commutative=False),
}
