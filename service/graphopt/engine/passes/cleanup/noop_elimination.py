"""Pass ``noop_elimination``."""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine.passes.base import GraphPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.cleanup.noop_rules import NOOP_RULES
from graphopt.engine.passes.edits import bypass_node
from graphopt.engine.passes.registry import register
from graphopt.engine.traversal import GraphBody, onnx_opset


@register
class NoopElimination(GraphPass):
    """Remove nodes that pass their input through unchanged (Identity, Dropout, no-op forms).

    Matches, in the default domain: Identity; inference-mode Dropout with an unused mask;
    Cast/CastLike to the same type; Reshape/Flatten to the same static shape; Squeeze
    without axes of a shape without 1s; Expand/Tile that do not enlarge; Transpose by the
    identity permutation; Pad by zeros; Slice of everything with unit steps; single-input
    Concat/Sum/Max/Min/Mean; single-output Split; Add/Sub of 0 and Mul/Div by 1 that do not
    broadcast (see ``noop_rules``).
    Guarantees: readers of a removed node read its input instead; values are unchanged;
    graph outputs keep their names. A node whose output is a graph output and whose input is
    a graph input, an initializer, another graph output or an outer-scope value is kept.
    Lossless.
    """

    name = "noop_elimination"
    family = PassFamily.CLEANUP
    lossless = True

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        opset = onnx_opset(body, model)
        outcome = PassOutcome()
        for node in list(body):
            rule = NOOP_RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if rule is None or not node.inputs or not node.outputs:
                continue
            forwarded = rule(node, opset)
            if forwarded is not None and bypass_node(node, forwarded):
                outcome.counts[f"no-op {node.op_type} removed"] += 1
        return outcome
