"""Walks over every graph body of a model (the main graph, If/Loop/Scan bodies, functions),
what they hold, and the data dependencies between the nodes of one body."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import onnx_ir as ir

GraphBody = ir.Graph | ir.Function


def subgraphs_of(node: ir.Node) -> Iterator[ir.Graph]:
    """The graph-valued attributes of one node (If branches, Loop/Scan bodies)."""
    if not node.attributes:  # most nodes: skip building the iterator
        return
    for attr in node.attributes.values():
        if attr.is_ref():
            continue
        if attr.type == ir.AttributeType.GRAPH:
            yield attr.as_graph()
        elif attr.type == ir.AttributeType.GRAPHS:
            yield from attr.as_graphs()


def graph_bodies(model: ir.Model) -> Iterator[GraphBody]:
    """Main graph, every nested subgraph (outer before inner), then each function body.

    Nested subgraphs are discovered as the walk reaches them, so a caller that edits a body
    before moving on sees the subgraphs that body still holds.
    """
    yield from _with_nested(model.graph)
    for function in model.functions.values():
        yield function
        for node in function:
            for sub in subgraphs_of(node):
                yield from _with_nested(sub)


def _with_nested(graph: ir.Graph) -> Iterator[ir.Graph]:
    yield graph
    for node in [node for node in graph if node.attributes]:  # the rest hold no graph
        for sub in subgraphs_of(node):
            yield from _with_nested(sub)


def all_nodes(model: ir.Model) -> Iterator[ir.Node]:
    """Every node of every body, in body order."""
    for body in graph_bodies(model):
        yield from body


@dataclass
class Inventory:
    """What a model holds, gathered in one walk: every node and every stored tensor."""

    nodes: list[ir.Node] = field(default_factory=list)
    tensors: list[ir.TensorProtocol] = field(default_factory=list)


def inventory(model: ir.Model) -> Inventory:
    """Every node of every body and every stored tensor, in one walk (in no particular
    order): the initializers of every graph and the tensor attributes of every node."""
    found = Inventory()
    pending: list[GraphBody] = [model.graph, *model.functions.values()]
    while pending:
        body = pending.pop()
        if isinstance(body, ir.Graph):
            for value in body.initializers.values():
                if value.const_value is not None:
                    found.tensors.append(value.const_value)
        for node in body:
            found.nodes.append(node)
            if not node.attributes:  # most nodes have none
                continue
            for attr in node.attributes.values():
                if attr.is_ref():
                    continue
                if attr.type == ir.AttributeType.TENSOR:
                    found.tensors.append(attr.as_tensor())
                elif attr.type == ir.AttributeType.TENSORS:
                    found.tensors.extend(attr.as_tensors())
                elif attr.type == ir.AttributeType.GRAPH:
                    pending.append(attr.as_graph())
                elif attr.type == ir.AttributeType.GRAPHS:
                    pending.extend(attr.as_graphs())
    return found


def all_tensors(model: ir.Model) -> list[ir.TensorProtocol]:
    """Every stored tensor: initializers of every graph and tensor attributes of every node
    (e.g. Constant's ``value``), in no particular order."""
    return inventory(model).tensors


def onnx_opset(body: GraphBody, model: ir.Model) -> int:
    """The default-domain opset version in force in ``body`` (functions may import their own)."""
    if isinstance(body, ir.Function) and "" in body.opset_imports:
        return body.opset_imports[""]
    return model.opset_imports.get("", model.opset_imports.get("ai.onnx", 1))


def body_graph(body: GraphBody) -> ir.Graph:
    """The graph object nodes of ``body`` report as their ``node.graph``."""
    return body.graph if isinstance(body, ir.Function) else body


def _nested_graphs(node: ir.Node) -> Iterator[ir.Graph]:
    for sub in subgraphs_of(node):
        yield sub
        for inner in sub:
            yield from _nested_graphs(inner)


def outputs_by_name(nodes: Iterable[ir.Node]) -> dict[str, ir.Value]:
    """The outputs of ``nodes`` by name (an unnamed one as ``"{node name}:{index}"``)."""
    return {
        value.name or f"{node.name}:{value.index()}": value
        for node in nodes
        for value in node.outputs
    }


def captured_values(node: ir.Node, produced: Mapping[str, ir.Value]) -> set[ir.Value]:
    """Values of ``produced`` (the enclosing body's, by name) read inside ``node``'s
    subgraphs at any depth."""
    found: set[ir.Value] = set()
    if not node.attributes:  # most nodes: no attribute, so no subgraph
        return found
    nested = list(_nested_graphs(node))
    if not nested:
        return found
    by_value = set(produced.values())
    for sub in nested:
        local = {v.name for v in sub.inputs} | set(sub.initializers)
        reads = [v for inner in sub for v in inner.inputs if v is not None]
        for value in [*reads, *sub.outputs]:
            name = value.name or ""
            if value in by_value:
                found.add(value)
            elif value.producer() is None and name in produced and name not in local:
                found.add(produced[name])  # onnx-ir's stand-in for an outer value
    return found


def dependencies(body: ir.Graph) -> dict[ir.Node, set[ir.Node]]:
    """Each node's producers in ``body``: of its inputs and of the values its subgraphs read."""
    produced = outputs_by_name(body)
    preds: dict[ir.Node, set[ir.Node]] = {}
    for node in body:
        values = [v for v in node.inputs if v is not None]
        values += captured_values(node, produced)
        preds[node] = {p for v in values if (p := v.producer()) is not None and p.graph is body}
    return preds
