"""Walks over every graph body of a model: the main graph, If/Loop/Scan bodies, functions."""

from __future__ import annotations

from collections.abc import Iterator

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


def tensor_attributes(node: ir.Node) -> Iterator[ir.TensorProtocol]:
    """Tensors held in a node's own attributes (e.g. Constant's ``value``)."""
    if not node.attributes:
        return
    for attr in node.attributes.values():
        if attr.is_ref():
            continue
        if attr.type == ir.AttributeType.TENSOR:
            yield attr.as_tensor()
        elif attr.type == ir.AttributeType.TENSORS:
            yield from attr.as_tensors()


def body_tensors(body: GraphBody) -> Iterator[ir.TensorProtocol]:
    """The tensors one body stores: its initializers and its nodes' tensor attributes."""
    if isinstance(body, ir.Graph):
        for value in body.initializers.values():
            if value.const_value is not None:
                yield value.const_value
    for node in body:
        if node.attributes:  # most nodes have none: no iterator to build
            yield from tensor_attributes(node)


def all_tensors(model: ir.Model) -> Iterator[ir.TensorProtocol]:
    """Every stored tensor: initializers of every graph and tensor attributes of every node."""
    for body in graph_bodies(model):
        yield from body_tensors(body)


def onnx_opset(body: GraphBody, model: ir.Model) -> int:
    """The default-domain opset version in force in ``body`` (functions may import their own)."""
    if isinstance(body, ir.Function) and "" in body.opset_imports:
        return body.opset_imports[""]
    return model.opset_imports.get("", model.opset_imports.get("ai.onnx", 1))


def body_graph(body: GraphBody) -> ir.Graph:
    """The graph object nodes of ``body`` report as their ``node.graph``."""
    return body.graph if isinstance(body, ir.Function) else body
