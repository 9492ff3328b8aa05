"""Session tuning: the sweep's candidates, its report, and ``profile.tune`` through optimize
and the local CLI (structure only: which configuration wins is the machine's business)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from graphs import init, model_proto, node, vi
from typer.testing import CliRunner

from graphopt.cli.app import app
from graphopt.engine import OptimizeOptions, ProfileOptions, SessionConfig, optimize
from graphopt.engine.profiling.tune import default_candidates, thread_counts, tune_session

QUICK = {"warmup": 1, "runs": 3, "profiled_runs": 1}


def _model_file(tmp_path: Path) -> Path:
    """``y = Relu(MatMul(x, w))`` behind an Identity for the pipeline to remove."""
    proto = model_proto(
        [
            node("Identity", ["x"], ["x2"]),
            node("MatMul", ["x2", "w"], ["m"]),
            node("Relu", ["m"], ["y"]),
        ],
        [vi("x", [4, 16])],
        [vi("y", [4, 8])],
        [init("w", np.ones((16, 8), np.float32))],
    )
    path = tmp_path / "model.onnx"
    onnx.save(proto, path)
    return path


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [(1, [1]), (2, [1, 2]), (6, [1, 2, 4, 6]), (8, [1, 2, 4, 8]), (12, [1, 2, 4, 8, 12])],
)
def test_thread_counts_double_up_to_the_cpu_count(cpus: int, expected: list[int]) -> None:
    assert thread_counts(cpus) == expected


def test_default_candidates_cross_threads_with_both_execution_modes() -> None:
    candidates = default_candidates("basic", cpus=4)
    assert len(candidates) == len(set(candidates)) == 6
    grid = {(c.intra_op_threads, c.execution_mode) for c in candidates}
    assert grid == {(n, m) for n in (1, 2, 4) for m in ("sequential", "parallel")}
    for config in candidates:
        assert config.graph_optimization_level == "basic"
        assert config.inter_op_threads == (1 if config.execution_mode == "sequential" else 2)
    assert all(c.inter_op_threads == 1 for c in default_candidates(cpus=1))


def test_tune_session_times_every_candidate_and_recommends_the_fastest(tmp_path: Path) -> None:
    feeds = {"x": np.ones((4, 16), np.float32)}
    candidates = default_candidates(cpus=2)
    report = tune_session(_model_file(tmp_path), feeds, candidates, warmup=1, rounds=4)
    assert sorted(t.session.label() for t in report.trials) == sorted(c.label() for c in candidates)
    p50s = [t.latency.p50_ms for t in report.trials]
    assert p50s == sorted(p50s) and all(t.latency.runs == 4 for t in report.trials)
    assert report.recommended == report.trials[0].session
    assert report.speedup == pytest.approx(p50s[-1] / p50s[0], rel=1e-3)
    assert (report.warmup, report.rounds) == (1, 4)


def test_tune_session_refuses_duplicate_candidates(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="distinct"):
        tune_session(_model_file(tmp_path), {}, [SessionConfig(), SessionConfig()])


def test_profile_tune_adds_a_recommendation_to_the_report(tmp_path: Path) -> None:
    options = OptimizeOptions(profile=ProfileOptions(tune=True, **QUICK))
    assert options.profile.enabled  # tune implies profiling
    with optimize(_model_file(tmp_path), options, output=tmp_path / "o.onnx") as result:
        profile = result.report.profile
    assert profile is not None and profile.tuning is not None
    tuning = profile.tuning
    assert tuning.rounds == QUICK["runs"]
    assert {t.session for t in tuning.trials} == set(default_candidates())
    assert tuning.recommended == tuning.trials[0].session
    # the report round-trips through JSON with its tuning section
    assert json.loads(result.report.model_dump_json())["profile"]["tuning"]["recommended"]


def test_profile_without_tune_has_no_tuning(tmp_path: Path) -> None:
    options = OptimizeOptions(profile=ProfileOptions(enabled=True, **QUICK))
    with optimize(_model_file(tmp_path), options) as result:
        assert result.report.profile is not None and result.report.profile.tuning is None


def test_cli_tune_prints_and_reports_the_sweep(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    args = ["optimize", str(_model_file(tmp_path)), "-o", str(tmp_path / "o.onnx")]
    args += ["--report", str(report), "--tune", "--profile-runs", "3", "--no-select"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Session tuning" in result.output and "recommended:" in result.output
    tuning = json.loads(report.read_text())["profile"]["tuning"]
    assert len(tuning["trials"]) == len(default_candidates())
    assert tuning["recommended"] == tuning["trials"][0]["session"]
