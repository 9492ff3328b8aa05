"""Memory-aware scheduling: a topological order of a body's nodes with a low peak.

The peak of an order is the max over steps of live arena bytes, with the lifetime
conventions of :mod:`.lifetimes` (a node's inputs and outputs and its workspace are all
live at its step). :func:`schedule_body` finds an order whose peak is never above the
written order's:

1. ``Constant`` nodes (weights, outside the arena) go first, in their written order.
2. **Segments.** A *cut* is a node every other node is an ancestor or a descendant of;
   cuts split the order into independent segments (whatever order a segment takes, the
   live set at each cut is the same), so each segment is solved on its own (the
   hierarchical idea of HMCOS, DAC 2022, with cuts found by ancestor/descendant bitsets).
3. **Exact search** on a segment: dynamic programming over the sets of scheduled nodes
   (Serenity, MLSys 2020): the live bytes after a set do not depend on the order that
   produced it, so keeping the lowest peak per set is exact. When a level holds more sets
   than the beam width allows it keeps the best ones (``beam``), no longer exact.
4. **Greedy** list scheduling for segments too large for the search: of the ready nodes,
   the one keeping the running peak lowest, then freeing the most, then written first.
   A segment not solved exactly is also retried split at *relaxed* cuts (stray sources
   and side outputs set aside, see :func:`_segments`), and the lower peak is kept.
5. Each segment keeps the written order unless the search found a strictly lower peak;
   past ``time_budget_s`` the remaining segments keep the written order. When the whole
   body gains nothing, the written order is returned unchanged (``Constant`` nodes too).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import onnx_ir as ir

from graphopt.engine.memory.lifetimes import BodyTensor, is_weight_node
from graphopt.engine.memory.models import ScheduleMethod
from graphopt.engine.traversal import dependencies

EXACT_MAX_NODES = 160
"""Segments up to this many nodes get the set search; larger ones the greedy scheduler."""
SEARCH_WORK = 1_000_000
"""Rough budget of (state, candidate) pairs per segment; sets the beam width."""


@dataclass
class Schedule:
    """A body's new order and what it achieved (bytes; ``ms`` is the search's wall time)."""

    order: list[ir.Node]
    method: ScheduleMethod
    peak_before: int
    peak_after: int
    segments: int
    exact_segments: int
    ms: float


class _Problem:
    """Nodes and arena tensors of one body as integer tables (node ids = written position)."""

    def __init__(
        self,
        body: ir.Graph,
        tensors: Sequence[BodyTensor],
        workspaces: Mapping[ir.Node, int],
    ) -> None:
        self.weights = [n for n in body if is_weight_node(n)]
        self.nodes = [n for n in body if not is_weight_node(n)]
        index = {node: i for i, node in enumerate(self.nodes)}
        preds = dependencies(body)
        self.preds = [sorted(index[p] for p in preds[n] if p in index) for n in self.nodes]
        count = len(self.nodes)
        self.size = [t.size for t in tensors]
        self.keep = [t.graph_output for t in tensors]
        self.consumers = [sorted(index[c] for c in t.consumers) for t in tensors]
        self.inputs: list[list[int]] = [[] for _ in range(count)]
        self.out_total = [workspaces.get(n, 0) for n in self.nodes]
        self.out_alive = [0] * count
        for t, tensor in enumerate(tensors):
            producer = index[tensor.producer]
            self.out_total[producer] += tensor.size
            if self.consumers[t] or self.keep[t]:
                self.out_alive[producer] += tensor.size
            for c in self.consumers[t]:
                self.inputs[c].append(t)

    def simulate(
        self, order: Sequence[int], remaining: list[int], live: int
    ) -> tuple[int, int, list[int]]:
        """Run ``order`` from ``live`` bytes, updating ``remaining`` consumer counts.

        Returns the peak, the live bytes after the last node and the per-step live bytes.
        """
        peak, profile = 0, []
        for v in order:
            step = live + self.out_total[v]
            profile.append(step)
            peak = max(peak, step)
            live += self.out_alive[v]
            for t in self.inputs[v]:
                remaining[t] -= 1
                if remaining[t] == 0 and not self.keep[t]:
                    live -= self.size[t]
        return peak, live, profile

    def fresh_counts(self) -> list[int]:
        return [len(c) for c in self.consumers]


def _segments(problem: _Problem, nodes: list[int], *, relaxed: bool = False) -> list[list[int]]:
    """``nodes`` (ids in written order, closed under the segment) split at cuts, in order.

    A *cut* is a node every other node of ``nodes`` is an ancestor or a descendant of:
    every valid order runs the nodes before it first, so splitting there loses nothing.
    ``relaxed`` looks for cuts among the *core* nodes only (with predecessors and
    successors inside ``nodes``): a node without successors joins the last group when its
    output outlives ``nodes`` (read later, or a graph output) and else the group of its
    latest predecessor; then a node without predecessors joins the group of its earliest
    successor. A stray source (a
    shape computation) or a side output then no longer prevents every cut, at the price
    of a restricted search. Every edge goes from a group to the same or a later one.
    """
    inside = set(nodes)
    preds = {v: [p for p in problem.preds[v] if p in inside] for v in nodes}
    successors: dict[int, list[int]] = {v: [] for v in nodes}
    for v in nodes:
        for p in preds[v]:
            successors[p].append(v)
    core = [v for v in nodes if preds[v] and successors[v]] if relaxed else list(nodes)
    group = dict.fromkeys(nodes, 0)
    index = {v: i for i, v in enumerate(core)}
    ancestors = [0] * len(core)
    for i, v in enumerate(core):  # ``nodes`` are in written, topological, order
        for p in preds[v]:
            if p in index:
                ancestors[i] |= ancestors[index[p]] | (1 << index[p])
    descendants = [0] * len(core)
    for i in reversed(range(len(core))):
        for s in successors[core[i]]:
            if s in index:
                descendants[i] |= descendants[index[s]] | (1 << index[s])
    cut_mask = 0
    for i in range(len(core)):
        if ancestors[i].bit_count() + descendants[i].bit_count() == len(core) - 1:
            cut_mask |= 1 << i
    for i, v in enumerate(core):
        group[v] = 2 * (ancestors[i] & cut_mask).bit_count() + ((cut_mask >> i) & 1)
    if relaxed:
        last = max(group.values(), default=0) + 1
        for v in nodes:  # sinks: as late as possible when their output outlives ``nodes``
            if not successors[v]:
                late = problem.out_alive[v] > 0
                group[v] = last if late else max((group[p] for p in preds[v]), default=0)
        for v in nodes:  # sources: as late as their earliest successor allows
            if not preds[v] and successors[v]:
                group[v] = min(group[s] for s in successors[v])
    groups: dict[int, list[int]] = {}
    for v in nodes:
        groups.setdefault(group[v], []).append(v)
    return [groups[g] for g in sorted(groups)]


class _Segment:
    """One segment's search tables, relative to the live state before it."""

    def __init__(self, problem: _Problem, nodes: list[int], remaining: list[int]) -> None:
        self.problem = problem
        self.nodes = nodes
        local = {v: i for i, v in enumerate(nodes)}
        self.pred_mask = [sum(1 << local[p] for p in problem.preds[v] if p in local) for v in nodes]
        self.deaths: list[list[tuple[int, int]]] = []  # per node: (size, consumer mask)
        for v in nodes:
            dies = []
            for t in problem.inputs[v]:
                inside = [local[c] for c in problem.consumers[t] if c in local]
                if problem.keep[t] or len(inside) < remaining[t]:
                    continue  # read again after this segment
                dies.append((problem.size[t], sum(1 << i for i in inside)))
            self.deaths.append(dies)

    def search(self, live: int, width: int, deadline: float) -> tuple[list[int], bool] | None:
        """Best order by set DP with ``width`` sets per level; None past ``deadline``.

        Returns the order (local indices) and whether no level was pruned (then optimal).
        """
        problem, nodes = self.problem, self.nodes
        level: dict[int, tuple[int, int]] = {0: (0, live)}
        parents: list[dict[int, tuple[int, int]]] = []
        exact = True
        for _ in nodes:
            if time.perf_counter() > deadline:
                return None
            following: dict[int, tuple[int, int]] = {}
            back: dict[int, tuple[int, int]] = {}
            for done, (peak, mem) in level.items():
                for i, v in enumerate(nodes):
                    bit = 1 << i
                    if done & bit or self.pred_mask[i] & ~done:
                        continue
                    after = done | bit
                    step_peak = max(peak, mem + problem.out_total[v])
                    known = following.get(after)
                    if known is not None and known[0] <= step_peak:
                        continue
                    freed = sum(size for size, users in self.deaths[i] if not users & ~after)
                    following[after] = (step_peak, mem + problem.out_alive[v] - freed)
                    back[after] = (done, i)
            if len(following) > width:
                exact = False
                kept = sorted(following.items(), key=lambda kv: (kv[1], kv[0]))[:width]
                following = dict(kept)
            parents.append(back)
            level = following
        (final,) = level
        order: list[int] = []
        for back in reversed(parents):
            final, i = back[final]
            order.append(i)
        return order[::-1], exact

    def greedy(self, live: int, remaining: list[int]) -> list[int]:
        """List scheduling: lowest running peak, then most freed, then written first."""
        problem, nodes = self.problem, self.nodes
        counts = list(remaining)
        waiting = [self.pred_mask[i].bit_count() for i in range(len(nodes))]
        local = {v: i for i, v in enumerate(nodes)}
        users: list[list[int]] = [[] for _ in nodes]
        for i, v in enumerate(nodes):
            for p in problem.preds[v]:
                if p in local:
                    users[local[p]].append(i)
        ready = [i for i in range(len(nodes)) if waiting[i] == 0]
        order: list[int] = []
        peak = 0
        while ready:
            best_key: tuple[int, int, int] | None = None
            best = -1
            for i in ready:
                v = nodes[i]
                freed = sum(
                    problem.size[t]
                    for t in problem.inputs[v]
                    if counts[t] == 1 and not problem.keep[t]
                )
                key = (
                    max(peak, live + problem.out_total[v]),
                    problem.out_alive[v] - freed,
                    i,
                )
                if best_key is None or key < best_key:
                    best_key, best = key, i
            assert best_key is not None
            ready.remove(best)
            order.append(best)
            v = nodes[best]
            peak = best_key[0]
            live += best_key[1]
            for t in problem.inputs[v]:
                counts[t] -= 1
            for u in users[best]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    ready.append(u)
        return order


def schedule_body(
    body: ir.Graph,
    tensors: Sequence[BodyTensor],
    workspaces: Mapping[ir.Node, int] | None = None,
    time_budget_s: float = 2.0,
) -> Schedule:
    """A topological order of ``body``'s nodes whose peak is at most the written order's."""
    started = time.perf_counter()
    deadline = started + time_budget_s
    problem = _Problem(body, tensors, workspaces or {})
    written = list(range(len(problem.nodes)))
    peak_before, _, _ = problem.simulate(written, problem.fresh_counts(), 0)
    remaining = problem.fresh_counts()
    live = 0
    order: list[int] = []
    methods: set[str] = set()
    segments = _segments(problem, written)
    exact_segments = 0
    for nodes in segments:
        chosen, exact = _schedule_segment(problem, nodes, remaining, live, deadline, methods)
        if not exact:
            chosen = _try_relaxed(problem, nodes, chosen, remaining, live, deadline, methods)
        exact_segments += exact
        order.extend(chosen)
        _, live, _ = problem.simulate(chosen, remaining, live)
    peak_after, _, _ = problem.simulate(order, problem.fresh_counts(), 0)
    new_order = problem.weights + [problem.nodes[v] for v in order]
    if peak_after >= peak_before:  # no gain (a loss cannot happen segment by segment)
        new_order, peak_after = list(body), peak_before
    method: ScheduleMethod = next(
        (m for m in ("partial", "greedy", "beam") if m in methods), "exact"
    )
    return Schedule(
        order=new_order,
        method=method,
        peak_before=peak_before,
        peak_after=peak_after,
        segments=len(segments),
        exact_segments=exact_segments,
        ms=round((time.perf_counter() - started) * 1000, 3),
    )


def _try_relaxed(
    problem: _Problem,
    nodes: list[int],
    chosen: list[int],
    remaining: list[int],
    live: int,
    deadline: float,
    methods: set[str],
) -> list[int]:
    """``chosen``, or the order from solving ``nodes`` split at relaxed cuts if its peak is
    lower (``remaining`` is not changed)."""
    parts = _segments(problem, nodes, relaxed=True)
    if len(parts) < 2:
        return chosen
    counts, state = list(remaining), live
    joined: list[int] = []
    for part in parts:
        order, _ = _schedule_segment(problem, part, counts, state, deadline, methods)
        joined.extend(order)
        _, state, _ = problem.simulate(order, counts, state)
    peak_joined, _, _ = problem.simulate(joined, list(remaining), live)
    peak_chosen, _, _ = problem.simulate(chosen, list(remaining), live)
    return joined if peak_joined < peak_chosen else chosen


def _schedule_segment(
    problem: _Problem,
    nodes: list[int],
    remaining: list[int],
    live: int,
    deadline: float,
    methods: set[str],
) -> tuple[list[int], bool]:
    """The segment's order (global node ids) and whether its peak is proven optimal.

    Adds to ``methods`` how the segment was searched: ``exact``, ``beam``, ``greedy``, or
    ``partial`` when the time budget ran out first.
    """
    if len(nodes) == 1:
        return nodes, True
    segment = _Segment(problem, nodes, remaining)
    best, (best_peak, _, _) = nodes, problem.simulate(nodes, list(remaining), live)
    candidates: list[list[int]] = []
    optimal = False
    if len(nodes) <= EXACT_MAX_NODES:
        width = max(16, SEARCH_WORK // (len(nodes) * len(nodes)))
        found = segment.search(live, width, deadline)
        if found is not None:
            local, optimal = found
            candidates.append([nodes[i] for i in local])
            methods.add("exact" if optimal else "beam")
    if not optimal:
        if time.perf_counter() > deadline:
            methods.add("partial")
        else:
            candidates.append([nodes[i] for i in segment.greedy(live, remaining)])
            methods.add("greedy")
    for order in candidates:
        peak, _, _ = problem.simulate(order, list(remaining), live)
        if peak < best_peak:  # ties keep the written order
            best, best_peak = order, peak
    return best, optimal
