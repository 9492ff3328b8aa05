"""Reading constant operands and static shapes off IR values (never mutating them)."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

DEFAULT_MAX_ELEMENTS = 1 << 16


def const_tensor(value: ir.Value | None) -> ir.TensorProtocol | None:
    """The value's tensor when it is a true constant: an initializer that is not also a
    graph input (graph inputs can be overridden at run time) or the output of a
    default-domain Constant node. Its data is not read."""
    if value is None or value.is_graph_input():
        return None
    try:
        return ir.convenience.get_const_tensor(value)
    except ValueError:
        return None


def const_array(
    value: ir.Value | None, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> np.ndarray | None:
    """The data of a true constant (:func:`const_tensor`) of at most ``max_elements``
    elements."""
    tensor = const_tensor(value)
    if tensor is None or tensor.size > max_elements:
        return None
    try:
        return tensor.numpy()
    except (TypeError, ValueError):
        return None


def static_shape(value: ir.Value | None) -> tuple[int, ...] | None:
    """The value's shape when every dimension is a known integer, else None."""
    if value is None or value.shape is None:
        return None
    dims = value.shape.dims
    if all(isinstance(d, int) for d in dims):
        return tuple(int(d) for d in dims)  # type: ignore[arg-type]
    return None


def known_rank(value: ir.Value | None) -> int | None:
    """The value's rank when its shape (possibly symbolic) is known."""
    if value is None or value.shape is None:
        return None
    return len(value.shape)


def int_attr(node: ir.Node, name: str, default: int) -> int:
    """An integer attribute, or ``default`` when absent."""
    attr = node.attributes.get(name)
    return default if attr is None or attr.is_ref() else attr.as_int()


def ints_attr(node: ir.Node, name: str) -> list[int] | None:
    """An integer-list attribute, or None when absent."""
    attr = node.attributes.get(name)
    return None if attr is None or attr.is_ref() else list(attr.as_ints())
