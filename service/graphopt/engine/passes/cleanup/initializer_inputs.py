"""Pass ``initializer_inputs``."""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine.passes.base import ModelPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register

FIRST_IR_WITHOUT_INITIALIZER_INPUTS = 4


@register
class InitializerInputs(ModelPass):
    """Stop listing initializers as graph inputs in models older than IR version 4.

    Matches: models whose ``ir_version`` is below 4, where the IR requires every
    initializer of the main graph to be listed as a graph input too; onnxruntime (like the
    other runtimes) treats those as constants, not as inputs a caller may feed. Guarantees:
    the inputs a caller feeds are unchanged; the initializers stay and are no longer graph
    inputs, so folding and fusion can use them; ``ir_version`` becomes 4, the first version
    that allows this. Leaves alone models at IR version 4 or later, where an initializer
    that is also a graph input is a default the caller may override. Lossless.
    """

    name = "initializer_inputs"
    family = PassFamily.CLEANUP
    lossless = True

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        if model.ir_version >= FIRST_IR_WITHOUT_INITIALIZER_INPUTS:
            return outcome
        graph = model.graph
        kept = [v for v in graph.inputs if not v.is_initializer()]
        dropped = len(graph.inputs) - len(kept)
        if not dropped:
            return outcome
        graph.inputs.clear()
        graph.inputs.extend(kept)
        model.ir_version = FIRST_IR_WITHOUT_INITIALIZER_INPUTS
        outcome.changed = True
        outcome.counts["initializers no longer graph inputs"] = dropped
        outcome.notes.append(f"ir_version raised to {FIRST_IR_WITHOUT_INITIALIZER_INPUTS}")
        return outcome
