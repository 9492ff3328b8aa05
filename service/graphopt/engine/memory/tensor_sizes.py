"""Static byte sizes of tensor values, or the reason a value has none."""

from __future__ import annotations

import math

import onnx_ir as ir


def tensor_bytes(value: ir.Value) -> int | str:
    """The value's size in bytes (``ceil(elements * bits / 8)``), or why it is unknown.

    A size needs a tensor type with a fixed-width dtype and a shape whose every dimension
    is a known integer; the reason names the first thing missing (e.g. ``"dim 0 is
    symbolic 'batch'"``). Sequence, map and optional values have no static size.
    """
    kind = value.type
    if kind is None and value.dtype is None:
        return "no type information"
    if kind is not None and not isinstance(kind, ir.TensorType):
        return f"not a tensor ({type(kind).__name__})"
    dtype = value.dtype
    if dtype is None:
        return "unknown dtype"
    if dtype in (ir.DataType.STRING, ir.DataType.UNDEFINED):
        return f"dtype {dtype.name} has no fixed width"
    shape = value.shape
    if shape is None:
        return "unknown rank"
    for axis, dim in enumerate(shape.dims):
        if isinstance(dim, int):
            if dim < 0:
                return f"dim {axis} is negative ({dim})"
            continue
        if dim.value is None:
            return f"dim {axis} is unknown"
        return f"dim {axis} is symbolic {dim.value!r}"
    elements = 1
    for dim in shape.dims:
        assert isinstance(dim, int)  # checked above
        elements *= dim
    return math.ceil(elements * dtype.bitwidth / 8)


def align(size: int, alignment: int) -> int:
    """``size`` rounded up to a multiple of ``alignment`` (0 stays 0)."""
    return -(-size // alignment) * alignment
