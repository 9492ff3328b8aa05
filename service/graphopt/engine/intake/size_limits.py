"""Size caps a caller puts on an accepted model: node count and initializer bytes.

Contract of :func:`check_size_limits`: counts every node of every graph body (main graph,
If/Loop/Scan bodies, model-local functions) and the declared storage of every initializer
(in-memory or external: computed from dtype and shape, no tensor data is read); raises
:class:`GraphoptError` ``too_many_nodes`` or ``initializers_too_large`` over a cap.
"""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine import traversal
from graphopt.engine.errors import ErrorCode, GraphoptError


def initializer_bytes(model: ir.Model) -> int:
    """Declared bytes of every initializer of every graph body."""
    total = 0
    for body in traversal.graph_bodies(model):
        if not isinstance(body, ir.Graph):
            continue
        for value in body.initializers.values():
            tensor = value.const_value
            if tensor is not None:
                total += int(tensor.nbytes)
    return total


def check_size_limits(
    model: ir.Model, *, max_nodes: int | None = None, max_initializer_bytes: int | None = None
) -> None:
    """Raise ``too_many_nodes`` / ``initializers_too_large`` when ``model`` is over a cap."""
    if max_nodes is not None:
        nodes = sum(1 for _ in traversal.all_nodes(model))
        if nodes > max_nodes:
            raise GraphoptError(
                ErrorCode.TOO_MANY_NODES,
                f"The model has {nodes} nodes; this server accepts at most {max_nodes}.",
                nodes=nodes,
                limit=max_nodes,
            )
    if max_initializer_bytes is not None:
        size = initializer_bytes(model)
        if size > max_initializer_bytes:
            raise GraphoptError(
                ErrorCode.INITIALIZERS_TOO_LARGE,
                f"The model's initializers hold {size} bytes; this server accepts at most "
                f"{max_initializer_bytes}.",
                bytes=size,
                limit=max_initializer_bytes,
            )
