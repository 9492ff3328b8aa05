"""Pass ``keep_outputs``."""

from __future__ import annotations

import networkx as nx
import onnx_ir as ir
from pydantic import BaseModel, ConfigDict, Field

from graphopt.engine import traversal
from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.graph_view.view import build_view
from graphopt.engine.passes.base import ModelPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register
from graphopt.engine.pruning.report import pruning_details


class KeepOutputsOptions(BaseModel):
    """Which graph outputs to keep."""

    model_config = ConfigDict(extra="forbid")

    outputs: list[str] = Field(
        default_factory=list, description="graph outputs to keep, by name; empty keeps all"
    )


def _drop_uses(node: ir.Node) -> None:
    """Detach a node and the nodes of its subgraphs from every value they read."""
    for index in range(len(node.inputs)):
        node.replace_input_with(index, None)
    for sub in traversal.subgraphs_of(node):
        for inner in sub:
            _drop_uses(inner)


@register
class KeepOutputs(ModelPass):
    """Keep only the named graph outputs and remove everything that no longer feeds them.

    Matches: graph outputs not named in ``outputs`` (an empty list keeps all; an unknown
    name is an ``invalid_pass_options`` error). Removes them, then every main-graph node
    whose outputs are no longer read (with the subgraphs it owns), every initializer and
    every graph input nothing reads any more. Guarantees: the kept outputs keep their
    names, order and values exactly. Leaves alone: unused functions and opset imports
    (``dead_code_elimination`` removes them). Lossless for the kept outputs; the model's
    interface shrinks by design.
    """

    name = "keep_outputs"
    family = PassFamily.PRUNING
    lossless = True
    Options = KeepOutputsOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, KeepOutputsOptions)
        wanted = self.options.outputs
        outcome = PassOutcome()
        if not wanted:
            return outcome
        graph = model.graph
        names = [v.name for v in graph.outputs]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise GraphoptError(
                ErrorCode.INVALID_PASS_OPTIONS,
                f"keep_outputs names {unknown}, which are not graph outputs ({names}).",
                passname=self.name,
                unknown=unknown,
            )
        view = build_view(model)
        live: set[str] = set()
        for node_id, attrs in view.nodes(data=True):
            if attrs["kind"] == "output" and attrs["name"] in wanted:
                live |= nx.ancestors(view, node_id) | {node_id}
        removed_outputs = [v.name or "" for v in graph.outputs if v.name not in wanted]
        kept = [v for v in graph.outputs if v.name in wanted]
        graph.outputs.clear()
        graph.outputs.extend(kept)
        nodes = list(graph)
        dead = [
            nodes[attrs["index"]]
            for node_id, attrs in view.nodes(data=True)
            if attrs["kind"] == "op" and node_id not in live
        ]
        for node in dead:
            _drop_uses(node)
        graph.remove(dead, safe=True)
        outcome.counts["nodes removed"] = len(dead)
        sources = {
            attrs["name"]: node_id
            for node_id, attrs in view.nodes(data=True)
            if attrs["kind"] in ("input", "initializer") and not attrs.get("outer")
        }
        removed_inputs = [v for v in graph.inputs if sources.get(v.name) not in live]
        for value in removed_inputs:
            graph.inputs.remove(value)
        for name, value in list(graph.initializers.items()):
            if sources.get(name) not in live and not value.is_graph_input():
                del graph.initializers[name]
                outcome.counts["initializers removed"] += 1
        outcome.counts["outputs removed"] = len(removed_outputs)
        outcome.counts["graph inputs removed"] = len(removed_inputs)
        outcome.changed = bool(removed_outputs)
        details = pruning_details(ctx.details)
        details.passes.append(self.name)
        details.kept_outputs = [v.name or "" for v in kept]
        details.removed_outputs.extend(removed_outputs)
        details.removed_inputs.extend(v.name or "" for v in removed_inputs)
        return outcome
