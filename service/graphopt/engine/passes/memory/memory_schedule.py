"""Pass ``memory_schedule``."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import onnx_ir as ir
from pydantic import Field

from graphopt.engine.memory.arena_planner import lower_bound
from graphopt.engine.memory.lifetimes import collect_tensors
from graphopt.engine.memory.models import ScheduleSummary
from graphopt.engine.memory.planner import (
    SCHEDULE_META_KEY,
    ScheduleRecord,
    Spans,
    subgraph_workspaces,
)
from graphopt.engine.memory.scheduler import schedule_body
from graphopt.engine.passes.base import ModelPass, NoOptions, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register


class MemoryScheduleOptions(NoOptions):
    alignment: int = Field(64, ge=1, le=1 << 20, description="bytes, as the arena plan uses")
    in_place: bool = Field(True, description="as the arena plan: sizes subgraph workspaces")
    time_budget_s: float = Field(2.0, gt=0, le=600, description="wall-time cap of the search")


@register
class MemorySchedule(ModelPass):
    """Reorder the main graph's nodes into a topological order with a lower activation peak.

    Matches: the main graph, when at least one activation has a static size (pin input
    shapes first). The peak is the max over steps of aligned live activation bytes (the
    conventions of docs/memory.md; If/Loop/Scan bodies count as a workspace at their
    owner); the order is found by graphopt.engine.memory.scheduler (exact set search per
    segment between cut nodes, beam or greedy for large segments, within
    ``time_budget_s``). Guarantees: the new order is topological, and its peak is never
    above the written order's, neither with every tensor in its own bytes nor (with
    ``in_place``) with the in-place buffers the plan may use; the written order is kept
    when no lower peak is found.
    Leaves alone: nodes, values and attributes (only positions change), subgraph bodies
    and functions. The previous order stays in ``graph.meta`` for the memory report.
    Lossless (the same computation in another valid order). The search is bounded by wall
    time: on a slower machine it may stop earlier and keep more of the written order.
    """

    name = "memory_schedule"
    family = PassFamily.MEMORY
    lossless = True
    Options = MemoryScheduleOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, MemoryScheduleOptions)
        graph = model.graph
        tensors, unplanned = collect_tensors(graph, self.options.alignment)
        if not tensors:
            return PassOutcome(notes=["no activation has a static size: pin input shapes"])
        workspaces, _ = subgraph_workspaces(graph, self.options.alignment, self.options.in_place)
        before = list(graph)
        schedule = schedule_body(graph, tensors, workspaces, self.options.time_budget_s)
        kept = ""
        if self.options.in_place and schedule.order != before:
            # the search counts every tensor in its own bytes; the plan may share buffers
            shared_before, shared_after = (
                lower_bound(Spans.of(tensors, order, workspaces, True).buffers, len(order))
                for order in (before, schedule.order)
            )
            if shared_after > shared_before:
                schedule = replace(schedule, order=before, peak_after=schedule.peak_before)
                kept = (
                    f"kept the written order: with in-place buffers its peak "
                    f"{shared_before} is below the new order's {shared_after}"
                )
        graph.meta[SCHEDULE_META_KEY] = ScheduleRecord(
            order_before=before,
            summary=ScheduleSummary(
                method=schedule.method,
                peak_before=schedule.peak_before,
                peak_after=schedule.peak_after,
                segments=schedule.segments,
                exact_segments=schedule.exact_segments,
                ms=schedule.ms,
            ),
        )
        notes = [
            f"peak live bytes {schedule.peak_before} -> {schedule.peak_after} "
            f"({schedule.method}; {schedule.exact_segments}/{schedule.segments} segments exact)"
        ]
        if kept:
            notes.append(kept)
        if unplanned:
            notes.append(
                f"activations without a static size (counted as 0 bytes): {len(unplanned)}"
            )
        if schedule.order == before:
            return PassOutcome(notes=notes)
        moved = sum(1 for a, b in zip(before, schedule.order, strict=True) if a is not b)
        graph.remove(before)
        graph.extend(schedule.order)
        return PassOutcome(changed=True, counts=Counter({"nodes moved": moved}), notes=notes)
