"""Byte offsets for tensors with known lifetimes in one arena (offline, static plan).

Three greedy orders; the smallest arena is kept (earlier ones win ties; the later ones are
not tried once an arena reaches the lower bound):

- **greedy by size** (Pisarchyk & Lee, "Efficient Memory Management for Deep Neural Net
  Inference", 2020, as in TFLite): tensors by decreasing size;
- **greedy by breadth** (same paper): steps by decreasing live bytes, and in each step its
  tensors not yet placed by decreasing size (a tensor is placed at the widest step it
  covers);
- **greedy by lifetime**: tensors by decreasing number of steps they live, then size; it
  packs the long buffers of tensors computed in place where the other two leave gaps.

Each places a tensor at the best-fitting offset: among the gaps left between the already
placed tensors whose lifetimes overlap its own, the smallest gap that holds it; above all
of them when none does. Each result is then *repaired by promotion*: the tensors that
end above the lower bound go first and all are placed again (a few rounds, kept only
when smaller). This fixes the typical greedy miss, a small long-lived tensor stacked on
top of equal-sized chains, at the cost of a few more placements. Sizes are already
aligned, so every offset is a multiple of the alignment. Guarantees: two tensors whose
step ranges intersect never share a byte, and ``lower_bound <= arena <= naive`` (sum of
sizes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from graphopt.engine.memory.lifetimes import Lifetime, live_bytes
from graphopt.engine.memory.models import ArenaAlgorithm

PROMOTION_ROUNDS = 8
"""Repair rounds per strategy (each one placement), only while the arena is above the bound."""


@dataclass(frozen=True)
class ArenaPlan:
    """Offsets (bytes) parallel to the planned spans, the arena size, and how it was found."""

    offsets: list[int]
    arena_bytes: int
    algorithm: ArenaAlgorithm


def _place(spans: Sequence[Lifetime], order: Sequence[int]) -> tuple[list[int], int]:
    """Best-fit placement of ``spans`` in the given order; offsets and arena size."""
    n = len(spans)
    first = np.array([s.first for s in spans], dtype=np.int64)
    last = np.array([s.last for s in spans], dtype=np.int64)
    size = np.array([s.size for s in spans], dtype=np.int64)
    placed_first = np.empty(n, dtype=np.int64)
    placed_last = np.empty(n, dtype=np.int64)
    placed_offset = np.empty(n, dtype=np.int64)
    placed_end = np.empty(n, dtype=np.int64)
    offsets = [0] * n
    count = 0
    arena = 0
    for i in order:
        need = int(size[i])
        if need == 0:
            continue
        overlap = (placed_first[:count] <= last[i]) & (placed_last[:count] >= first[i])
        starts = placed_offset[:count][overlap]
        offset = 0
        if starts.size:
            by_start = np.argsort(starts, kind="stable")
            starts = starts[by_start]
            reach = np.maximum.accumulate(placed_end[:count][overlap][by_start])
            below = np.concatenate(([0], reach[:-1]))
            gaps = starts - below
            fitting = np.flatnonzero(gaps >= need)
            if fitting.size:
                best = fitting[np.argmin(gaps[fitting])]
                offset = int(below[best])
            else:
                offset = int(reach[-1])
        offsets[i] = offset
        placed_first[count], placed_last[count] = first[i], last[i]
        placed_offset[count], placed_end[count] = offset, offset + need
        count += 1
        arena = max(arena, offset + need)
    return offsets, arena


def _by_size(spans: Sequence[Lifetime]) -> list[int]:
    return sorted(range(len(spans)), key=lambda i: (-spans[i].size, spans[i].first, i))


def _by_lifetime(spans: Sequence[Lifetime]) -> list[int]:
    return sorted(
        range(len(spans)), key=lambda i: (spans[i].first - spans[i].last, -spans[i].size, i)
    )


def _by_breadth(spans: Sequence[Lifetime], steps: int) -> list[int]:
    breadth = np.asarray(live_bytes(spans, steps), dtype=np.int64)
    # rank of each step when steps are sorted by decreasing breadth (ties: earlier first)
    step_rank = np.empty(steps, dtype=np.int64)
    step_rank[np.lexsort((np.arange(steps), -breadth))] = np.arange(steps)
    keys = []
    for i, span in enumerate(spans):
        window = step_rank[span.first : span.last + 1]
        keys.append((int(window.min()), -span.size, i))
    return [key[2] for key in sorted(keys)]


def _promote(
    spans: Sequence[Lifetime], order: list[int], bound: int
) -> tuple[list[int], int, list[int]]:
    """Place in ``order``, then repair: up to ``PROMOTION_ROUNDS`` times, the tensors that
    end above ``bound`` move to the front of the order and everything is placed again;
    the smallest arena wins. Returns offsets, arena and the order that produced them."""
    offsets, arena = _place(spans, order)
    promoted: list[int] = []
    for _ in range(PROMOTION_ROUNDS):
        if arena <= bound:
            break
        taken = set(promoted)
        over = [i for i in order if offsets[i] + spans[i].size > bound and i not in taken]
        if not over:
            break
        promoted += over
        taken.update(over)
        candidate = promoted + [i for i in order if i not in taken]
        candidate_offsets, candidate_arena = _place(spans, candidate)
        if candidate_arena < arena:
            offsets, arena, order = candidate_offsets, candidate_arena, candidate
    return offsets, arena, order


def plan_arena(spans: Sequence[Lifetime], steps: int) -> ArenaPlan:
    """The best of the three strategies (each repaired by promotion); earlier ones win ties,
    and none is tried once an arena equals the lower bound."""
    bound = lower_bound(spans, steps)
    best: ArenaPlan | None = None
    candidates: list[tuple[ArenaAlgorithm, list[int]]] = [
        ("greedy_by_size", _by_size(spans)),
        ("greedy_by_breadth", _by_breadth(spans, steps)),
        ("greedy_by_lifetime", _by_lifetime(spans)),
    ]
    for algorithm, order in candidates:
        if best is not None and best.arena_bytes <= bound:
            break
        offsets, arena, _ = _promote(spans, order, bound)
        if best is None or arena < best.arena_bytes:
            best = ArenaPlan(offsets, arena, algorithm)
    assert best is not None
    return best


def lower_bound(spans: Sequence[Lifetime], steps: int) -> int:
    """Max over steps of live bytes: no arena for these lifetimes can be smaller."""
    return max(live_bytes(spans, steps), default=0)


def naive_bytes(spans: Sequence[Lifetime]) -> int:
    """Sum of all sizes: the arena without any reuse."""
    return sum(s.size for s in spans)
