"""Structural validation of a ModelProto, before it becomes IR.

Contract of :func:`check_structure`:

- every tensor name is produced once per scope: by one graph input, initializer or node
  output (an initializer may also be listed as a graph input), and no graph lists the same
  output twice -> else ``duplicate_tensor_name``;
- every node input and graph output is defined in its scope or an enclosing one (subgraph
  bodies see the names of the graphs around them) -> else ``undefined_tensor``;
- the data dependencies between nodes (through subgraph captures too) form no cycle ->
  else ``graph_cycle``, naming the nodes on one cycle;
- the default-domain opset is one that onnx knows -> else ``unsupported_opset``.

Acyclic graphs whose nodes are out of order are put in a topological order (stable: the
original order wherever dependencies allow) in place, with a ``nodes_not_sorted`` warning.
Custom domains are kept with an ``unknown_domain`` warning (a domain that holds
model-local functions is known: graphopt sees the functions' bodies).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import networkx as nx
import onnx

from graphopt.engine.errors import Diagnostic, ErrorCode, GraphoptError, WarningCode

_KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}


def _subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.HasField("g"):
            yield attr.g
        yield from attr.graphs


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}#{index}"


def free_names(graph: onnx.GraphProto) -> set[str]:
    """Names a graph body reads but does not define: its captures from enclosing scopes."""
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    defined |= {s.values.name for s in graph.sparse_initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(name for name in node.input if name)
        for sub in _subgraphs(node):
            used |= free_names(sub)
        defined.update(node.output)
    used.update(v.name for v in graph.output)
    return used - defined


def _dependencies(
    graph: onnx.GraphProto, outer: frozenset[str], where: str
) -> tuple[nx.DiGraph, list[onnx.NodeProto]]:
    nodes = list(graph.node)
    input_names = [v.name for v in graph.input]
    init_names = [t.name for t in graph.initializer]
    init_names += [s.values.name for s in graph.sparse_initializer]
    for names in (input_names, init_names):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                _duplicate(name, where)
            seen.add(name)
    defined = set(input_names) | set(init_names)
    producers: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.output:
            if not name:
                continue
            if name in defined:
                _duplicate(name, where, _node_label(node, index))
            defined.add(name)
            producers[name] = index

    deps = nx.DiGraph()
    deps.add_nodes_from(range(len(nodes)))
    visible = defined | outer
    for index, node in enumerate(nodes):
        reads = [name for name in node.input if name]
        for sub in _subgraphs(node):
            reads.extend(free_names(sub))
        for name in reads:
            if name in producers:
                deps.add_edge(producers[name], index)
            elif name not in visible:
                raise GraphoptError(
                    ErrorCode.UNDEFINED_TENSOR,
                    f"Node {_node_label(node, index)!r} in {where} reads tensor {name!r}, "
                    "which nothing produces.",
                    tensor=name,
                    node=_node_label(node, index),
                    graph=where,
                )
    seen_outputs: set[str] = set()
    for output in graph.output:
        if output.name in seen_outputs:
            raise GraphoptError(
                ErrorCode.DUPLICATE_TENSOR_NAME,
                f"Graph output {output.name!r} of {where} is listed more than once.",
                tensor=output.name,
                graph=where,
            )
        seen_outputs.add(output.name)
        if output.name not in visible:
            raise GraphoptError(
                ErrorCode.UNDEFINED_TENSOR,
                f"Graph output {output.name!r} of {where} is never produced.",
                tensor=output.name,
                graph=where,
            )
    return deps, nodes


def _duplicate(name: str, where: str, node: str | None = None) -> None:
    by = f" (again by node {node!r})" if node else ""
    raise GraphoptError(
        ErrorCode.DUPLICATE_TENSOR_NAME,
        f"Tensor {name!r} is defined more than once in {where}{by}.",
        tensor=name,
        graph=where,
    )


def _check_graph(
    graph: onnx.GraphProto, outer: frozenset[str], where: str, warnings: list[Diagnostic]
) -> None:
    deps, nodes = _dependencies(graph, outer, where)
    if not nx.is_directed_acyclic_graph(deps):
        cycle = [_node_label(nodes[u], u) for u, _ in nx.find_cycle(deps)]
        raise GraphoptError(
            ErrorCode.GRAPH_CYCLE,
            f"The nodes of {where} depend on each other in a cycle: {' -> '.join(cycle)}.",
            cycle=cycle,
            graph=where,
        )
    if any(u > v for u, v in deps.edges):
        order = list(nx.lexicographical_topological_sort(deps))
        reordered = [nodes[i] for i in order]
        del graph.node[:]
        graph.node.extend(reordered)
        warnings.append(
            Diagnostic(
                WarningCode.NODES_NOT_SORTED,
                f"The nodes of {where} were not in topological order; they were reordered.",
                {"graph": where},
            )
        )
    scope = outer | {v.name for v in graph.input} | {t.name for t in graph.initializer}
    scope |= {name for node in graph.node for name in node.output if name}
    for index, node in enumerate(graph.node):
        for sub in _subgraphs(node):
            label = f"{where}/{_node_label(node, index)}/{sub.name or 'body'}"
            _check_graph(sub, frozenset(scope), label, warnings)


def _check_opsets(
    opsets: Iterable[onnx.OperatorSetIdProto], local_domains: set[str], warnings: list[Diagnostic]
) -> None:
    newest = onnx.defs.onnx_opset_version()
    for opset in opsets:
        if opset.domain in ("", "ai.onnx") and opset.version > newest:
            raise GraphoptError(
                ErrorCode.UNSUPPORTED_OPSET,
                f"The model uses ONNX opset {opset.version}; the newest this build of onnx "
                f"knows is {newest}.",
                domain=opset.domain,
                version=opset.version,
                supported=newest,
            )
        if opset.domain not in _KNOWN_DOMAINS | local_domains:
            warnings.append(
                Diagnostic(
                    WarningCode.UNKNOWN_DOMAIN,
                    f"Operators of domain {opset.domain!r} are opaque to graphopt: they are "
                    "kept as they are.",
                    {"domain": opset.domain, "version": opset.version},
                )
            )


def check_structure(model: onnx.ModelProto) -> list[Diagnostic]:
    """Validate the model's structure (see module contract); return warnings."""
    warnings: list[Diagnostic] = []
    _check_opsets(model.opset_import, {f.domain for f in model.functions}, warnings)
    _check_graph(model.graph, frozenset(), "the main graph", warnings)
    for function in model.functions:
        body = onnx.GraphProto(
            name=function.name,
            node=function.node,
            input=[onnx.ValueInfoProto(name=n) for n in function.input],
            output=[onnx.ValueInfoProto(name=n) for n in function.output],
        )
        _check_graph(body, frozenset(), f"function {function.domain}::{function.name}", warnings)
        del function.node[:]
        function.node.extend(body.node)
    return warnings
