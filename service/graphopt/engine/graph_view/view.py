"""A networkx view of a model: one node per op, one edge per tensor use.

Contract of :func:`build_view` (the model is only read, never changed):

Nodes
    - op nodes: id = the node's name when it is non-empty and unique in its body, else
      ``"{op_type}_{index}"``; attributes ``kind="op"``, ``op_type``, ``domain``, ``name``,
      ``index`` (position in the body) and ``attributes`` (JSON-able: ints, floats, strings,
      lists; tensors as ``{"dtype", "shape"}``; graphs as the id of their nested view; a
      function's reference attributes as ``{"ref": name}``). An op owning graphs also has
      ``subgraphs = {attr_name: [nested view, ...]}``.
    - pseudo-nodes for the body's boundary, each with ``name``, ``dtype``, ``shape``,
      ``bytes``: ``"input:{name}"`` (``kind="input"``; ``initializer=True`` when the input
      is also an initializer), ``"initializer:{name}"`` (``kind="initializer"``) and
      ``"output:{name}"`` (``kind="output"``).
    - ``"outer:{name}"`` (``kind="input"``, ``outer=True``) for a value the body reads but
      does not define: a capture from an enclosing scope in a nested view (in the main
      graph it can only be an undefined tensor).

    Every id is unique in its view: a clash gets a ``"~{n}"`` suffix.

Edges
    One per tensor use, producer -> consumer, keyed per input slot (hence a MultiDiGraph):
    ``tensor``, ``dtype`` (ONNX name such as ``"FLOAT"``, or None), ``shape`` (ints,
    symbolic names, None for unknown dims; None for an unknown rank), ``bytes`` (None unless
    the shape is static and the dtype sized) and ``slot`` (the consumer's input index, or the
    position among the graph outputs for an output pseudo-node). A value a nested body
    captures also gives an edge from its producer to the op owning that body, with
    ``capture=True`` and ``slot=None``.

Graph attributes
    Main view: ``name``, ``opset`` (domain -> version), ``ir_version``, ``id=""`` and
    ``functions = {"domain::name": nested view}`` (``"domain::name::overload"`` for an
    overloaded function). Nested views: ``name`` and ``id``, the owner's path
    ``"{owner_id}/{attr_name}/{i}"`` (prefixed by the enclosing view's id when nested
    deeper; ``"function:{key}"`` for a function body).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Container
from typing import Any

import networkx as nx
import onnx_ir as ir

from graphopt.engine.traversal import GraphBody


def build_view(model: ir.Model) -> nx.MultiDiGraph:
    """The view of the main graph, with nested views for subgraphs and functions."""
    view, _ = _build_body(model.graph, "")
    view.graph["opset"] = dict(model.opset_imports)
    view.graph["ir_version"] = model.ir_version
    functions: dict[str, nx.MultiDiGraph] = {}
    for function in model.functions.values():
        key = _function_key(function)
        functions[key] = _build_body(function, f"function:{key}")[0]
    view.graph["functions"] = functions
    return view


def _function_key(function: ir.Function) -> str:
    """``"domain::name"``, with ``"::overload"`` appended when the function has one."""
    domain, name, overload = function.identifier()
    return f"{domain}::{name}::{overload}" if overload else f"{domain}::{name}"


def _value_info(value: ir.Value) -> dict[str, Any]:
    """``dtype``, ``shape`` and ``bytes`` of one value, as stored on edges and pseudo-nodes."""
    shape = value.shape if value.shape is not None else getattr(value.const_value, "shape", None)
    dims: list[Any] | None = None if shape is None else [getattr(d, "value", d) for d in shape]
    dtype = value.dtype
    size: int | None = None
    if dims is not None and all(isinstance(dim, int) for dim in dims) and dtype is not None:
        try:
            size = math.ceil(math.prod(dims) * dtype.bitwidth / 8)
        except TypeError:  # STRING, UNDEFINED: no fixed width
            size = None
    return {"dtype": None if dtype is None else dtype.name, "shape": dims, "bytes": size}


class _BodyView:
    """Builds the view of one body; ``free`` lists the values it reads but does not define."""

    def __init__(self, body: GraphBody, view_id: str) -> None:
        self.graph = nx.MultiDiGraph(name=body.name or "", id=view_id)
        self.sources: dict[ir.Value, str] = {}
        self.by_name: dict[str, str] = {}
        self.free: list[ir.Value] = []

    def claim(self, candidate: str) -> str:
        return _free_id(candidate, self.graph)

    def reserve(self, candidate: str) -> str:
        """Claim an id and add its node now, before any other claim can take it."""
        node_id = self.claim(candidate)
        self.graph.add_node(node_id)
        return node_id

    def add_source(self, candidate: str, value: ir.Value, **attrs: Any) -> None:
        node_id = self.claim(candidate)
        self.graph.add_node(node_id, name=value.name, **_value_info(value), **attrs)
        self.add_defined(value, node_id)

    def add_defined(self, value: ir.Value, node_id: str) -> None:
        self.sources[value] = node_id
        if value.name:
            self.by_name[value.name] = node_id

    def source_of(self, value: ir.Value) -> str:
        """The node producing ``value`` here, adding an ``outer:`` pseudo-node if none does.

        A value is matched by identity, then by name: onnx_ir gives a subgraph output that
        names an outer value a detached stand-in value of the same name.
        """
        if value not in self.sources and value.name in self.by_name:
            return self.by_name[value.name]
        if value not in self.sources:
            self.add_source(f"outer:{value.name}", value, kind="input", outer=True)
            self.free.append(value)
        return self.sources[value]

    def add_use(self, value: ir.Value, consumer: str, slot: int | None, **extra: Any) -> None:
        source = self.source_of(value)
        info = _value_info(value)
        self.graph.add_edge(source, consumer, tensor=value.name, **info, slot=slot, **extra)


def _build_body(body: GraphBody, view_id: str) -> tuple[nx.MultiDiGraph, list[ir.Value]]:
    """The view of ``body`` and the values it captures from enclosing scopes."""
    state = _BodyView(body, view_id)
    initializers = body.initializers if isinstance(body, ir.Graph) else {}
    for value in body.inputs:
        extra = {"initializer": True} if value.is_initializer() else {}
        state.add_source(f"input:{value.name}", value, kind="input", **extra)
    for name, value in initializers.items():
        if value not in state.sources:
            state.add_source(f"initializer:{name}", value, kind="initializer")

    nodes = list(body)
    node_ids = _claim_op_ids(nodes, state.reserve)
    for node, node_id in zip(nodes, node_ids, strict=True):
        for output in node.outputs:
            state.add_defined(output, node_id)

    prefix = f"{view_id}/" if view_id else ""
    for index, (node, node_id) in enumerate(zip(nodes, node_ids, strict=True)):
        subgraphs: dict[str, list[nx.MultiDiGraph]] = {}
        captured: dict[ir.Value, None] = {}
        for attr in node.attributes.values():
            graphs = _graphs_of(attr)
            if graphs is None:
                continue
            subgraphs[attr.name] = []
            for i, graph in enumerate(graphs):
                nested, free = _build_body(graph, f"{prefix}{node_id}/{attr.name}/{i}")
                subgraphs[attr.name].append(nested)
                captured.update(dict.fromkeys(free))
        attrs: dict[str, Any] = {
            "kind": "op",
            "op_type": node.op_type,
            "domain": node.domain,
            "name": node.name,
            "attributes": {
                attr.name: _attribute_summary(attr, subgraphs.get(attr.name, []))
                for attr in node.attributes.values()
            },
            "index": index,
        }
        if subgraphs:
            attrs["subgraphs"] = subgraphs
        state.graph.add_node(node_id, **attrs)
        for slot, used in enumerate(node.inputs):
            if used is not None:
                state.add_use(used, node_id, slot)
        for outer in captured:
            state.add_use(outer, node_id, None, capture=True)

    for position, output in enumerate(body.outputs):
        output_id = state.claim(f"output:{output.name}")
        state.graph.add_node(output_id, kind="output", name=output.name, **_value_info(output))
        state.add_use(output, output_id, position)
    return state.graph, state.free


def _free_id(candidate: str, taken: Container[str]) -> str:
    """``candidate``, or the first of ``candidate~1``, ``candidate~2``... not ``taken``."""
    node_id, suffix = candidate, 0
    while node_id in taken:
        suffix += 1
        node_id = f"{candidate}~{suffix}"
    return node_id


def _claim_op_ids(nodes: list[ir.Node], reserve: Callable[[str], str]) -> list[str]:
    """The op ids of ``nodes`` in order, each taken through ``reserve`` as it is named."""
    names = Counter(node.name for node in nodes)
    ids = []
    for index, node in enumerate(nodes):
        unique = node.name if node.name and names[node.name] == 1 else None
        ids.append(reserve(unique or f"{node.op_type}_{index}"))
    return ids


def op_ids(body: GraphBody) -> list[str]:
    """The ids :func:`build_view` gives ``body``'s op nodes, in body order, without building
    the view: the boundary pseudo-nodes claimed before them are only reserved."""
    taken: set[str] = set()

    def reserve(candidate: str) -> str:
        taken.add(node_id := _free_id(candidate, taken))
        return node_id

    inputs = set(body.inputs)
    for value in body.inputs:
        reserve(f"input:{value.name}")
    if isinstance(body, ir.Graph):
        for name, value in body.initializers.items():
            if value not in inputs:
                reserve(f"initializer:{name}")
    return _claim_op_ids(list(body), reserve)


def _graphs_of(attr: ir.Attr) -> list[ir.Graph] | None:
    if attr.is_ref():
        return None
    if attr.type == ir.AttributeType.GRAPH:
        return [attr.as_graph()]
    if attr.type == ir.AttributeType.GRAPHS:
        return list(attr.as_graphs())
    return None


def _tensor_summary(tensor: ir.TensorProtocol) -> dict[str, Any]:
    return {"dtype": tensor.dtype.name, "shape": list(tensor.shape.numpy())}


def _attribute_summary(attr: ir.Attr, nested: list[nx.MultiDiGraph]) -> Any:
    """A JSON-able summary of one attribute; ``nested`` holds the views of its graphs."""
    if attr.is_ref():
        return {"ref": attr.ref_attr_name}
    kind = attr.type
    if kind == ir.AttributeType.GRAPH:
        return nested[0].graph["id"]
    if kind == ir.AttributeType.GRAPHS:
        return [view.graph["id"] for view in nested]
    if kind == ir.AttributeType.TENSOR:
        return _tensor_summary(attr.as_tensor())
    if kind == ir.AttributeType.TENSORS:
        return [_tensor_summary(tensor) for tensor in attr.as_tensors()]
    if kind in (ir.AttributeType.INT, ir.AttributeType.FLOAT, ir.AttributeType.STRING):
        return attr.value
    if kind in (ir.AttributeType.INTS, ir.AttributeType.FLOATS, ir.AttributeType.STRINGS):
        return list(attr.value)
    return str(attr.value)
