"""Before/after profiling through ``optimize``: latency, op breakdown, memory, traces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from graphs import init, model_proto, node, vi

from graphopt.engine import OptimizeOptions, ProfileOptions, SessionConfig, optimize
from graphopt.engine.errors import WarningCode

QUICK = {"warmup": 1, "runs": 3, "profiled_runs": 2}


def _model_file(tmp_path: Path) -> Path:
    """``y = Relu(MatMul(x, w) + Identity(b))``: one Identity for the pipeline to remove."""
    proto = model_proto(
        [
            node("MatMul", ["x", "w"], ["m"]),
            node("Identity", ["b"], ["b2"]),
            node("Add", ["m", "b2"], ["s"]),
            node("Relu", ["s"], ["y"]),
        ],
        [vi("x", ["N", 16])],
        [vi("y", ["N", 8])],
        [init("w", np.ones((16, 8), np.float32)), init("b", np.zeros(8, np.float32))],
    )
    path = tmp_path / "model.onnx"
    onnx.save(proto, path)
    return path


def test_profile_reports_both_models_and_writes_traces(tmp_path: Path) -> None:
    source = _model_file(tmp_path)
    output = tmp_path / "out" / "model.opt.onnx"
    options = OptimizeOptions(
        input_shapes={"x": [4, 16]},
        profile=ProfileOptions(enabled=True, session=SessionConfig(), **QUICK),
    )
    with optimize(source, options, output=output) as result:
        profile = result.report.profile
    assert profile is not None
    assert profile.runs == 3 and profile.session.intra_op_threads == 1
    for side in (profile.original, profile.optimized):
        assert side.latency.runs == 3 and side.latency.p50_ms > 0
        assert side.ops.by_op_type and all(op.count > 0 for op in side.ops.by_op_type)
        assert side.memory.peak_rss_bytes >= side.memory.baseline_rss_bytes > 0
        assert side.trace is not None
        trace = json.loads(Path(side.trace).read_text())
        assert any(event.get("cat") == "Node" for event in trace)  # Chrome-trace events
    assert {Path(p.trace).name for p in (profile.original, profile.optimized) if p.trace} == {
        "ort_profile_original.json",
        "ort_profile_optimized.json",
    }
    assert Path(profile.original.trace or "").parent == output.parent
    assert profile.latency_ratio > 0
    assert result.report.timings.profile_ms > 0


def test_profile_without_output_names_no_trace(tmp_path: Path) -> None:
    options = OptimizeOptions(profile=ProfileOptions(enabled=True, **QUICK))
    with optimize(_model_file(tmp_path), options) as result:
        profile = result.report.profile
    assert profile is not None
    assert profile.original.trace is None and profile.optimized.trace is None


def test_profile_failure_is_a_warning_not_an_error(tmp_path: Path) -> None:
    """A string input cannot be generated: the optimization still succeeds, with a warning."""
    proto = model_proto(
        [node("Identity", ["s"], ["t"])],
        [vi("s", [2], onnx.TensorProto.STRING)],
        [vi("t", [2], onnx.TensorProto.STRING)],
    )
    path = tmp_path / "strings.onnx"
    onnx.save(proto, path)
    options = OptimizeOptions(profile=ProfileOptions(enabled=True, **QUICK))
    with optimize(path, options, output=tmp_path / "o.onnx") as result:
        report = result.report
    assert report.profile is None
    assert WarningCode.PROFILING_FAILED in {w.code for w in report.warnings}


def test_profile_is_off_by_default(tmp_path: Path) -> None:
    with optimize(_model_file(tmp_path), output=tmp_path / "o.onnx") as result:
        assert result.report.profile is None
    assert not (tmp_path / "ort_profile_original.json").exists()
