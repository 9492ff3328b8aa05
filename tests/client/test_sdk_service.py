"""The SDK against a real ``graphopt serve`` (uvicorn, worker processes, SQLite)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import networkx as nx
import numpy as np
import onnxruntime as ort
import pytest
import service_models
from service_server import Server

from graphopt_client import (
    AsyncClient,
    Client,
    JobFailedError,
    Model,
    NotFoundError,
    Report,
    UnprocessableEntityError,
    WaitTimeoutError,
)


def test_upload_is_content_addressed_and_models_are_listed(
    sdk: Client, uploaded: Model, small_model: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "again.onnx"
    path.write_bytes(small_model)
    again = sdk.models.upload(path, progress=True)
    assert again.id == uploaded.id and again.sha256 == uploaded.sha256
    assert (uploaded.kind, uploaded.size_bytes, uploaded.node_count) == (
        "onnx",
        len(small_model),
        3,
    )
    assert [t.name for t in uploaded.inputs] == ["x"] and uploaded.inputs[0].shape == [1, 8]
    assert sdk.models.get(uploaded.id) == uploaded
    assert uploaded.id in {m.id for m in sdk.models.list(limit=500)}
    assert sdk.models.download(uploaded, tmp_path / "copy.onnx").read_bytes() == small_model
    view = sdk.models.graph(uploaded)
    assert isinstance(view, nx.MultiDiGraph) and view.number_of_nodes() >= 3


def test_a_bundle_directory_is_uploaded_as_a_zip(sdk: Client, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(service_models.variant(11))
    model = sdk.models.upload(bundle)
    assert (model.kind, model.filename, model.node_count) == ("zip", "bundle.zip", 3)


def test_server_errors_arrive_as_typed_errors_with_their_codes(
    sdk: Client, uploaded: Model
) -> None:
    with pytest.raises(UnprocessableEntityError) as invalid:
        sdk.models.upload(b"this is not a protobuf", filename="broken.onnx")
    assert invalid.value.code not in {"", "invalid_request"} and invalid.value.message
    with pytest.raises(NotFoundError) as missing:
        sdk.models.get("mdl_missing")
    assert missing.value.code == "not_found"
    with pytest.raises(UnprocessableEntityError):
        sdk.jobs.create(uploaded, pipeline=["no_such_pass"])
    with pytest.raises(NotFoundError):
        sdk.jobs.create("mdl_missing")
    with pytest.raises(JobFailedError) as failed:  # valid request, fails in the engine
        sdk.optimize(uploaded, input_shapes={"x": [2, 8, 3]})
    assert failed.value.code == "invalid_input_shape" and failed.value.job.status == "failed"


def test_a_job_is_created_once_followed_reported_and_downloaded(
    sdk: Client, uploaded: Model, tmp_path: Path
) -> None:
    key = str(uuid.uuid4())
    job = sdk.jobs.create(uploaded, idempotency_key=key)
    assert sdk.jobs.create(uploaded, idempotency_key=key).id == job.id
    events = list(job.events())
    ids = [e.id or 0 for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[0].status == "queued" and events[-1].status == "succeeded"
    assert any(e.progress is not None for e in events)
    job.wait(timeout=60)
    assert job.status == "succeeded" and job.summary is not None
    report = job.report()
    assert isinstance(report, Report) and report.verification.status == "passed"
    assert job.summary.nodes_after == report.optimized.nodes < report.original.nodes
    files = job.download(tmp_path)
    assert {name: path.stat().st_size for name, path in files.items()} == {
        a.name: a.size for a in job.artifacts
    }
    assert job.id in {j.id for j in sdk.jobs.list(model=uploaded, status="succeeded")}


def test_optimize_writes_an_equivalent_model(
    sdk: Client, small_model: bytes, tmp_path: Path
) -> None:
    source = tmp_path / "small.onnx"
    source.write_bytes(small_model)
    result = sdk.optimize(source, tmp_path / "small.opt.onnx", artifacts_dir=tmp_path / "art")
    assert result.output == tmp_path / "small.opt.onnx"
    assert json.loads(result.files["report.json"].read_text())["optimized"]["nodes"] == 2
    x = np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32)
    before, after = (
        ort.InferenceSession(str(p)).run(None, {"x": x})[0] for p in (source, result.output)
    )
    np.testing.assert_allclose(after, before)
    assert result.report.passes and result.job.status == "succeeded"


def test_waiting_times_out_and_a_running_job_is_cancelled(sdk: Client) -> None:
    slow = sdk.models.upload(service_models.slow_model(), filename="slow.onnx")
    job = sdk.jobs.create(slow)
    with pytest.raises(WaitTimeoutError) as late:
        job.wait(timeout=0.5)
    assert late.value.job.status in {"queued", "running"}
    job.cancel()
    assert job.wait(timeout=30).status == "cancelled"
    sdk.models.delete(slow)
    with pytest.raises(NotFoundError):
        sdk.models.get(slow)


def test_async_client_optimizes(server: Server, uploaded: Model, tmp_path: Path) -> None:
    async def run() -> tuple[str, int]:
        async with AsyncClient(server.base_url) as client:
            result = await client.optimize(uploaded, tmp_path / "out.onnx", pipeline="default")
            listed = await client.models.list()
            assert uploaded.id in {m.id for m in listed}
            return result.job.status, result.report.optimized.nodes

    assert asyncio.run(run()) == ("succeeded", 2)
    assert (tmp_path / "out.onnx").stat().st_size > 0
