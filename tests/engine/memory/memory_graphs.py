"""Hand-built graphs for the memory tests, and an independent reference for the checks.

``dag_model`` builds graphs of opaque ops (domain ``test``) whose outputs are float32
vectors of declared lengths: the planner only needs sizes and uses, so any DAG shape can
be described. ``reference_peak`` recomputes an order's peak from the definition, without
the engine's code, ``assert_valid_plan`` checks a plan from the definition, and
``branchy_model`` is a runnable graph whose written order has a needlessly high peak.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import onnx_ir as ir
from graphs import init, make_model, node, vi

Spec = Sequence[tuple[str, Sequence[str], int]]
"""(tensor name, input tensor names, float32 elements): one node producing that tensor."""


def dag_model(spec: Spec, outputs: Sequence[str], inputs: Sequence[str] = ("x",)) -> ir.Model:
    """A graph with one ``test::Op`` node per spec entry, in spec order."""
    nodes = [node("Op", list(ins), [name], domain="test", name=name) for name, ins, _ in spec]
    sizes = {name: n for name, _, n in spec}
    return make_model(
        nodes,
        [vi(x, [4]) for x in inputs],
        [vi(o, [sizes[o]]) for o in outputs],
        value_info=[vi(name, [n]) for name, _, n in spec if name not in outputs],
        extra_opsets={"test": 1},
    )


def reference_peak(model: ir.Model, order: Sequence[ir.Node], alignment: int = 1) -> int:
    """Max over steps of bytes of node outputs alive at the step (the documented rule)."""
    graph = model.graph
    position = {n: i for i, n in enumerate(order)}
    outputs = set(graph.outputs)
    spans = []
    for n in graph:
        for value in n.outputs:
            length = value.shape[0] if value.shape is not None else None
            assert isinstance(length, int), value  # float32 vectors of known length
            size = -(-4 * length // alignment) * alignment
            users = [position[u] for u, _ in value.uses()]
            last = len(order) - 1 if value in outputs else max(users, default=position[n])
            spans.append((position[n], last, size))
    return max(
        sum(size for first, last, size in spans if first <= step <= last)
        for step in range(len(order))
    )


def assert_valid_plan(
    tensors: Sequence[tuple[int, int, int, int]],
    arena: int,
    in_place: Collection[tuple[int, int]] = (),
) -> None:
    """``(first, last, offset, size)`` per tensor: every tensor lies within ``[0, arena)``,
    and no two tensors live at a common step share a byte, except an ``in_place`` pair
    ``(input, output)`` (indices): the output written over its input, at the same offset
    and size, the two living together only at the step where the input ends and the output
    begins."""
    for first, last, offset, size in tensors:
        assert 0 <= first <= last and offset >= 0 and offset + size <= arena
    for input_, output in in_place:
        _, last_in, offset_in, size_in = tensors[input_]
        first_out, _, offset_out, size_out = tensors[output]
        assert (offset_in, size_in, last_in) == (offset_out, size_out, first_out)
    shared = set(in_place) | {(b, a) for a, b in in_place}
    for i, (first_a, last_a, offset_a, size_a) in enumerate(tensors):
        for j in range(i + 1, len(tensors)):
            first_b, last_b, offset_b, size_b = tensors[j]
            if min(size_a, size_b) == 0 or last_a < first_b or last_b < first_a:
                continue
            if (i, j) in shared:
                continue
            assert offset_a + size_a <= offset_b or offset_b + size_b <= offset_a, (i, j)


def is_valid_order(model: ir.Model, order: Sequence[ir.Node]) -> bool:
    """Every node exactly once, each after the producers of its inputs."""
    if len(order) != len(set(order)) or set(order) != set(model.graph):
        return False
    seen: set[ir.Node] = set()
    for n in order:
        for value in n.inputs:
            producer = value.producer() if value is not None else None
            if producer is not None and producer not in seen:
                return False
        seen.add(n)
    return True


def branchy_model(branches: int = 3, width: int = 16) -> ir.Model:
    """A runnable graph written breadth-first: every branch's big tensor before any reduction.

    ``cat = Concat(x, x, x, x)``; branch i: ``t_i = cat + w_i`` (4 * width floats),
    ``s_i = ReduceSum(t_i)`` (1 float); ``y = Concat(s_0, ...)``. Written order: cat, all
    t_i, all s_i, y, so all t_i are live at once; depth-first needs only two of them.
    """
    big = 4 * width
    nodes = [node("Concat", ["x"] * 4, ["cat"], axis=0)]
    nodes += [node("Add", ["cat", f"w{i}"], [f"t{i}"]) for i in range(branches)]
    nodes += [node("ReduceSum", [f"t{i}"], [f"s{i}"], keepdims=1) for i in range(branches)]
    nodes.append(node("Concat", [f"s{i}" for i in range(branches)], ["y"], axis=0))
    weights = [init(f"w{i}", np.full(big, i + 1.0), "float32") for i in range(branches)]
    return make_model(
        nodes,
        [vi("x", [width])],
        [vi("y", [branches])],
        weights,
        value_info=[vi("cat", [big])]
        + [vi(f"t{i}", [big]) for i in range(branches)]
        + [vi(f"s{i}", [1]) for i in range(branches)],
    )
