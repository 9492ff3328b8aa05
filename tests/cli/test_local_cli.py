"""The local ``graphopt`` command, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def graphopt(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graphopt", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def dynamic_model(tmp_path: Path) -> Path:
    """y = Reshape(x * 1, Shape(x)) + 0 with a dynamic batch dimension: all removable."""
    nodes = [
        helper.make_node("Mul", ["x", "one"], ["m"]),
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Reshape", ["m", "s"], ["r"]),
        helper.make_node("Relu", ["r"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    path = tmp_path / "dynamic.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_optimize_writes_a_verified_equivalent_model(dynamic_model: Path, tmp_path: Path) -> None:
    out, report_path = tmp_path / "out.onnx", tmp_path / "report.json"
    result = graphopt(
        "optimize", dynamic_model, "-o", out, "--input-shape", "x=2x3x8x8", "--report", report_path
    )
    assert result.returncode == 0, result.stderr
    assert "verification: passed" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["verification"]["passed"] is True
    assert report["optimized"]["nodes"] == 1  # only the Relu is left
    assert report["pipeline"]["input_shapes"] == {"x": [2, 3, 8, 8]}
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(run(out, {"x": x})[0], run(dynamic_model, {"x": x})[0])
    optimized = onnx.load(out)
    assert [i.name for i in optimized.graph.input] == ["x"]
    assert [o.name for o in optimized.graph.output] == ["y"]


def test_optimize_profile_prints_the_comparison_and_writes_traces(
    dynamic_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "profiled" / "out.onnx"
    result = graphopt(
        "optimize", dynamic_model, "-o", out, "--input-shape", "x=2x3x8x8",
        "--profile", "--profile-runs", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "latency p50 (ms)" in result.stdout and "latency ratio" in result.stdout
    assert {p.name for p in out.parent.glob("ort_profile_*.json")} == {
        "ort_profile_original.json",
        "ort_profile_optimized.json",
    }


def test_optimize_default_output_name_and_json(dynamic_model: Path) -> None:
    result = graphopt("optimize", dynamic_model, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["schema_version"] == "1.0"
    assert Path(report["output"]["path"]) == dynamic_model.with_name("dynamic.opt.onnx")
    assert Path(report["output"]["path"]).exists()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--input-shape", "x=2x3"), "invalid_input_shape"),
        (("--input-shape", "nope=1"), "invalid_input_shape"),
        (("--passes", "no_such_pass"), "unknown_pass"),
        (("--pipeline", "no_such_pipeline"), "unknown_pipeline"),
        (("--pass-option", "constant_folding.bogus=1"), "invalid_pass_options"),
    ],
)
def test_bad_options_exit_3_with_the_error_code(
    dynamic_model: Path, tmp_path: Path, args: tuple[str, ...], code: str
) -> None:
    result = graphopt("optimize", dynamic_model, "-o", tmp_path / "o.onnx", *args)
    assert result.returncode == 3
    assert f"error[{code}]" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_model_exits_3(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(1).bytes(4096))
    result = graphopt("optimize", garbage)
    assert result.returncode == 3
    assert "error[not_onnx]" in result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_json_reports_macs_with_pinned_shapes() -> None:
    result = graphopt("inspect", LIGHT / "light_resnet50.onnx", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"]["inputs"][0]["shape"] == [1, 3, 224, 224]
    assert 3.5e9 < data["stats"]["macs"] < 4.5e9
    assert data["stats"]["op_histogram"]["Conv"] == 53


def test_inspect_table() -> None:
    result = graphopt("inspect", LIGHT / "light_squeezenet.onnx")
    assert result.returncode == 0, result.stderr
    assert "Graph statistics" in result.stdout and "Conv" in result.stdout


@pytest.mark.parametrize("fmt", ["node-link", "graphml"])
def test_graph_export(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"graph.{fmt}"
    result = graphopt("graph", LIGHT / "light_squeezenet.onnx", "--format", fmt, "-o", out)
    assert result.returncode == 0, result.stderr
    if fmt == "graphml":
        view = nx.read_graphml(out)
    else:
        view = nx.node_link_graph(json.loads(out.read_text()), edges="edges")
    ops = [n for n, data in view.nodes(data=True) if data.get("kind") == "op"]
    assert len(ops) == len(onnx.load(LIGHT / "light_squeezenet.onnx").graph.node)


def test_passes_lists_the_registry() -> None:
    result = graphopt("passes", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = {p["name"] for p in data["passes"]}
    assert {"constant_folding", "noop_elimination", "shape_specialization"} <= names
    assert all(p["summary"] for p in data["passes"])
    assert set(data["presets"]) >= {"default", "lossless", "aggressive"}
