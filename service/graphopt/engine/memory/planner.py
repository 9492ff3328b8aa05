"""Plan a model's activation memory: the report section, the plan, and its artifacts.

:func:`plan_memory` plans the main graph in its written node order: sizes, lifetimes
(:mod:`.lifetimes`), arena offsets (:mod:`.arena_planner`). Every If/Loop/Scan body is
planned on its own, recursively, and its arena is reserved as a workspace at the owning
node's step (the bodies of one node share it: only one runs at a time). The model is only
read. When the ``memory_schedule`` pass reordered the graph earlier in the pipeline, it left
the previous order in ``graph.meta`` (in memory, never serialized); the report then states
the peak before and after scheduling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import onnx_ir as ir

from graphopt.engine.errors import Diagnostic, WarningCode
from graphopt.engine.memory.arena_planner import ArenaPlan, lower_bound, naive_bytes, plan_arena
from graphopt.engine.memory.lifetimes import (
    BodyTensor,
    Lifetime,
    collect_tensors,
    in_place_sources,
    lifetimes,
    live_bytes,
    share_buffers,
)
from graphopt.engine.memory.models import (
    ArenaAlgorithm,
    BodyPlan,
    MemoryOptions,
    MemoryPlan,
    MemoryReport,
    ScheduleSummary,
    TensorPlan,
    UnplannedTensor,
)
from graphopt.engine.traversal import subgraphs_of

SCHEDULE_META_KEY = "graphopt.memory.schedule"
"""``graph.meta`` key under which ``memory_schedule`` leaves a :class:`ScheduleRecord`."""


@dataclass
class ScheduleRecord:
    """What the ``memory_schedule`` pass did: the order it replaced and how it searched."""

    order_before: list[ir.Node]
    summary: ScheduleSummary


@dataclass
class BodyResult:
    """The plan of one graph body and of the bodies nested in it."""

    tensors: list[TensorPlan]
    arena_bytes: int
    lower_bound_bytes: int
    naive_bytes: int
    algorithm: ArenaAlgorithm
    live_bytes: list[int]
    unplanned: list[UnplannedTensor]
    bodies: list[BodyPlan] = field(default_factory=list)
    in_place: bool = False
    """Whether the plan computes tensors in place (see :func:`plan_body`)."""


@dataclass
class Spans:
    """A body's tensor lifetimes over one order and the buffers they occupy (one per tensor,
    except that a tensor computed in place shares its input's)."""

    tensors: list[Lifetime]
    buffers: list[Lifetime]
    buffer_of: list[int]
    sources: list[int | None]

    @classmethod
    def of(
        cls,
        tensors: list[BodyTensor],
        order: list[ir.Node],
        workspaces: dict[ir.Node, int],
        in_place: bool,
    ) -> Spans:
        spans = lifetimes(tensors, order, workspaces)
        sources: list[int | None] = [None] * len(spans)  # workspaces never share
        if in_place:
            sources[: len(tensors)] = in_place_sources(tensors, spans)
        buffers, buffer_of = share_buffers(spans, sources)
        return cls(spans, buffers, buffer_of, sources)


def subgraph_workspaces(
    body: ir.Graph, alignment: int, in_place: bool = True
) -> tuple[dict[ir.Node, int], list[BodyPlan]]:
    """Each subgraph owner's workspace (bytes: its largest body arena) and the body plans."""
    workspaces: dict[ir.Node, int] = {}
    plans: list[BodyPlan] = []
    for node in body:
        for attribute, sub in _named_subgraphs(node):
            result = plan_body(sub, alignment, in_place)
            workspaces[node] = max(workspaces.get(node, 0), result.arena_bytes)
            plans.append(
                BodyPlan(
                    owner=node.name or node.op_type,
                    attribute=attribute,
                    arena_bytes=result.arena_bytes,
                    lower_bound_bytes=result.lower_bound_bytes,
                    tensors=result.tensors,
                    bodies=result.bodies,
                    unplanned=result.unplanned,
                )
            )
    return workspaces, plans


def _named_subgraphs(node: ir.Node) -> list[tuple[str, ir.Graph]]:
    named = []
    for name, attr in node.attributes.items():
        if attr.is_ref():
            continue
        if attr.type == ir.AttributeType.GRAPH:
            named.append((name, attr.as_graph()))
        elif attr.type == ir.AttributeType.GRAPHS:
            named.extend((f"{name}[{i}]", g) for i, g in enumerate(attr.as_graphs()))
    assert len(named) == len(list(subgraphs_of(node)))
    return named


def plan_body(body: ir.Graph, alignment: int, in_place: bool = True) -> BodyResult:
    """Plan ``body`` in its written order (bodies nested in it first, recursively).

    With ``in_place`` the body is planned both with and without in-place buffers and the
    smaller arena is kept (without, on a tie): sharing buffers lowers the lower bound but
    makes longer buffers, which a greedy placement cannot always pack as tightly.
    """
    workspaces, bodies = subgraph_workspaces(body, alignment, in_place)
    tensors, unplanned = collect_tensors(body, alignment)
    order = list(body)
    candidates = [Spans.of(tensors, order, workspaces, False)]
    if in_place:
        candidates.append(Spans.of(tensors, order, workspaces, True))
    plans: list[tuple[Spans, ArenaPlan]] = []
    for spans in candidates:
        if plans and plans[0][1].arena_bytes <= lower_bound(spans.buffers, len(order)):
            continue  # cannot be smaller, and the first wins a tie
        plans.append((spans, plan_arena(spans.buffers, len(order))))
    spans, arena = min(plans, key=lambda plan: plan[1].arena_bytes)  # the first on a tie
    planned = [
        TensorPlan(
            name=s.name,
            offset=arena.offsets[spans.buffer_of[i]],
            size=s.size,
            first=s.first,
            last=s.last,
            kind=s.kind,
            in_place_of=None if source is None else spans.tensors[source].name,
        )
        for i, (s, source) in enumerate(zip(spans.tensors, spans.sources, strict=True))
    ]
    return BodyResult(
        tensors=planned,
        arena_bytes=arena.arena_bytes,
        lower_bound_bytes=lower_bound(spans.buffers, len(order)),
        naive_bytes=naive_bytes(spans.tensors),
        algorithm=arena.algorithm,
        live_bytes=live_bytes(spans.buffers, len(order)),
        unplanned=unplanned,
        bodies=bodies,
        in_place=any(source is not None for source in spans.sources),
    )


def _all_unplanned(result: BodyResult) -> list[UnplannedTensor]:
    found = list(result.unplanned)
    stack = list(result.bodies)
    while stack:
        body = stack.pop(0)
        found.extend(body.unplanned)
        stack.extend(body.bodies)
    return found


def _before(
    body: ir.Graph, alignment: int, in_place: bool, shared: bool, peak_after: int
) -> tuple[ScheduleSummary, list[int] | None]:
    """The schedule summary, and the live bytes per step of the order before scheduling
    (bodies planned with ``in_place`` as :func:`plan_body` did; buffers shared in place
    when the main plan does: ``shared``)."""
    record = body.meta.get(SCHEDULE_META_KEY)
    if not isinstance(record, ScheduleRecord) or set(record.order_before) != set(body):
        summary = ScheduleSummary(
            method="as_written", peak_before=peak_after, peak_after=peak_after
        )
        return summary, None
    workspaces, _ = subgraph_workspaces(body, alignment, in_place)
    tensors, _ = collect_tensors(body, alignment)
    order = record.order_before
    profile = live_bytes(Spans.of(tensors, order, workspaces, shared).buffers, len(order))
    summary = record.summary.model_copy(
        update={"peak_before": max(profile, default=0), "peak_after": peak_after}
    )
    return summary, profile


def plan_memory(
    model: ir.Model, options: MemoryOptions | None = None
) -> tuple[MemoryReport, MemoryPlan]:
    """Plan the model's activation memory (see module docstring); the model is not changed."""
    options = options or MemoryOptions()
    started = time.perf_counter()
    result = plan_body(model.graph, options.alignment, options.in_place)
    schedule, profile_before = _before(
        model.graph, options.alignment, options.in_place, result.in_place, result.lower_bound_bytes
    )
    unplanned = _all_unplanned(result)
    report = MemoryReport(
        alignment=options.alignment,
        arena_bytes=result.arena_bytes,
        lower_bound_bytes=result.lower_bound_bytes,
        naive_bytes=result.naive_bytes,
        algorithm=result.algorithm,
        tensors_planned=len(result.tensors),
        in_place=sum(t.in_place_of is not None for t in result.tensors),
        schedule=schedule,
        unplanned=unplanned,
        steps=len(result.live_bytes),
        planning_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    plan = MemoryPlan(
        alignment=options.alignment,
        arena_bytes=result.arena_bytes,
        lower_bound_bytes=result.lower_bound_bytes,
        naive_bytes=result.naive_bytes,
        algorithm=result.algorithm,
        schedule=schedule,
        unplanned=unplanned,
        order=[node.name or f"{node.op_type}_{i}" for i, node in enumerate(model.graph)],
        live_bytes=result.live_bytes,
        live_bytes_before=profile_before,
        tensors=result.tensors,
        bodies=result.bodies,
    )
    return report, plan


def write_memory_artifacts(
    report: MemoryReport, plan: MemoryPlan, out_dir: Path, *, plot: Path | None = None
) -> dict[str, Path]:
    """Write ``memory_plan.json`` and ``memory_timeline.png`` (or ``plot``) under ``out_dir``.

    Returns the written paths by artifact name (``memory_plan``, ``memory_timeline``).
    """
    from graphopt.engine.memory.plot import plot_memory

    out_dir.mkdir(parents=True, exist_ok=True)
    plan_path = out_dir / "memory_plan.json"
    plan_path.write_text(plan.model_dump_json(indent=1))
    timeline = plot or out_dir / "memory_timeline.png"
    plot_memory(report, plan, timeline)
    return {"memory_plan": plan_path, "memory_timeline": timeline}


def memory_section(
    model: ir.Model, options: MemoryOptions, out_dir: Path | None
) -> tuple[MemoryReport | None, list[Diagnostic]]:
    """Plan ``model`` for the optimization report and write the artifacts.

    Artifacts go to ``out_dir`` (the output model's folder) when given; ``options.plot``
    places the timeline elsewhere. Never raises: a failure becomes a
    ``memory_planning_failed`` warning; unsized activations a ``memory_unplanned`` one
    (with ``options.auto``: no section and no warning).
    """
    try:
        report, plan = plan_memory(model, options)
        if options.auto and report.unplanned:
            return None, []
        if out_dir is not None and not options.auto:
            written = write_memory_artifacts(report, plan, out_dir, plot=options.plot)
        elif options.plot is not None:
            from graphopt.engine.memory.plot import plot_memory

            written = {"memory_timeline": plot_memory(report, plan, options.plot)}
        else:
            written = {}
    except Exception as exc:  # the report must still be produced
        message = f"Memory planning failed: {type(exc).__name__}: {exc}"
        return None, [Diagnostic(WarningCode.MEMORY_PLANNING_FAILED, message)]
    report.artifacts = {name: str(path) for name, path in written.items()}
    warnings = []
    if report.unplanned:
        names = [u.name for u in report.unplanned]
        warnings.append(
            Diagnostic(
                WarningCode.MEMORY_UNPLANNED,
                f"{len(names)} activations have no static size and are not in the memory "
                "plan (pin input shapes with --input-shape)",
                {"tensors": names[:20]},
            )
        )
    return report, warnings
