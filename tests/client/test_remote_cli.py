"""The ``graphopt`` command's remote mode (``--server`` / ``GRAPHOPT_SERVER``) against the
real server, compared with local mode on the same model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from service_server import Server
from typer.testing import CliRunner

from graphopt.cli import app, exit_codes
from graphopt_client import Job, Model
from graphopt_client import cli as remote

runner = CliRunner()


def _run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    return result.exit_code, result.output


def _ops(path: Path) -> list[str]:
    return [node.op_type for node in onnx.load(path).graph.node]


def test_remote_and_local_optimize_write_equivalent_files(
    server: Server, small_model: bytes, tmp_path: Path
) -> None:
    model = tmp_path / "small.onnx"
    model.write_bytes(small_model)
    # --no-select: measured selection picks by timing, which may differ between two runs
    # (it made this test flaky); --profile: 20 s more
    flags = ["--memory", "plan", "--input-shape", "x=1x8", "--no-select"]
    local_code, _ = _run(
        "optimize",
        model,
        "-o",
        tmp_path / "local" / "m.onnx",
        "--report",
        tmp_path / "local.json",
        *flags,
    )
    code, output = _run(
        "optimize",
        model,
        "-o",
        tmp_path / "remote" / "m.onnx",
        "--report",
        tmp_path / "remote.json",
        *flags,
        env={"GRAPHOPT_SERVER": server.base_url},
    )
    assert (code, local_code) == (0, 0), output
    assert "Summary" in output and "verification: passed" in output and "memory: arena" in output
    local_files = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert {"m.onnx", "memory_plan.json", "memory_timeline.png"} <= set(local_files)
    assert sorted(p.name for p in (tmp_path / "remote").iterdir()) == local_files
    assert _ops(tmp_path / "remote" / "m.onnx") == _ops(tmp_path / "local" / "m.onnx")
    reports = [json.loads((tmp_path / f"{mode}.json").read_text()) for mode in ("local", "remote")]
    assert reports[0]["optimized"] == reports[1]["optimized"]
    assert [p["name"] for p in reports[0]["passes"]] == [p["name"] for p in reports[1]["passes"]]
    x = np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32)
    outputs = [
        ort.InferenceSession(str(tmp_path / mode / "m.onnx")).run(None, {"x": x})[0]
        for mode in ("local", "remote")
    ]
    np.testing.assert_array_equal(*outputs)


def test_remote_and_local_exit_codes_agree_on_bad_input(
    server: Server, small_model: bytes, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    remote_code, output = _run("optimize", broken, "--server", server.base_url)
    local_code, _ = _run("optimize", broken)
    assert remote_code == local_code == exit_codes.BAD_INPUT, output
    assert "error[" in output
    model = tmp_path / "small.onnx"
    model.write_bytes(small_model)
    wrong_rank = ("optimize", model, "--input-shape", "x=2x8x3")  # fails inside the job
    remote_code, output = _run(*wrong_rank, "--server", server.base_url)
    local_code, _ = _run(*wrong_rank)
    assert remote_code == local_code == exit_codes.BAD_INPUT, output
    assert "error[invalid_input_shape]" in output
    assert (remote.INTERNAL_ERROR, remote.BAD_INPUT, remote.VERIFICATION_FAILED) == (
        exit_codes.INTERNAL_ERROR,
        exit_codes.BAD_INPUT,
        exit_codes.VERIFICATION_FAILED,
    )


def test_models_and_jobs_commands(
    server: Server, uploaded: Model, finished_job: Job, tmp_path: Path
) -> None:
    env = {"GRAPHOPT_SERVER": server.base_url}
    code, output = _run("models", "list", env=env)
    assert code == 0 and uploaded.id in output
    code, output = _run("models", "show", uploaded.id, "--json", env=env)
    assert code == 0 and json.loads(output)["sha256"] == uploaded.sha256
    code, output = _run("jobs", "list", "--status", "succeeded", "--json", env=env)
    jobs = json.loads(output)
    assert code == 0 and all(j["status"] == "succeeded" for j in jobs)
    job_id = finished_job.id
    assert job_id in {j["id"] for j in jobs}
    code, output = _run("jobs", "show", job_id, env=env)
    assert code == 0 and "optimized.onnx" in output
    code, output = _run(
        "jobs", "download", job_id, "-o", tmp_path, "--name", "report.json", env=env
    )
    assert code == 0 and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    code, output = _run("jobs", "cancel", job_id, env=env)
    assert code == 0 and "succeeded" in output
    code, output = _run("models", "delete", "mdl_missing", env=env)
    assert code == exit_codes.BAD_INPUT and "error[not_found]" in output
    code, _ = _run("jobs", "list", "--server", "http://127.0.0.1:9")
    assert code == exit_codes.INTERNAL_ERROR


def test_external_data_lands_where_local_mode_puts_it(server: Server, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    weight = onnx.numpy_helper.from_array(np.eye(64, dtype=np.float32) * 3, "w")
    graph = onnx.helper.make_graph(
        [
            onnx.helper.make_node("MatMul", ["x", "w"], ["m"]),
            onnx.helper.make_node("Identity", ["m"], ["y"]),
        ],
        "external",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 64])],
        initializer=[weight],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    onnx.save(model, bundle / "model.onnx", save_as_external_data=True, location="weights.bin")
    for mode, extra in (("local", []), ("remote", ["--server", server.base_url])):
        code, output = _run("optimize", bundle, "-o", tmp_path / mode / "m.onnx", *extra)
        assert code == 0, output
        assert sorted(p.name for p in (tmp_path / mode).iterdir()) == ["m.onnx", "m.onnx.data"]
    x = np.random.default_rng(2).standard_normal((1, 64)).astype(np.float32)
    local, remote = (
        ort.InferenceSession(str(tmp_path / mode / "m.onnx")).run(None, {"x": x})[0]
        for mode in ("local", "remote")
    )
    np.testing.assert_array_equal(local, remote)
    np.testing.assert_allclose(remote, x * 3, rtol=1e-6)
