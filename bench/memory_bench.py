"""Memory planning on real models: arena vs lower bound vs no reuse, peak before/after.

Every model goes through ``optimize`` (default pipeline, pinned inputs, verification off:
this measures planning, not correctness) with ``--memory schedule``; the numbers are the
report's ``memory`` section. The synthetic Inception stack times planning + scheduling
on a graph of about 5,000 nodes. ``--yolo`` exports :mod:`yolo_like`'s YOLOv8-style
detector (random weights, 1x3x640x640) at the given scales with torch.

    .venv/bin/python bench/memory_bench.py                 # corpus + light zoo models
    .venv/bin/python bench/memory_bench.py --synthetic 417 # + a 5,004-node Inception stack
    .venv/bin/python bench/memory_bench.py --yolo n,s      # + YOLOv8-like n and s (needs torch)

Prints a markdown table; ``--json FILE`` also writes the rows. onnxruntime's own peak RSS
before and after is measured by ``bench/memory_ort.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import onnx_ir as ir

from graphopt.engine import optimize
from graphopt.engine.memory.lifetimes import collect_tensors
from graphopt.engine.memory.models import MemoryOptions
from graphopt.engine.memory.planner import plan_memory, subgraph_workspaces
from graphopt.engine.memory.scheduler import schedule_body
from graphopt.engine.options import OptimizeOptions, VerifyOptions
from memory_models import CORPUS, CORPUS_SHAPES, LIGHT, inception_stack, load_light

_MIB = 1 << 20


def _models(workdir: Path, yolo: list[str]) -> list[tuple[str, Path, dict[str, list[int]]]]:
    found = []
    for name, pins in CORPUS_SHAPES.items():
        if (CORPUS / name).exists():
            found.append((name, CORPUS / name, pins))
    for path in sorted(LIGHT.glob("light_*.onnx")):
        converted = workdir / path.name
        ir.save(load_light(path), converted)
        found.append((path.name, converted, {}))
    if yolo:
        from yolo_like import export  # torch is not a graphopt dependency: only when asked

        for scale in yolo:
            found.append((f"yolo_like_{scale}", export(workdir / f"yolo_{scale}.onnx", scale), {}))
    return found


def measure(
    path: Path, pins: dict[str, list[int]], budget_s: float, in_place: bool
) -> dict[str, Any]:
    """The memory section of ``optimize`` on ``path`` with scheduling on, as a row."""
    options = OptimizeOptions(
        input_shapes=pins,
        verify=VerifyOptions(enabled=False),
        memory=MemoryOptions(schedule=True, time_budget_s=budget_s, in_place=in_place),
    )
    with optimize(path, options) as result:
        memory = result.report.memory
        assert memory is not None, [w.message for w in result.report.warnings]
        schedule = memory.schedule
        return {
            "nodes": memory.steps,
            "arena": memory.arena_bytes,
            "lower_bound": memory.lower_bound_bytes,
            "naive": memory.naive_bytes,
            "arena/lb": round(memory.arena_bytes / max(memory.lower_bound_bytes, 1), 4),
            "algorithm": memory.algorithm,
            "peak_before": schedule.peak_before,
            "peak_after": schedule.peak_after,
            "peak_cut_%": round(100 * (1 - schedule.peak_after / max(schedule.peak_before, 1)), 1),
            "method": schedule.method,
            "unplanned": len(memory.unplanned),
            "in_place": memory.in_place,
            "schedule_ms": schedule.ms,
            "plan_ms": memory.planning_ms,
        }


def synthetic(blocks: int, budget_s: float) -> dict[str, Any]:
    """Plan + schedule wall time of an Inception stack of ``blocks`` blocks."""
    model = inception_stack(blocks)
    started = time.perf_counter()
    tensors, _ = collect_tensors(model.graph, 64)
    workspaces, _ = subgraph_workspaces(model.graph, 64)
    schedule = schedule_body(model.graph, tensors, workspaces, budget_s)
    scheduled = time.perf_counter()
    model.graph.remove(list(model.graph))
    model.graph.extend(schedule.order)
    report, _ = plan_memory(model)
    done = time.perf_counter()
    return {
        "nodes": len(schedule.order),
        "arena": report.arena_bytes,
        "lower_bound": report.lower_bound_bytes,
        "naive": report.naive_bytes,
        "arena/lb": round(report.arena_bytes / max(report.lower_bound_bytes, 1), 4),
        "algorithm": report.algorithm,
        "peak_before": schedule.peak_before,
        "peak_after": schedule.peak_after,
        "peak_cut_%": round(100 * (1 - schedule.peak_after / max(schedule.peak_before, 1)), 1),
        "method": schedule.method,
        "unplanned": len(report.unplanned),
        "schedule_ms": round((scheduled - started) * 1000, 1),
        "plan_ms": round((done - scheduled) * 1000, 1),
    }


def _table(rows: dict[str, dict[str, Any]]) -> str:
    columns = list(next(iter(rows.values())))
    lines = [
        "| model | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, row in rows.items():
        cells = [
            f"{row[c] / _MIB:.2f} MiB"
            if c in ("arena", "lower_bound", "naive", "peak_before", "peak_after")
            else str(row[c])
            for c in columns
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=0, help="Inception blocks (12 nodes)")
    parser.add_argument("--budget", type=float, default=2.0, help="scheduler time budget, s")
    parser.add_argument("--yolo", default="", help="YOLOv8-like scales to add: n,s,m (torch)")
    parser.add_argument("--only", default="", help="substring of the model names to run")
    parser.add_argument(
        "--no-in-place", action="store_true", help="plan every tensor in its own bytes"
    )
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, pins in _models(Path(tmp), [s for s in args.yolo.split(",") if s]):
            if args.only in name:
                rows[name] = measure(path, pins, args.budget, not args.no_in_place)
    if args.synthetic:
        rows[f"inception_stack({args.synthetic})"] = synthetic(args.synthetic, args.budget)
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
