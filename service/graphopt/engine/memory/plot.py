"""The memory picture: live bytes per step, and where each tensor sits in the arena.

Top panel: live arena bytes at each step, in the written order and (when the graph was
scheduled) in the order before scheduling, with the arena size as a line. Bottom panel:
the offset map, one rectangle per tensor spanning its steps (x) and its bytes (y).
Rendered with matplotlib's non-interactive Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.collections import PatchCollection
from matplotlib.patches import Rectangle

from graphopt.engine.memory.models import MemoryPlan, MemoryReport

_MIB = 1 << 20
_KINDS = {"activation": "tab:blue", "output": "tab:green", "workspace": "tab:red"}


def plot_memory(report: MemoryReport, plan: MemoryPlan, path: Path) -> Path:
    """Write the two-panel PNG to ``path`` (parents created) and return ``path``."""
    figure, (timeline, offsets) = plt.subplots(2, 1, figsize=(12, 8), constrained_layout=True)
    try:
        steps = range(len(plan.live_bytes))
        if plan.live_bytes_before is not None:
            timeline.step(
                range(len(plan.live_bytes_before)),
                [b / _MIB for b in plan.live_bytes_before],
                where="mid",
                color="tab:gray",
                label=f"before scheduling (peak {report.schedule.peak_before / _MIB:.2f} MiB)",
            )
        timeline.step(
            steps,
            [b / _MIB for b in plan.live_bytes],
            where="mid",
            color="tab:blue",
            label=f"{'after scheduling' if plan.live_bytes_before else 'written order'} "
            f"(peak {report.schedule.peak_after / _MIB:.2f} MiB)",
        )
        timeline.axhline(
            report.arena_bytes / _MIB,
            color="tab:red",
            linestyle="--",
            label=f"arena ({report.algorithm}) {report.arena_bytes / _MIB:.2f} MiB",
        )
        timeline.set_xlabel("step")
        timeline.set_ylabel("live MiB")
        timeline.set_title(
            f"live activation bytes per step (schedule: {report.schedule.method}; "
            f"naive {report.naive_bytes / _MIB:.2f} MiB)"
        )
        timeline.legend(loc="upper right")

        rectangles = [
            Rectangle((t.first - 0.4, t.offset / _MIB), t.last - t.first + 0.8, t.size / _MIB)
            for t in plan.tensors
            if t.size
        ]
        colors = [_KINDS[t.kind] for t in plan.tensors if t.size]
        offsets.add_collection(
            PatchCollection(rectangles, facecolor=colors, edgecolor="black", linewidth=0.2)
        )
        offsets.set_xlim(-1, max(len(plan.live_bytes), 1))
        offsets.set_ylim(0, max(report.arena_bytes / _MIB, 1e-6) * 1.02)
        offsets.set_xlabel("step")
        offsets.set_ylabel("arena offset (MiB)")
        offsets.set_title(
            f"offset map: {len(rectangles)} tensors (blue activation, green output, "
            "red subgraph workspace)"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path
