"""Statistics of a model (:class:`~graphopt.engine.report.GraphStats`) from its IR and view.

Conventions:

- counts (``nodes``, ``op_histogram``, ``macs``...) run over every body: the main graph,
  every If/Loop/Scan body and every model-local function body (once per definition);
  histogram keys are ``op_type`` in the default domain, ``"domain::op_type"`` elsewhere;
- ``params`` / ``param_bytes``: elements / storage bytes of the initializers of every body
  and of the tensors held in node attributes; only shapes, dtypes and ``nbytes`` are read,
  never the data;
- ``depth``, ``critical_path`` and the costs are taken on the main graph's op nodes and
  their data dependencies (captures by subgraphs included). The cost of an op (see
  :mod:`~graphopt.engine.graph_view.costs`, unit MAC-equivalents) includes the total cost
  of the bodies it owns (both If branches, one Loop/Scan iteration) and, for a call to a
  model-local function, the total cost of the function body. ``total_cost`` is the sum over
  the main graph, ``critical_path_cost`` the heaviest path, and ``parallelism`` their ratio
  (1.0 for an empty graph). ``critical_path`` lists the first 50 op ids of that path.

Shapes are used as given: run shape inference first to get MACs.
"""

from __future__ import annotations

import math
from collections import Counter

import networkx as nx
import onnx_ir as ir

from graphopt.engine import traversal
from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.graph_view.costs import node_cost, node_macs
from graphopt.engine.graph_view.view import op_ids
from graphopt.engine.report import GraphStats

CRITICAL_PATH_LIMIT = 50
_DEFAULT_DOMAINS = frozenset({"", "ai.onnx"})
_START = ("start",)  # virtual source of the critical-path graph; view ids are strings


def compute_stats(model: ir.Model) -> GraphStats:
    """Statistics of ``model`` as given (not changed); O(nodes + edges)."""
    histogram: Counter[str] = Counter()
    macs = unknown_macs = 0
    for node in traversal.all_nodes(model):
        domain = "" if node.domain in _DEFAULT_DOMAINS else node.domain
        histogram[f"{domain}::{node.op_type}" if domain else node.op_type] += 1
        node_mac = node_macs(node)
        if node_mac is None:
            unknown_macs += 1
        else:
            macs += node_mac
    bodies = list(traversal.graph_bodies(model))
    params = param_bytes = 0
    for tensor in traversal.all_tensors(model):
        params += math.prod(tensor.shape.numpy())
        param_bytes += _stored_bytes(tensor)

    depth, critical_path, critical_cost, total_cost = _paths(model)
    return GraphStats(
        nodes=sum(histogram.values()),
        main_graph_nodes=len(model.graph),
        subgraphs=sum(
            1 for body in bodies if isinstance(body, ir.Graph) and body is not model.graph
        ),
        functions=len(model.functions),
        initializers=sum(len(body.initializers) for body in bodies if isinstance(body, ir.Graph)),
        op_histogram=dict(histogram),
        params=params,
        param_bytes=param_bytes,
        macs=macs,
        macs_unknown_nodes=unknown_macs,
        depth=depth,
        total_cost=total_cost,
        critical_path_cost=critical_cost,
        parallelism=total_cost / critical_cost if critical_cost > 0 else 1.0,
        critical_path=critical_path[:CRITICAL_PATH_LIMIT],
    )


def _stored_bytes(tensor: ir.TensorProtocol) -> int:
    """``nbytes``; 0 for a string tensor whose class cannot tell without reading its data."""
    try:
        return tensor.nbytes
    except TypeError:
        return 0


class _InclusiveCosts:
    """Cost of a node plus the bodies it owns and the local function it calls (memoized)."""

    def __init__(self, model: ir.Model) -> None:
        self.functions = model.functions
        self.function_costs: dict[ir.OperatorIdentifier, float] = {}

    def of_node(self, node: ir.Node) -> float:
        cost = node_cost(node) + sum(self.of_body(sub) for sub in traversal.subgraphs_of(node))
        key = (node.domain, node.op_type, node.overload)
        function = self.functions.get(key)
        if function is not None:
            if key not in self.function_costs:
                self.function_costs[key] = 0.0  # a recursive call adds nothing
                self.function_costs[key] = self.of_body(function)
            cost += self.function_costs[key]
        return cost

    def of_body(self, body: traversal.GraphBody) -> float:
        return sum(self.of_node(node) for node in body)


def _paths(model: ir.Model) -> tuple[int, list[str], float, float]:
    """Depth, critical path, critical-path cost and total cost of the main graph."""
    nodes = list(model.graph)
    if not nodes:
        return 0, [], 0.0, 0.0
    ids = dict(zip(nodes, op_ids(model.graph), strict=True))
    position = {node: index for index, node in enumerate(nodes)}
    costs = _InclusiveCosts(model)
    cost = {ids[node]: costs.of_node(node) for node in nodes}
    # Node weights become edge weights: each edge weighs the cost of its target, and a
    # virtual start node feeds every op so that the first op's cost counts too.
    deps = nx.DiGraph()
    deps.add_weighted_edges_from(((_START, n, c) for n, c in cost.items()), weight="cost")
    deps.add_weighted_edges_from(
        (
            (ids[producer], ids[node], cost[ids[node]])
            for node, producers in traversal.dependencies(model.graph).items()
            for producer in sorted(producers, key=position.__getitem__)  # ties: a stable path
        ),
        weight="cost",
    )
    try:
        order = list(nx.topological_sort(deps))
    except nx.NetworkXUnfeasible as error:
        cycle = [source for source, _ in nx.find_cycle(deps)]
        raise GraphoptError(
            ErrorCode.GRAPH_CYCLE, "the main graph has a cycle", nodes=cycle
        ) from error
    path = nx.dag_longest_path(deps, weight="cost", topo_order=order)[1:]
    # No edge has a "hops" attribute, so each weighs 1: the path with the most ops.
    depth = len(nx.dag_longest_path(deps, weight="hops", topo_order=order)) - 1
    return depth, path, float(sum(cost[n] for n in path)), float(sum(cost.values()))
