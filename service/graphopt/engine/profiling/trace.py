"""Reading onnxruntime's profiler output (Chrome trace JSON, loadable in Perfetto).

Node events (``cat == "Node"``, names ending in ``_kernel_time``) carry the op type in
``args.op_name`` and their duration in microseconds. :func:`op_breakdown` sums them per op
type and per node, divided by the number of profiled runs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

KERNEL_SUFFIX = "_kernel_time"


class OpTime(BaseModel):
    """Time of one op type per run: total ms, share of all kernel time, kernel count."""

    op_type: str
    ms: float
    share: float
    count: int


class NodeTime(BaseModel):
    """Time of one node per run."""

    name: str
    op_type: str
    ms: float


class OpBreakdown(BaseModel):
    """Kernel time per op type (descending) and the slowest nodes, per run."""

    total_ms: float
    by_op_type: list[OpTime]
    top_nodes: list[NodeTime]


def op_breakdown(trace_path: Path, runs: int, top: int = 20) -> OpBreakdown:
    """Per-op-type and per-node kernel time of a trace covering ``runs`` runs."""
    events = json.loads(Path(trace_path).read_text())
    per_type: dict[str, float] = defaultdict(float)
    per_type_count: dict[str, int] = defaultdict(int)
    per_node: dict[tuple[str, str], float] = defaultdict(float)
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX):
            continue
        op_type = event.get("args", {}).get("op_name", "?")
        us = float(event.get("dur", 0))
        per_type[op_type] += us
        per_type_count[op_type] += 1
        per_node[(name.removesuffix(KERNEL_SUFFIX), op_type)] += us
    runs = max(runs, 1)
    total_us = sum(per_type.values())
    by_type = [
        OpTime(
            op_type=op,
            ms=round(us / runs / 1000, 4),
            share=round(us / total_us, 4) if total_us else 0.0,
            count=per_type_count[op] // runs,
        )
        for op, us in sorted(per_type.items(), key=lambda kv: -kv[1])
    ]
    nodes = sorted(per_node.items(), key=lambda kv: -kv[1])[:top]
    return OpBreakdown(
        total_ms=round(total_us / runs / 1000, 4),
        by_op_type=by_type,
        top_nodes=[
            NodeTime(name=n, op_type=op, ms=round(us / runs / 1000, 4)) for (n, op), us in nodes
        ],
    )
