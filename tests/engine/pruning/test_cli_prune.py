"""``graphopt optimize --prune/--keep-outputs`` in process: options reach the engine."""

from __future__ import annotations

import json
from pathlib import Path

import onnx_ir as ir
from nets import residual_cnn
from typer.testing import CliRunner

from graphopt.cli import exit_codes
from graphopt.cli.app import app


def test_prune_prints_the_pruning_line_and_writes_a_smaller_model(tmp_path: Path) -> None:
    source, out, report = tmp_path / "m.onnx", tmp_path / "out.onnx", tmp_path / "r.json"
    ir.save(residual_cnn(), source)
    args = ["optimize", str(source), "-o", str(out), "--prune", "structured:0.3"]
    args += ["--input-shape", "x=1x3x8x8", "--report", str(report)]
    args += ["--pass-option", "channel_pruning.round_to=1"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert "pruning: params 1,708 -> " in result.output, result.output
    assert "channel groups pruned 2 / skipped 1" in result.output
    # outputs differ only because of the requested lossy pass: reported, not an error exit
    assert result.exit_code == exit_codes.OK, result.output
    assert "verification: failed — lossy pass 'channel_pruning'" in result.output
    written = json.loads(report.read_text())
    assert written["verification"]["status"] == "failed"
    assert written["verification"]["lossy_requested"] is True
    assert "lossy pass" in written["verification"]["reason"]
    assert written["selection"]["status"] == "skipped"  # the original is not acceptable here
    pruning = written["pruning"]
    assert pruning["macs_after"] < pruning["macs_before"]
    assert out.exists()


def test_bad_prune_spec_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    ir.save(residual_cnn(), source)
    result = CliRunner().invoke(app, ["optimize", str(source), "--prune", "structured:2"])
    assert result.exit_code == exit_codes.USAGE
    assert "is not a pruning spec" in result.output


def test_nm_prints_the_sparsity_line(tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    ir.save(residual_cnn(), source)
    args = ["optimize", str(source), "-o", str(tmp_path / "out.onnx"), "--prune", "nm:2:4"]
    args += ["--pass-option", "magnitude_pruning.min_elements=1", "--no-verify"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == exit_codes.OK, result.output
    assert "sparsity: 656 of 1,312 weights zero; gzip size" in result.output
