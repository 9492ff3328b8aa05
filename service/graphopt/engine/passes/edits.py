"""Graph edits shared by passes, safe around graph outputs and nested scopes."""

from __future__ import annotations

import onnx_ir as ir


def can_forward(output: ir.Value, replacement: ir.Value) -> bool:
    """Whether :func:`forward_value` would succeed (it always does for non-outputs)."""
    if not output.is_graph_output():
        return True
    return not (
        replacement.graph is not output.graph
        or replacement.producer() is None
        or replacement.is_graph_output()
        or replacement.is_graph_input()
        or replacement.is_initializer()
    )


def forward_value(output: ir.Value, replacement: ir.Value) -> bool:
    """Make every reader of ``output`` read ``replacement`` instead; True when done.

    When ``output`` is a graph output, ``replacement`` takes its place and its name. That
    is allowed only when ``replacement`` is produced by a node of the same graph and is not
    itself a graph input, initializer or output; otherwise nothing changes and the result
    is False (the caller keeps the node). Missing type/shape information on
    ``replacement`` is filled in from ``output``.
    """
    if not can_forward(output, replacement):
        return False
    if output.is_graph_output():
        name = output.name
        output.replace_all_uses_with(replacement, replace_graph_outputs=True)
        output.name = None
        replacement.name = name
    else:
        output.replace_all_uses_with(replacement)
    if replacement.type is None:
        replacement.type = output.type
    if replacement.shape is None:
        replacement.shape = output.shape
    return True


def bypass_node(node: ir.Node, replacement: ir.Value) -> bool:
    """Forward a single-output node's output to ``replacement`` and remove the node.

    Other outputs of the node must be unused. True when the node was removed.
    """
    if any(out.uses() or out.is_graph_output() for out in node.outputs[1:]):
        return False
    if not forward_value(node.outputs[0], replacement):
        return False
    assert node.graph is not None
    node.graph.remove(node, safe=True)
    return True
