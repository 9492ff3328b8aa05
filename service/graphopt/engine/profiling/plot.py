"""The per-op latency picture: kernel time per op type, original vs optimized.

One horizontal bar chart: for each op type (the ``top`` slowest of either model, slowest
at the top) two bars, the original's and the optimized model's kernel milliseconds per
run from the profiler (:mod:`.trace`); the title carries the p50 latencies. Rendered with
matplotlib's Agg backend on an explicit ``Figure`` (no pyplot state, no display needed).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from graphopt.engine.profiling.profile import ProfileReport

OP_LATENCY_PNG = "op_latency.png"


def op_rows(profile: ProfileReport, top: int = 15) -> list[tuple[str, float, float]]:
    """``(op_type, original ms/run, optimized ms/run)`` of the ``top`` slowest op types,
    slowest first (by the larger of the two)."""
    before = {op.op_type: op.ms for op in profile.original.ops.by_op_type}
    after = {op.op_type: op.ms for op in profile.optimized.ops.by_op_type}
    ranked = sorted(
        set(before) | set(after),
        key=lambda op: (-max(before.get(op, 0.0), after.get(op, 0.0)), op),
    )
    return [(op, before.get(op, 0.0), after.get(op, 0.0)) for op in ranked[:top]]


def plot_op_latency(profile: ProfileReport, path: Path, *, top: int = 15) -> Path:
    """Write the chart described in the module docstring to ``path`` (parents created)."""
    rows = op_rows(profile, top)
    height = 1.6 + 0.42 * max(len(rows), 1)
    figure = Figure(figsize=(9, height), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = range(len(rows))
    bar = 0.4
    axes.barh(
        [p - bar / 2 for p in positions],
        [r[1] for r in rows],
        height=bar,
        color="tab:gray",
        label=f"original (p50 {profile.original.latency.p50_ms:.3f} ms)",
    )
    axes.barh(
        [p + bar / 2 for p in positions],
        [r[2] for r in rows],
        height=bar,
        color="tab:blue",
        label=f"optimized (p50 {profile.optimized.latency.p50_ms:.3f} ms)",
    )
    axes.set_yticks(list(positions), [r[0] for r in rows])
    axes.invert_yaxis()
    axes.set_xlabel("kernel time per run (ms)")
    axes.set_title(
        f"per-op kernel time, {profile.session.label()} (latency ratio {profile.latency_ratio:.3f})"
    )
    if not rows:
        axes.text(0.5, 0.5, "no kernel events in the traces", ha="center", transform=axes.transAxes)
    axes.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
