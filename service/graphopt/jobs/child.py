"""What runs inside the sandbox (:mod:`.sandbox`): model inspection, graph export, optimization.

Each function takes a JSON-like payload and an ``emit`` callback and returns a JSON-like
value; :class:`GraphoptError` propagates to the parent as ``{"code", "message", "detail"}``.
These functions trust nothing about the model: they only ever run in a limited child, named
as sandbox targets (``"graphopt.jobs.child:optimize_model"``) so that callers need not
import the engine.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from graphopt.engine import (
    OptimizeOptions,
    Progress,
    Report,
    build_view,
    infer_shapes,
    load_model,
    model_info,
    model_stats,
    optimize,
    to_node_link,
    write_graphml,
)
from graphopt.engine.intake.archive import archive_kind
from graphopt.engine.intake.size_limits import check_size_limits
from graphopt.engine.process_settings import apply_process_settings
from graphopt.jobs.sandbox import Emit

REPORT_NAME = "report.json"
OUTPUT_NAME = "optimized.onnx"

apply_process_settings()

try:  # models are private: no usage events leave the sandbox
    import onnxruntime

    onnxruntime.disable_telemetry_events()
except (ImportError, AttributeError):
    pass


def _private_tmp(directory: Path) -> None:
    """Temporary files of this child (bundle extraction, profiles) go under ``directory``:
    inside the server's data directory, removed with the request's scratch directory."""
    tempfile.tempdir = str(directory)


def describe_model(payload: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Validate an uploaded file: ``{"kind", "info", "stats"}`` or a GraphoptError.

    ``payload["max_nodes"]``/``["max_initializer_bytes"]`` (optional) cap the model's size.
    """
    path = Path(payload["path"])
    _private_tmp(path.parent)
    kind = archive_kind(path) or "onnx"
    with load_model(path) as loaded:
        check_size_limits(
            loaded.model,
            max_nodes=payload.get("max_nodes"),
            max_initializer_bytes=payload.get("max_initializer_bytes"),
        )
        info = model_info(loaded)
        stats = model_stats(loaded.model)
        warnings = [w.to_dict() for w in loaded.warnings]
    return {
        "kind": kind,
        "info": info.model_dump(mode="json"),
        "stats": stats.model_dump(mode="json"),
        "warnings": warnings,
    }


def export_graph(payload: dict[str, Any], emit: Emit) -> None:
    """Write the model's networkx view to ``payload["output"]`` as node-link JSON or GraphML."""
    output = Path(payload["output"])
    _private_tmp(Path(payload["path"]).parent)
    with load_model(Path(payload["path"])) as loaded:
        infer_shapes(loaded.model)
        view = build_view(loaded.model)
    if payload["format"] == "graphml":
        write_graphml(view, output)
    else:
        output.write_text(json.dumps(to_node_link(view)))


def optimize_model(payload: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Optimize ``payload["path"]`` into ``payload["workdir"]``; return the job summary.

    Writes ``optimized.onnx`` (+ ``optimized.onnx.data``), ``report.json`` and, when
    profiling or memory planning ran, the engine's ``ort_profile_*.json`` traces, the per-op
    latency chart ``op_latency.png`` and ``memory_plan.json``/``memory_timeline.png`` into
    the work directory.
    Progress events are emitted as ``{"stage", "message", "fraction", "current_pass"}``.
    """
    workdir = Path(payload["workdir"])
    _private_tmp(Path(payload["path"]).parent)
    options = OptimizeOptions.model_validate(payload["options"])

    def progress(event: Progress) -> None:
        emit(
            {
                "stage": event.stage,
                "message": event.message.replace(f"{workdir}/", ""),
                "fraction": event.fraction,
                "current_pass": event.current_pass,
            }
        )

    with optimize(
        Path(payload["path"]), options, output=workdir / OUTPUT_NAME, progress=progress
    ) as result:
        report = result.report
        # Paths in the report name artifacts, not the server's work directory.
        text = report.model_dump_json(indent=2).replace(f"{workdir}/", "")
        (workdir / REPORT_NAME).write_text(text)
        if report.profile is not None:
            from graphopt.engine.profiling.plot import OP_LATENCY_PNG, plot_op_latency

            plot_op_latency(report.profile, workdir / OP_LATENCY_PNG)
    return job_summary(report)


def job_summary(report: Report) -> dict[str, Any]:
    """The headline numbers a job resource shows (counts; times in ms)."""
    summary: dict[str, Any] = {
        "nodes_before": report.original.nodes,
        "nodes_after": report.optimized.nodes,
        "params_before": report.original.params,
        "params_after": report.optimized.params,
        "macs_before": report.original.macs,
        "macs_after": report.optimized.macs,
        "verification": report.verification.status,
        "verification_passed": report.verification.passed,
        "rolled_back": [r.name for r in report.verification.rolled_back],
        "engine_ms": report.timings.total_ms,
        "pass_ms": _pass_ms(report),
        "latency_p50_ms_before": None,
        "latency_p50_ms_after": None,
    }
    if report.profile is not None:
        summary["latency_p50_ms_before"] = report.profile.original.latency.p50_ms
        summary["latency_p50_ms_after"] = report.profile.optimized.latency.p50_ms
    return summary


def _pass_ms(report: Report) -> dict[str, float]:
    """Total time of each pass over all its runs in the job."""
    totals: dict[str, float] = {}
    for record in report.passes:
        totals[record.name] = round(totals.get(record.name, 0.0) + record.ms, 3)
    return totals
