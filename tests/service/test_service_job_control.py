"""Cancel, crash and restart against real worker processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
from service_models import slow_model, variant
from service_server import Server
from sse import follow
from test_service_api import uploaded, wait_for

CHEAP = ["noop_elimination"]
"""A one-pass pipeline: these tests are about processes, not passes."""


def _child_pid(server: Server, job_id: str, timeout: float = 20) -> int:
    """The pid of the job's sandboxed process, once it is inside onnxruntime."""
    deadline = time.monotonic() + timeout
    with sqlite3.connect(server.data_dir / "graphopt.db") as db:
        while time.monotonic() < deadline:
            row = db.execute(
                "SELECT child_pid, json_extract(progress, '$.stage') FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
            if row and row[0] and row[1] == "verify":
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached verification")


def _children(pid: int) -> list[int]:
    """The worker processes of ``graphopt serve`` (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"graphopt.jobs.worker" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cancel_a_running_job_kills_its_process(client: httpx.Client, server: Server) -> None:
    model = uploaded(client, slow_model(), "slow.onnx")
    job = client.post("/v1/jobs", json={"model_id": model["id"], "pipeline": CHEAP}).json()
    pid = _child_pid(server, job["id"])
    cancelled = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["cancel_requested"] is True
    events = follow(client, job["id"])
    assert events[-1].data["status"] == "cancelled"
    final = client.get(f"/v1/jobs/{job['id']}").json()
    assert final["status"] == "cancelled" and final["artifacts"] == []
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_cancel_a_queued_job(client: httpx.Client) -> None:
    model = uploaded(client, slow_model(300_000_000), "slow2.onnx")
    # Fill both workers, then queue one more and cancel it before it starts.
    busy = [
        client.post("/v1/jobs", json={"model_id": model["id"], "pipeline": CHEAP}).json()
        for _ in range(2)
    ]
    queued = client.post("/v1/jobs", json={"model_id": model["id"], "pipeline": CHEAP}).json()
    for job in busy:
        wait_for(client, job["id"], {"running"})
    response = client.post(f"/v1/jobs/{queued['id']}/cancel").json()
    assert response["status"] == "cancelled"
    for job in busy:
        client.post(f"/v1/jobs/{job['id']}/cancel")
    for job in busy:
        assert wait_for(client, job["id"], {"cancelled", "failed", "succeeded"})["status"] == (
            "cancelled"
        )
    assert client.get(f"/v1/jobs/{queued['id']}").json()["attempts"] == []


def test_a_crashed_child_fails_only_its_job(client: httpx.Client, server: Server) -> None:
    model = uploaded(client, slow_model(), "slow.onnx")
    job = client.post("/v1/jobs", json={"model_id": model["id"], "pipeline": CHEAP}).json()
    os.kill(_child_pid(server, job["id"]), signal.SIGSEGV)
    final = wait_for(client, job["id"], {"failed", "succeeded", "cancelled"})
    assert final["status"] == "failed"
    assert final["error"]["code"] == "crashed"
    assert final["error"]["detail"]["signal"] == "SIGSEGV"
    assert "SIGSEGV" in final["error"]["message"]
    # The worker survived: the next job runs and succeeds.
    healthy = uploaded(client, variant(10))
    following = client.post("/v1/jobs", json={"model_id": healthy["id"], "pipeline": CHEAP}).json()
    assert follow(client, following["id"])[-1].data["status"] == "succeeded"
    assert server.process.poll() is None


def test_a_job_past_its_time_limit_fails_with_timeout(client: httpx.Client) -> None:
    model = uploaded(client, slow_model(), "slow.onnx")
    job = client.post(
        "/v1/jobs", json={"model_id": model["id"], "limits": {"timeout_s": 1.5}}
    ).json()
    assert job["limits"] == {"timeout_s": 1.5, "memory_bytes": None}
    final = wait_for(client, job["id"], {"failed", "succeeded", "cancelled"})
    assert final["status"] == "failed"
    assert final["error"]["code"] == "timeout"
    assert final["error"]["detail"]["limit"] == "wall clock 1.5 s"


def test_metrics_count_jobs_and_uploads(client: httpx.Client) -> None:
    text = client.get("/metrics").text
    assert 'graphopt_jobs{status="succeeded"}' in text
    succeeded = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('graphopt_jobs{status="succeeded"}')
    )
    assert succeeded >= 1
    assert "graphopt_job_duration_seconds_bucket" in text
    assert "graphopt_queue_depth" in text
    assert 'graphopt_pass_seconds_total{name="noop_elimination"}' in text
    assert 'graphopt_pass_jobs_total{name="noop_elimination"}' in text
    uploaded = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("graphopt_upload_bytes_total")
    )
    assert uploaded > 0


def test_restart_resumes_queued_jobs(client: httpx.Client, server: Server) -> None:
    """Stop the server with jobs running and queued; after a restart all finish."""
    slow = uploaded(client, slow_model(), "slow.onnx")
    interrupted = [
        client.post("/v1/jobs", json={"model_id": slow["id"], "pipeline": CHEAP}).json()["id"]
        for _ in range(server.workers)
    ]
    for job_id in interrupted:
        wait_for(client, job_id, {"running"})
    model = uploaded(client, variant(20))
    queued = [
        client.post("/v1/jobs", json={"model_id": model["id"], "pipeline": CHEAP}).json()["id"]
        for _ in range(2)
    ]
    workers = _children(server.process.pid)
    assert len(workers) == server.workers
    server.restart()
    assert not [pid for pid in workers if _alive(pid)], "a worker outlived graphopt serve"
    with server.client() as fresh:
        for job_id in interrupted:
            job = fresh.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] in {"queued", "running"} and len(job["attempts"]) >= 1, job
            fresh.post(f"/v1/jobs/{job_id}/cancel")
        for job_id in queued:
            assert wait_for(fresh, job_id, {"succeeded", "failed"})["status"] == "succeeded"
        for job_id in interrupted:
            assert wait_for(fresh, job_id, {"cancelled"})["status"] == "cancelled"
