"""Pass ``dead_code_elimination``."""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine import traversal
from graphopt.engine.passes.base import GraphPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register
from graphopt.engine.traversal import GraphBody


def _used(value: ir.Value) -> bool:
    return bool(value.uses()) or value.is_graph_output()


@register
class DeadCodeElimination(GraphPass):
    """Remove nodes, initializers, functions and opset imports that no output depends on.

    Matches: nodes none of whose outputs is read or is a graph output (bodies visited inner
    first and nodes in reverse order, so whole dead chains go in one sweep, across
    subgraph boundaries too); initializers that nothing reads and that
    are not graph inputs or outputs; model-local functions no node calls; opset imports of
    domains no node uses (the default domain is always kept).
    Guarantees: the graph inputs and outputs (names, types, order) are unchanged, and every
    graph output is computed exactly as before. Lossless.
    """

    name = "dead_code_elimination"
    family = PassFamily.CLEANUP
    lossless = True
    inner_first = True

    def start(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        """Drop uses held by nodes of bodies no longer in the model.

        A node removed together with its subgraphs (an If folded away, say) leaves the
        nodes of those subgraphs reading outer values; those stale uses would keep the
        values alive.
        """
        outcome = PassOutcome()
        bodies = [traversal.body_graph(b) for b in traversal.graph_bodies(model)]
        attached = {id(g) for g in bodies}
        values: list[ir.Value] = []
        for graph in bodies:
            values.extend(graph.inputs)
            values.extend(graph.initializers.values())
            values.extend(out for node in graph for out in node.outputs)
        for value in values:
            for node, index in list(value.uses()):
                if node.graph is None or id(node.graph) not in attached:
                    node.replace_input_with(index, None)
                    outcome.counts["stale uses from detached subgraphs dropped"] += 1
        return outcome

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        for node in reversed(list(body)):
            if not any(_used(out) for out in node.outputs):
                body.remove(node, safe=True)
                outcome.counts["dead nodes removed"] += 1
        if isinstance(body, ir.Graph):
            for name, value in list(body.initializers.items()):
                if not _used(value) and not value.is_graph_input():
                    del body.initializers[name]
                    outcome.counts["unused initializers removed"] += 1
        return outcome

    def finish(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        while True:  # a function called only by removed functions goes too
            called = {node.op_identifier() for node in traversal.all_nodes(model)}
            unused = [f for f in model.functions if f not in called]
            if not unused:
                break
            for identifier in unused:
                del model.functions[identifier]
                outcome.counts["unused functions removed"] += 1
        used_domains = {node.domain for node in traversal.all_nodes(model)}
        used_domains |= {f.domain for f in model.functions.values()} | {""}
        for domain in [d for d in model.opset_imports if d not in used_domains]:
            del model.opset_imports[domain]
            outcome.counts["unused opset imports removed"] += 1
        return outcome
