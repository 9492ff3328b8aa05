"""Rich renderings of server resources and reports for the remote CLI."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from rich.markup import escape
from rich.table import Table

from graphopt_client.types.job import JobData
from graphopt_client.types.model import Model
from graphopt_client.types.report import Report

MIB = 1 << 20
ID_WIDTH = 28  # "mdl_" / "job_" and 24 hex digits: ids are never cut


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _change(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    if before == after:
        return "="
    return f"{after - before:+,}" if before == 0 else f"{(after - before) / before:+.1%}"


def summary_table(report: Report) -> Table:
    """Nodes, parameters, MACs and (when profiled) latency p50, before and after."""
    table = Table(title="Summary")
    for column in ("metric", "original", "optimized", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows: list[tuple[str, float | None, float | None]] = [
        ("nodes", report.original.nodes, report.optimized.nodes),
        ("parameters", report.original.params, report.optimized.params),
        ("MACs", report.original.macs, report.optimized.macs),
    ]
    if report.profile is not None:
        latency = (report.profile.original.latency, report.profile.optimized.latency)
        rows.append(("latency p50 (ms)", latency[0].p50_ms, latency[1].p50_ms))
    for label, before, after in rows:
        table.add_row(label, _num(before), _num(after), _change(before, after))
    return table


def passes_table(report: Report) -> Table:
    """Per pass: applications, nodes removed/added, time (ms)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for record in report.passes:
        entry = totals[record.name]
        entry[0] += 1
        entry[1] += record.nodes_removed
        entry[2] += record.nodes_added
        entry[3] += record.ms
    table = Table(title="Passes")
    for column in ("pass", "runs", "removed", "added", "ms"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    for name, (runs, removed, added, ms) in totals.items():
        table.add_row(name, _num(runs), _num(removed), _num(added), f"{ms:,.1f}")
    return table


def headline_lines(report: Report) -> list[str]:
    """Verification verdict, pruning and memory-plan headlines, warnings (markup)."""
    v = report.verification
    colour = {"passed": "green", "failed": "red"}.get(v.status, "yellow")
    lines = [
        f"verification: [{colour}]{v.status}[/{colour}]" + (f": {v.reason}" if v.reason else "")
    ]
    lines += [f"  [yellow]rolled back[/yellow] {r.name} ({r.reason})" for r in v.rolled_back]
    if report.pruning is not None:
        p = report.pruning
        lines.append(
            f"pruning: params {p.params_before:,} -> {p.params_after:,}, "
            f"MACs {p.macs_before:,} -> {p.macs_after:,}, "
            f"file {p.file_bytes_before:,} -> {p.file_bytes_after:,} bytes"
        )
    if report.memory is not None:
        m = report.memory
        lines.append(
            f"memory: arena {m.arena_bytes / MIB:.2f} MiB (lower bound "
            f"{m.lower_bound_bytes / MIB:.2f}, no reuse {m.naive_bytes / MIB:.2f}); peak "
            f"{m.schedule.peak_before / MIB:.2f} -> {m.schedule.peak_after / MIB:.2f} MiB "
            f"({m.schedule.method}); in place {m.in_place}; unplanned {len(m.unplanned)}"
        )
    lines += [f"[yellow]warning\\[{w.code}][/yellow]: {escape(w.message)}" for w in report.warnings]
    return lines


def models_table(models: Iterable[Model]) -> Table:
    table = Table(title="Models")
    table.add_column("id", no_wrap=True, min_width=ID_WIDTH)
    for column in ("file", "kind", "bytes", "nodes", "created"):
        table.add_column(column, justify="right" if column in {"bytes", "nodes"} else "left")
    for m in models:
        created = m.created_at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            m.id, escape(m.filename), m.kind, _num(m.size_bytes), _num(m.node_count), created
        )
    return table


def jobs_table(jobs: Iterable[JobData]) -> Table:
    table = Table(title="Jobs")
    table.add_column("id", no_wrap=True, min_width=ID_WIDTH)
    table.add_column("model", no_wrap=True, min_width=ID_WIDTH)
    for column in ("status", "pipeline", "nodes", "verification", "ms"):
        table.add_column(column, justify="right" if column in {"nodes", "ms"} else "left")
    for job in jobs:
        summary = job.summary
        nodes = f"{_num(summary.nodes_before)} -> {_num(summary.nodes_after)}" if summary else ""
        pipeline = job.pipeline if isinstance(job.pipeline, str) else ",".join(job.pipeline)
        table.add_row(
            job.id,
            job.model_id,
            job.status,
            escape(pipeline),
            nodes,
            (summary.verification or "") if summary else "",
            _num(job.duration_ms),
        )
    return table


def job_lines(job: JobData) -> list[str]:
    """A job's state, error and artifacts (markup)."""
    lines = [f"[bold]{job.id}[/bold] ({job.model_id}): {job.status}"]
    if job.progress is not None and not job.done:
        lines.append(f"  {job.progress.stage}: {escape(job.progress.message)}")
    if job.error is not None:
        lines.append(f"  [red]error\\[{job.error.code}][/red]: {escape(job.error.message)}")
    lines += [f"  {a.name}  {a.size:,} bytes" for a in job.artifacts]
    return lines
