"""Rich renderings of engine results (tables for people, JSON for programs)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from graphopt.engine.profiling.profile import ProfileReport
    from graphopt.engine.profiling.tune import TuneReport
    from graphopt.engine.report import GraphStats, ModelInfo, PassRecord, Report, Selection


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _change(before: float, after: float) -> str:
    if before == after:
        return "="
    if before == 0:
        return f"{after - before:+,}"
    return f"{(after - before) / before:+.1%}"


def stats_table(original: GraphStats, optimized: GraphStats | None = None) -> Table:
    """Nodes, params, bytes, MACs, depth and parallelism (before/after when both given)."""
    table = Table(title="Graph statistics")
    table.add_column("metric")
    table.add_column("original", justify="right")
    if optimized is not None:
        table.add_column("optimized", justify="right")
        table.add_column("change", justify="right")
    rows = [
        ("nodes", "nodes"),
        ("parameters", "params"),
        ("parameter bytes", "param_bytes"),
        ("initializers", "initializers"),
        ("MACs", "macs"),
        ("depth (ops)", "depth"),
        ("parallelism", "parallelism"),
    ]
    for label, attr in rows:
        before = getattr(original, attr)
        if optimized is None:
            table.add_row(label, _num(before))
        else:
            after = getattr(optimized, attr)
            table.add_row(label, _num(before), _num(after), _change(before, after))
    unknown = [s.macs_unknown_nodes for s in (original, optimized) if s is not None]
    if any(unknown):
        table.caption = (
            f"MACs exclude {max(unknown)} nodes with unknown shapes: pin them with --input-shape"
        )
    return table


def io_table(info: ModelInfo) -> Table:
    """The model's inputs and outputs."""
    table = Table(title=f"{info.name}  (opset {info.opset.get('', '?')}, IR {info.ir_version})")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("dtype")
    table.add_column("shape")
    for kind, specs in (("input", info.inputs), ("output", info.outputs)):
        for spec in specs:
            shape = (
                "?"
                if spec.shape is None
                else "x".join("?" if d is None else str(d) for d in spec.shape)
            )
            table.add_row(kind, spec.name, spec.dtype or "?", shape or "scalar")
    return table


def ops_table(stats: GraphStats, top: int = 15) -> Table:
    """The most frequent op types."""
    table = Table(title=f"Top {top} op types")
    table.add_column("op")
    table.add_column("count", justify="right")
    for op, count in sorted(stats.op_histogram.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        table.add_row(op, str(count))
    return table


def passes_table(records: list[PassRecord]) -> Table:
    """Per pass name: applications, nodes removed/added, time."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0])
    for record in records:
        entry = totals[record.name]
        entry[0] += 1
        entry[1] += record.nodes_removed
        entry[2] += record.nodes_added
        entry[3] += record.ms
        entry[4] += record.nodes_rewritten
    table = Table(title="Passes")
    for column in ("pass", "runs", "removed", "added", "rewritten", "ms"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    for name, (runs, removed, added, ms, rewritten) in totals.items():
        table.add_row(name, _num(runs), _num(removed), _num(added), _num(rewritten), f"{ms:,.1f}")
    return table


def verification_lines(report: Report) -> list[str]:
    """The verification verdict and per-output errors, as markup lines."""
    v = report.verification
    colour = {"passed": "green", "failed": "red"}.get(v.status, "yellow")
    lines = [
        f"verification: [{colour}]{v.status}[/{colour}]" + (f" — {v.reason}" if v.reason else "")
    ]
    for output in v.outputs:
        lines.append(
            f"  {escape(output.name)}: max_abs={_num(output.max_abs) if output.max_abs is None else f'{output.max_abs:.3g}'}"
            f" max_rel={'-' if output.max_rel is None else f'{output.max_rel:.3g}'}"
            f" cosine={'-' if output.cosine is None else f'{output.cosine:.6f}'}"
            + ("" if output.passed else " [red]MISMATCH[/red]")
        )
    for rolled in v.rolled_back:
        lines.append(
            f"  [yellow]rolled back[/yellow] {rolled.name} ({rolled.reason}): {rolled.error}"
        )
    return lines


def profile_table(profile: ProfileReport, top: int = 8) -> Table:
    """Latency, kernel time per op type and peak memory, original vs optimized."""
    before, after = profile.original, profile.optimized
    table = Table(title=f"Profile ({escape(profile.session.label())}, {profile.runs} runs)")
    for column in ("metric", "original", "optimized", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, a, b in (
        ("latency p50 (ms)", before.latency.p50_ms, after.latency.p50_ms),
        ("latency p90 (ms)", before.latency.p90_ms, after.latency.p90_ms),
        ("latency min (ms)", before.latency.min_ms, after.latency.min_ms),
        ("peak RSS added (bytes)", before.memory.model_bytes, after.memory.model_bytes),
    ):
        table.add_row(label, _num(a), _num(b), _change(a, b))
    kernel_before = {op.op_type: op.ms for op in before.ops.by_op_type}
    kernel_after = {op.op_type: op.ms for op in after.ops.by_op_type}
    ranked = sorted(
        set(kernel_before) | set(kernel_after),
        key=lambda op: -max(kernel_before.get(op, 0.0), kernel_after.get(op, 0.0)),
    )
    for op in ranked[:top]:
        a, b = kernel_before.get(op, 0.0), kernel_after.get(op, 0.0)
        table.add_row(f"  {escape(op)} (ms/run)", f"{a:,.3f}", f"{b:,.3f}", _change(a, b))
    table.caption = f"latency ratio (p50 optimized / original): {profile.latency_ratio:.3f}"
    return table


def tuning_table(tuning: TuneReport) -> Table:
    """Every session configuration of the sweep, fastest first; the first is recommended."""
    table = Table(title=f"Session tuning ({tuning.rounds} interleaved runs each)")
    for column in ("session", "p50 (ms)", "p90 (ms)", "vs best"):
        table.add_column(column, justify="left" if column == "session" else "right")
    best = tuning.trials[0].latency.p50_ms
    for trial in tuning.trials:
        p50 = trial.latency.p50_ms
        table.add_row(
            escape(trial.session.label()),
            f"{p50:,.3f}",
            f"{trial.latency.p90_ms:,.3f}",
            f"{p50 / best:.2f}x" if best > 0 else "-",
        )
    table.caption = f"recommended: {tuning.recommended.label()}"
    return table


def selection_line(selection: Selection) -> str:
    """Which candidate measured selection kept, and why."""
    timed = sum(1 for c in selection.candidates if c.status == "timed")
    head = f"selection ({selection.status}): kept [bold]{escape(selection.chosen)}[/bold]"
    if selection.status == "done":
        head += f" of {timed} timed candidates, {selection.rounds} rounds"
    if selection.nothing_helped:
        head += " — nothing helped"
    return f"{head}: {escape(selection.reason)}"
