"""Limits: model node count and initializer bytes at upload, per-tenant job caps (429 with
Retry-After), and the expiry of old artifacts."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
from onnx import TensorProto, helper, numpy_helper
from secure_server import LIMITS, SecureServer
from service_models import model_row, slow_model, variant

from graphopt.jobs.retention import RetentionTimer, expire_artifacts
from graphopt.store.blobs import LocalBlobStore, digest_file
from graphopt.store.db import Database
from graphopt.store.models import ArtifactRow, JobRow, ModelRow, new_id, utcnow


def _chain(nodes: int, initializer_elements: int = 0) -> bytes:
    """x -> Relu x ``nodes`` -> y, with an unused float initializer of the given size."""
    names = ["x"] + [f"t{i}" for i in range(nodes - 1)] + ["y"]
    graph = helper.make_graph(
        [helper.make_node("Relu", [a], [b]) for a, b in itertools.pairwise(names)],
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        initializer=[numpy_helper.from_array(np.ones(initializer_elements, np.float32), "w")]
        if initializer_elements
        else [],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _upload(client: httpx.Client, data: bytes) -> httpx.Response:
    return client.post("/v1/models", files={"file": ("model.onnx", data)})


def test_node_count_and_initializer_bytes_are_capped(secure: SecureServer) -> None:
    max_nodes = int(LIMITS["GRAPHOPT_MAX_MODEL_NODES"])
    max_bytes = int(LIMITS["GRAPHOPT_MAX_INITIALIZER_BYTES"])
    with secure.client("limits") as client:
        assert _upload(client, _chain(max_nodes)).status_code == 201
        too_many = _upload(client, _chain(max_nodes + 1))
        assert too_many.status_code == 422
        assert too_many.json()["error"]["code"] == "too_many_nodes"
        assert too_many.json()["error"]["detail"] == {"nodes": max_nodes + 1, "limit": max_nodes}
        assert _upload(client, _chain(2, max_bytes // 4)).status_code == 201
        too_big = _upload(client, _chain(2, max_bytes // 4 + 1))
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "initializers_too_large"
        assert too_big.json()["error"]["detail"]["limit"] == max_bytes


def _status(client: httpx.Client, job_id: str) -> str:
    return client.get(f"/v1/jobs/{job_id}").json()["status"]


def _wait_running(client: httpx.Client, job_ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_status(client, job_id) == "running" for job_id in job_ids):
            return
        time.sleep(0.1)
    raise AssertionError(f"jobs {job_ids} did not all start")


def test_job_caps_per_tenant_answer_429_with_retry_after(secure: SecureServer) -> None:
    """2 workers; per tenant at most 1 queued and 2 queued-or-running jobs."""
    body = {"pipeline": ["noop_elimination"], "limits": {"timeout_s": 120}}
    created: list[tuple[httpx.Client, str]] = []
    with secure.client("limits") as busy, secure.client("bob") as bob:
        slow = _upload(busy, slow_model()).json()["id"]
        try:
            for _ in range(2):  # one at a time: at most one may wait in the queue
                job = busy.post("/v1/jobs", json={"model_id": slow, **body})
                assert job.status_code == 202, job.text
                created.append((busy, job.json()["id"]))
                _wait_running(busy, [job.json()["id"]])
            third = busy.post("/v1/jobs", json={"model_id": slow, **body})
            assert third.status_code == 429
            error = third.json()["error"]
            assert error["code"] == "too_many_active_jobs"
            assert error["detail"]["limit"] == 2 and error["detail"]["count"] == 2
            assert int(third.headers["Retry-After"]) >= 1
            # another tenant is not affected by those two, only by its own queue
            small = _upload(bob, variant(950)).json()["id"]
            first = bob.post("/v1/jobs", json={"model_id": small, **body})
            assert first.status_code == 202, first.text
            created.append((bob, first.json()["id"]))
            assert _status(bob, first.json()["id"]) == "queued"  # both workers are busy
            second = bob.post("/v1/jobs", json={"model_id": small, **body})
            assert second.status_code == 429
            assert second.json()["error"]["code"] == "too_many_queued_jobs"
            assert int(second.headers["Retry-After"]) >= 1
        finally:
            for client, job_id in created:
                client.post(f"/v1/jobs/{job_id}/cancel")
    assert secure.server.process.poll() is None


def _job_with_artifact(db: Database, model: ModelRow, sha256: str, finished_ago: timedelta) -> str:
    job_id = new_id("job")
    with db.session() as session:
        session.add(
            JobRow(
                id=job_id,
                model_id=model.id,
                status="succeeded",
                pipeline={},
                options={},
                request_sha256="0" * 64,
                finished_at=utcnow() - finished_ago,
            )
        )
        session.flush()
        session.add(
            ArtifactRow(
                job_id=job_id,
                name="optimized.onnx",
                sha256=sha256,
                size_bytes=3,
                media_type="application/octet-stream",
            )
        )
    return job_id


def test_artifacts_older_than_the_ttl_are_deleted(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'graphopt.db'}")
    db.create_schema()
    blobs = LocalBlobStore(tmp_path / "blobs")
    refs = {}
    for name in ("model", "old", "recent", "shared"):
        path = tmp_path / name
        path.write_bytes(name.encode())
        refs[name] = digest_file(path)
        blobs.put_file(path, refs[name])
    model = model_row(new_id("mdl"), refs["model"].sha256, size_bytes=5)
    with db.session() as session:
        session.add(model)
    old = _job_with_artifact(db, model, refs["old"].sha256, timedelta(days=3))
    recent = _job_with_artifact(db, model, refs["recent"].sha256, timedelta(hours=1))
    # an expired artifact whose blob a recent job still uses keeps its blob
    _job_with_artifact(db, model, refs["shared"].sha256, timedelta(days=3))
    _job_with_artifact(db, model, refs["shared"].sha256, timedelta(hours=2))
    # a model file is never an artifact to expire
    _job_with_artifact(db, model, refs["model"].sha256, timedelta(days=3))

    assert expire_artifacts(db, blobs, ttl_s=86400) == 3
    with db.session() as session:
        remaining = {row.job_id for row in session.query(ArtifactRow)}
        assert old not in remaining and recent in remaining
        assert session.get(JobRow, old) is not None  # the job itself stays
    assert not blobs.exists(refs["old"].sha256)
    assert blobs.exists(refs["recent"].sha256)
    assert blobs.exists(refs["shared"].sha256)
    assert blobs.exists(refs["model"].sha256)
    assert expire_artifacts(db, blobs, ttl_s=86400) == 0

    timer = RetentionTimer(db, blobs, ttl_s=60, interval_s=100)
    assert timer.tick(1000.0) == 2  # the two recent ones are older than 60 s
    assert timer.tick(1050.0) == 0  # not yet due again
    assert RetentionTimer(db, blobs, ttl_s=None, interval_s=1).tick(1e9) == 0
    db.dispose()
