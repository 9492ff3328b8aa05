"""Arena offsets: validity checked independently, bounds, and the three greedy strategies."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from memory_graphs import assert_valid_plan, dag_model

from graphopt.engine.memory.arena_planner import (
    lower_bound,
    naive_bytes,
    plan_arena,
)
from graphopt.engine.memory.lifetimes import Lifetime, collect_tensors, lifetimes


def assert_valid(spans: Sequence[Lifetime], offsets: Sequence[int], arena: int) -> None:
    tensors = [(s.first, s.last, o, s.size) for s, o in zip(spans, offsets, strict=True)]
    assert_valid_plan(tensors, arena)


def random_spans(seed: int, count: int, steps: int, alignment: int) -> list[Lifetime]:
    rng = random.Random(seed)
    spans = []
    for i in range(count):
        first = rng.randrange(steps)
        last = min(steps - 1, first + rng.choice([0, 1, 2, 5, 20]))
        size = rng.choice([1, 3, 10, 100, 1000, 5000]) * alignment
        spans.append(Lifetime(f"t{i}", size, first, last, "activation"))
    return spans


@pytest.mark.parametrize("seed", range(20))
def test_random_plans_are_valid_and_between_the_bounds(seed: int) -> None:
    spans = random_spans(seed, count=60, steps=40, alignment=64)
    plan = plan_arena(spans, 40)
    assert_valid(spans, plan.offsets, plan.arena_bytes)
    assert all(offset % 64 == 0 for offset in plan.offsets)
    assert lower_bound(spans, 40) <= plan.arena_bytes <= naive_bytes(spans)


def test_a_chain_of_growing_tensors_reaches_the_lower_bound() -> None:
    spec = [(f"t{i}", [f"t{i - 1}" if i else "x"], 16 * (1 + i)) for i in range(12)]
    model = dag_model(spec, ["t11"])
    tensors, _ = collect_tensors(model.graph, 64)
    spans = lifetimes(tensors, list(model.graph))
    plan = plan_arena(spans, len(model.graph))
    assert_valid(spans, plan.offsets, plan.arena_bytes)
    assert plan.arena_bytes == lower_bound(spans, len(model.graph))
    assert naive_bytes(spans) == sum(s.size for s in spans) > plan.arena_bytes


@pytest.mark.parametrize(
    ("seed", "winner"),
    [(2, "greedy_by_breadth"), (11, "greedy_by_size"), (18, "greedy_by_lifetime")],
)
def test_the_best_strategy_is_kept(seed: int, winner: str) -> None:
    spans = random_spans(seed, count=60, steps=40, alignment=64)
    plan = plan_arena(spans, 40)
    assert plan.algorithm == winner  # the strategies differ on these lifetimes
    assert_valid(spans, plan.offsets, plan.arena_bytes)


def test_zero_sized_tensors_take_no_room() -> None:
    spans = [Lifetime("empty", 0, 0, 2, "activation"), Lifetime("a", 64, 0, 2, "activation")]
    plan = plan_arena(spans, 3)
    assert plan.arena_bytes == 64
    assert plan_arena([], 0).arena_bytes == 0


def test_a_small_long_lived_tensor_beside_equal_chains_is_repaired_to_the_bound() -> None:
    # two windows of three equal tensors live at once, each beside a small tensor that
    # lives through the window; the small ones meet at step 8. Plain greedy by size
    # stacks both small ones on top of the chains (3 big + 2 small).
    big, small = 64 * 100, 64 * 16
    spans = [Lifetime("a", small, 0, 8, "activation"), Lifetime("b", small, 8, 16, "activation")]
    spans += [Lifetime(f"x{k}", big, k, k + 2, "activation") for k in range(1, 7)]
    spans += [Lifetime(f"y{k}", big, k, k + 2, "activation") for k in range(9, 15)]
    plan = plan_arena(spans, 17)
    assert_valid(spans, plan.offsets, plan.arena_bytes)
    assert lower_bound(spans, 17) == 3 * big + small
    assert plan.arena_bytes == 3 * big + small
