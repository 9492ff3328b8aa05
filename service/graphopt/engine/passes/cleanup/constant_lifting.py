"""Pass ``constant_lifting``."""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine.passes.base import GraphPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register
from graphopt.engine.traversal import GraphBody


@register
class ConstantLifting(GraphPass):
    """Turn Constant nodes into initializers of the graph they live in.

    Matches: default-domain Constant nodes holding a dense tensor (``value``,
    ``value_float(s)``, ``value_int(s)``, ``value_string(s)``) in the main graph and
    subgraphs. Leaves alone: Constants in functions (functions cannot hold initializers),
    sparse constants, and Constants whose output is a graph output. Guarantees: readers see
    the same tensor, now stored as an initializer with the same name. Lossless.
    """

    name = "constant_lifting"
    family = PassFamily.CLEANUP
    lossless = True

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        if not isinstance(body, ir.Graph):
            return outcome
        for node in list(body):
            if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
                continue
            output = node.outputs[0]
            if output.is_graph_output() or "sparse_value" in node.attributes:
                continue
            try:
                tensor = ir.convenience.get_const_tensor(output)
            except ValueError:
                continue
            if tensor is None:
                continue
            initializer = ir.Value(
                name=output.name,
                type=ir.TensorType(tensor.dtype),
                shape=ir.Shape(tensor.shape.numpy()),
                const_value=tensor,
            )
            output.replace_all_uses_with(initializer)
            body.remove(node, safe=True)
            body.register_initializer(initializer)
            outcome.counts["constants lifted to initializers"] += 1
        return outcome
