"""Pass ``common_subexpression_elimination``."""

from __future__ import annotations

import struct
from collections.abc import Hashable

import onnx_ir as ir
from pydantic import Field

from graphopt.engine.op_traits import NONDETERMINISTIC_OPS
from graphopt.engine.passes.base import GraphPass, NoOptions, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.edits import can_forward, forward_value
from graphopt.engine.passes.registry import register
from graphopt.engine.traversal import GraphBody


class CseOptions(NoOptions):
    max_tensor_elements: int = Field(
        4096, ge=0, description="tensor attributes up to this size are compared by value"
    )


def _attribute_key(attr: ir.Attr, max_elements: int) -> Hashable | None:
    """A hashable stand-in for an attribute's value; None when it must not be compared."""
    if attr.is_ref():
        return ("ref", attr.name, attr.ref_attr_name)
    kind = attr.type
    if kind in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS):
        return None
    if kind == ir.AttributeType.TENSOR:
        tensor = attr.as_tensor()
        if tensor.size > max_elements:
            return None
        if isinstance(tensor, ir.StringTensor):
            content: bytes | tuple[bytes, ...] = tuple(tensor.string_data())
        else:
            content = tensor.tobytes()
        return ("tensor", tensor.dtype, tuple(tensor.shape.numpy()), content)
    if kind in (
        ir.AttributeType.TENSORS,
        ir.AttributeType.SPARSE_TENSOR,
        ir.AttributeType.SPARSE_TENSORS,
    ):
        return None
    if kind in (ir.AttributeType.TYPE_PROTO, ir.AttributeType.TYPE_PROTOS):
        return (kind, repr(attr.value))
    value = attr.value
    if isinstance(value, (list, tuple)):
        value = tuple(value)
    # NaN != NaN: compare floats by their bit pattern
    if isinstance(value, float):
        value = struct.pack("<d", value)
    elif isinstance(value, tuple) and any(isinstance(v, float) for v in value):
        value = tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in value)
    return (kind, value)


def node_key(node: ir.Node, max_elements: int) -> Hashable | None:
    """What makes two nodes compute the same values; None for nodes never merged."""
    if node.op_type in NONDETERMINISTIC_OPS or not node.outputs:
        return None
    attributes = []
    for name, attr in sorted(node.attributes.items()):
        key = _attribute_key(attr, max_elements)
        if key is None:
            return None
        attributes.append((name, key))
    inputs = tuple(id(v) if v is not None else None for v in node.inputs)
    return (node.domain, node.op_type, node.overload, len(node.outputs), inputs, tuple(attributes))


@register
class CommonSubexpressionElimination(GraphPass):
    """Merge nodes that compute the same thing from the same inputs.

    Matches: two nodes of the same domain, op type and overload, with the same inputs (the
    same values, in order), the same number of outputs and equal attributes (tensor
    attributes up to ``max_tensor_elements`` compared by value). Visited in order, so chains
    of duplicates merge in one sweep.
    Leaves alone: nondeterministic ops (Random*, Multinomial, Bernoulli), nodes holding
    subgraphs, and a duplicate whose outputs are graph outputs that cannot be forwarded.
    Guarantees: readers of the duplicate read the first node's outputs; graph outputs keep
    their names. Lossless.
    """

    name = "common_subexpression_elimination"
    family = PassFamily.CLEANUP
    lossless = True
    Options = CseOptions

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, CseOptions)
        outcome = PassOutcome()
        seen: dict[Hashable, ir.Node] = {}
        for node in list(body):
            key = node_key(node, self.options.max_tensor_elements)
            if key is None:
                continue
            first = seen.setdefault(key, node)
            if first is node or not self._merge(node, first):
                continue
            body.remove(node, safe=True)
            outcome.counts[f"duplicate {node.op_type} merged"] += 1
        return outcome

    @staticmethod
    def _merge(duplicate: ir.Node, first: ir.Node) -> bool:
        pairs = list(zip(duplicate.outputs, first.outputs, strict=True))
        if not all(can_forward(dup, keep) for dup, keep in pairs):
            return False
        return all(forward_value(dup, keep) for dup, keep in pairs)
