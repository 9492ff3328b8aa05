"""The distributed topology on loopback: an API and two workers on separate "machines"
(own data directories and node names) sharing a private Redis, a private PostgreSQL
database and moto's S3 server. The tests share one cluster and run in file order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import onnx
import pytest
from dist_cluster import FAST, Cluster
from dist_servers import S3, S3_CREDENTIALS, Postgres, RedisServer
from service_models import slow_model, variant

from graphopt_client import Client

CHEAP = ["noop_elimination"]
NODES = ("node-a", "node-b")
SLOW_ITERATIONS = 60_000
"""The Loop model's trip count: its verification keeps a job running a few seconds."""


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres: Postgres, redis_server: RedisServer, s3: S3
) -> Iterator[Cluster]:
    env = {
        **S3_CREDENTIALS,
        "GRAPHOPT_QUEUE_URL": redis_server.url,
        "GRAPHOPT_DATABASE_URL": postgres.create(),
        "GRAPHOPT_BLOB_URL": f"s3://{s3.bucket}/cluster",
        "GRAPHOPT_S3_ENDPOINT_URL": s3.endpoint_url,
        **FAST,
    }
    running = Cluster(tmp_path_factory.mktemp("cluster"), env)
    running.start_api()
    for node in NODES:
        running.start_worker(node)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(cluster: Cluster) -> Iterator[httpx.Client]:
    with cluster.client() as http:
        yield http


def upload(client: httpx.Client, data: bytes, name: str = "model.onnx") -> str:
    response = client.post("/v1/models", files={"file": (name, data)})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def submit(client: httpx.Client, model_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = client.post("/v1/jobs", json={"model_id": model_id, "pipeline": CHEAP})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def wait_all(client: httpx.Client, ids: list[str], timeout: float = 60) -> list[dict]:
    """The jobs once all are finished (one list request per poll: light on a small box)."""
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    while True:
        listed = client.get("/v1/jobs", params={"limit": 500}).json()["data"]
        jobs = {job["id"]: job for job in listed if job["id"] in wanted}
        if len(jobs) == len(wanted) and all(
            job["status"] in {"succeeded", "failed", "cancelled"} for job in jobs.values()
        ):
            return [jobs[job_id] for job_id in ids]
        if time.monotonic() > deadline:
            pending = {job_id: job["status"] for job_id, job in jobs.items()}
            raise AssertionError(f"jobs never finished: {pending}")
        time.sleep(0.25)


def running_on(client: httpx.Client, job_id: str, timeout: float = 30) -> dict:
    """The job once a worker runs it (its last attempt still open)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if (
            job["status"] == "running"
            and job["attempts"]
            and job["attempts"][-1]["outcome"] is None
        ):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never ran: {job}")


def test_twenty_jobs_run_on_both_workers(
    client: httpx.Client, cluster: Cluster, s3: S3, tmp_path: Path
) -> None:
    model_id = upload(client, variant(801))
    jobs = wait_all(client, submit(client, model_id, 20))
    assert [job["status"] for job in jobs] == ["succeeded"] * 20, [j["error"] for j in jobs]
    hosts = {job["attempts"][-1]["worker"]["host"] for job in jobs}
    assert hosts == set(NODES), f"not both workers took jobs: {hosts}"
    for job in jobs:
        (attempt,) = job["attempts"]
        assert attempt["outcome"] == "succeeded" and attempt["finished"] is not None
        assert attempt["worker"]["pid"] == cluster.workers[attempt["worker"]["host"]].pid
    # The artifacts live in the bucket; the API (another "machine") serves them from there.
    keys = {
        item["Key"]
        for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
        for item in page.get("Contents", [])
    }
    artifact = next(a for a in jobs[0]["artifacts"] if a["name"] == "optimized.onnx")
    response = client.get(artifact["url"])
    assert response.status_code == 200
    optimized = onnx.load_from_string(response.content)
    assert [node.op_type for node in optimized.graph.node] == ["Relu", "Add"]
    assert any(key.startswith("cluster/") for key in keys) and len(keys) >= 2
    ranged = client.get(artifact["url"], headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == response.content[:10]
    # The SDK's typed view of the attempts.
    with Client(cluster.base_url) as sdk:
        typed = sdk.jobs.get(jobs[0]["id"])
    assert typed.attempt_count == 1
    assert typed.attempts[0].worker.host in NODES and typed.attempts[0].outcome == "succeeded"


def test_a_killed_worker_s_job_finishes_on_the_other(
    client: httpx.Client, cluster: Cluster
) -> None:
    model_id = upload(client, slow_model(SLOW_ITERATIONS), "slow.onnx")
    (job_id,) = submit(client, model_id, 1)
    victim = running_on(client, job_id)["attempts"][-1]["worker"]
    survivor = next(node for node in NODES if node != victim["host"])
    cluster.kill_worker(victim["host"])
    try:
        (job,) = wait_all(client, [job_id])
        assert job["status"] == "succeeded", job
        first, second = job["attempts"]
        assert first["worker"] == victim and first["outcome"] == "lost"
        assert second["worker"]["host"] == survivor and second["outcome"] == "succeeded"
        assert client.get("/v1/jobs", params={"status": "running"}).json()["data"] == []
    finally:
        cluster.start_worker(victim["host"])


def test_a_redis_restart_loses_no_queued_job(
    client: httpx.Client, cluster: Cluster, redis_server: RedisServer
) -> None:
    model_id = upload(client, slow_model(SLOW_ITERATIONS // 3), "slower.onnx")
    ids = submit(client, model_id, 8)
    queued = client.get("/v1/jobs", params={"status": "queued"}).json()["data"]
    assert queued, "no job was queued when Redis went down"
    redis_server.restart()  # no persistence: every message in the queue is gone
    jobs = wait_all(client, ids, timeout=90)
    assert [job["status"] for job in jobs] == ["succeeded"] * len(ids), [j["error"] for j in jobs]
    assert client.get("/v1/jobs", params={"status": "running"}).json()["data"] == []


def test_a_job_whose_model_left_the_bucket_fails_cleanly(
    client: httpx.Client, cluster: Cluster, s3: S3
) -> None:
    """The workers never saw this model (no cached copy): without the object, the job fails
    with ``model_unavailable`` instead of being retried as a lost worker."""
    response = client.post("/v1/models", files={"file": ("gone.onnx", variant(802))})
    model = response.json()
    bucket = s3.client()
    sha = model["sha256"]
    bucket.delete_object(Bucket=s3.bucket, Key=f"cluster/{sha[:2]}/{sha[2:4]}/{sha}")
    (job,) = wait_all(client, submit(client, model["id"], 1))
    assert job["status"] == "failed" and job["error"]["code"] == "model_unavailable", job
    assert [attempt["outcome"] for attempt in job["attempts"]] == ["failed"]
