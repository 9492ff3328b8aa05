"""Memory-aware scheduling: valid orders, never a higher peak, the optimum on small graphs."""

from __future__ import annotations

import random

import networkx as nx
import onnx_ir as ir
import pytest
from memory_graphs import branchy_model, dag_model, is_valid_order, reference_peak

from graphopt.engine.memory.lifetimes import collect_tensors
from graphopt.engine.memory.scheduler import EXACT_MAX_NODES, Schedule, schedule_body


def schedule(model: ir.Model, budget_s: float = 2.0) -> Schedule:
    tensors, _ = collect_tensors(model.graph, 1)
    return schedule_body(model.graph, tensors, time_budget_s=budget_s)


def random_dag(seed: int, count: int) -> ir.Model:
    """``count`` nodes, each reading one to three earlier tensors, of random sizes."""
    rng = random.Random(seed)
    spec: list[tuple[str, list[str], int]] = []
    for i in range(count):
        earlier = ["x"] + [name for name, _, _ in spec]
        inputs = sorted(set(rng.sample(earlier[-6:], k=min(len(earlier[-6:]), rng.randint(1, 3)))))
        spec.append((f"n{i}", inputs, rng.choice([1, 2, 5, 10, 40])))
    return dag_model(spec, [spec[-1][0]])


def brute_force_peak(model: ir.Model) -> int:
    """The lowest peak over every topological order (networkx enumerates them)."""
    graph = nx.DiGraph()
    nodes = list(model.graph)
    graph.add_nodes_from(nodes)
    for n in nodes:
        for value in n.inputs:
            if value is not None and value.producer() is not None:
                graph.add_edge(value.producer(), n)
    return min(reference_peak(model, order) for order in nx.all_topological_sorts(graph))


def test_a_breadth_first_order_is_made_depth_first_with_a_lower_peak() -> None:
    model = branchy_model(branches=3, width=16)
    written = list(model.graph)
    result = schedule(model)
    assert is_valid_order(model, result.order)
    assert result.peak_before == reference_peak(model, written) == 4 * 64 * 4
    assert (
        result.peak_after == reference_peak(model, result.order) == 2 * 64 * 4 + 2 * 4
    )  # cat, t2, s0, s1
    assert result.method == "exact" and result.exact_segments == result.segments


@pytest.mark.parametrize("seed", range(8))
def test_small_graphs_get_the_optimal_peak(seed: int) -> None:
    model = random_dag(seed, count=8)
    result = schedule(model)
    assert is_valid_order(model, result.order)
    assert result.method == "exact"
    assert result.peak_after == reference_peak(model, result.order) == brute_force_peak(model)


@pytest.mark.parametrize("seed", range(6))
def test_larger_graphs_get_a_valid_order_and_never_a_higher_peak(seed: int) -> None:
    model = random_dag(100 + seed, count=60)
    result = schedule(model)
    assert is_valid_order(model, result.order)
    assert result.peak_before == reference_peak(model, list(model.graph))
    assert result.peak_after == reference_peak(model, result.order) <= result.peak_before


def test_a_segment_too_large_for_the_search_is_scheduled_greedily() -> None:
    width = EXACT_MAX_NODES + 20
    spec = [(f"big{i}", ["x"], 100) for i in range(width)]
    spec += [(f"small{i}", [f"big{i}"], 1) for i in range(width)]
    spec.append(("y", [f"small{i}" for i in range(width)], 1))
    model = dag_model(spec, ["y"])
    result = schedule(model)
    assert result.method in ("greedy", "beam")
    assert is_valid_order(model, result.order)
    assert result.peak_before == reference_peak(model, list(model.graph))
    # depth-first: one big tensor at a time beside the small ones already made
    assert result.peak_after == reference_peak(model, result.order) == 4 * (100 + width)


def test_past_the_time_budget_the_written_order_is_kept() -> None:
    model = branchy_model(branches=4)
    result = schedule(model, budget_s=1e-9)
    assert result.method == "partial"
    assert result.order == list(model.graph)
    assert result.peak_after == result.peak_before


def _blocks(count: int, stray: bool) -> ir.Model:
    """``count`` blocks of four branches (big then small tensor) written breadth-first."""
    spec: list[tuple[str, list[str], int]] = [("shape", ["x"], 1)] if stray else []
    h = "x"
    for b in range(count):
        spec += [(f"big{b}_{j}", [h], 100) for j in range(4)]
        spec += [(f"small{b}_{j}", [f"big{b}_{j}"], 1) for j in range(4)]
        spec.append((f"h{b}", [f"small{b}_{j}" for j in range(4)], 10))
        h = f"h{b}"
    spec.append(("y", [h, "shape"] if stray else [h], 1))
    return dag_model(spec, ["y"])


def test_a_stray_source_node_costs_no_peak_in_a_large_graph() -> None:
    # "shape" reads only the input and is used at the very end: it is comparable to no
    # other node, so the whole graph is one segment, too large for the exact search
    model = _blocks(20, stray=True)
    assert len(model.graph) > EXACT_MAX_NODES
    result = schedule(model)
    assert is_valid_order(model, result.order)
    without = schedule(_blocks(20, stray=False))
    assert without.method == "exact"
    assert result.peak_after == reference_peak(model, result.order) == without.peak_after
    assert result.peak_after < result.peak_before
