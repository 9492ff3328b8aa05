"""Retries, backoff and typed errors, against a scripted real HTTP server."""

from __future__ import annotations

import asyncio
import email.utils
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from scripted_server import Reply, ScriptedApp, free_port

from graphopt_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from graphopt_client._files import ProgressReader

JOB = {
    "id": "job_1",
    "model_id": "mdl_1",
    "status": "queued",
    "pipeline": "default",
    "created_at": "2026-01-01T00:00:00Z",
}
MODEL = {
    "id": "mdl_1",
    "sha256": "0" * 64,
    "size_bytes": 0,
    "filename": "m.onnx",
    "kind": "onnx",
    "created_at": "2026-01-01T00:00:00Z",
    "ir_version": 8,
    "opset": {"": 17},
    "inputs": [],
    "outputs": [],
    "node_count": 0,
}
UNAVAILABLE = Reply(503, {"error": {"code": "not_ready", "message": "busy"}}, {"Retry-After": "0"})
Scripted = tuple[ScriptedApp, str]


def test_503_is_retried_after_retry_after_then_succeeds(scripted: Scripted) -> None:
    app, url = scripted
    app.on("GET", "/v1/jobs/job_1", UNAVAILABLE, UNAVAILABLE, Reply(200, JOB))
    with Client(url, max_retries=3) as client:
        assert client.jobs.get("job_1").status == "queued"
    assert len(app.requests("GET", "/v1/jobs/job_1")) == 3


def test_retries_run_out_into_a_typed_error_with_the_server_code(scripted: Scripted) -> None:
    app, url = scripted
    app.on("GET", "/v1/jobs/job_1", UNAVAILABLE)
    with Client(url, max_retries=2) as client, pytest.raises(ServiceUnavailableError) as caught:
        client.jobs.get("job_1")
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        503,
        "not_ready",
        "busy",
    )
    assert len(app.requests("GET", "/v1/jobs/job_1")) == 3


def test_job_creation_retries_with_one_idempotency_key(scripted: Scripted) -> None:
    app, url = scripted
    app.on(
        "POST", "/v1/jobs", Reply(500, {"error": {"code": "boom", "message": "x"}}), Reply(202, JOB)
    )
    with Client(url) as client:
        assert client.jobs.create("mdl_1").id == "job_1"
    keys = {seen.headers["idempotency-key"] for seen in app.requests("POST", "/v1/jobs")}
    assert len(app.requests("POST", "/v1/jobs")) == 2 and len(keys) == 1
    assert uuid.UUID(keys.pop()).version == 4


def test_429_is_retried_even_for_a_post(scripted: Scripted) -> None:
    app, url = scripted
    limited = Reply(
        429, {"error": {"code": "rate_limited", "message": "slow"}}, {"Retry-After": "0"}
    )
    app.on("POST", "/v1/jobs", limited, Reply(202, JOB))
    with Client(url) as client:
        client.jobs.create("mdl_1", idempotency_key="k1")
    assert [s.headers["idempotency-key"] for s in app.requests("POST", "/v1/jobs")] == ["k1", "k1"]
    app.on("POST", "/v1/jobs", limited)
    with Client(url, max_retries=0) as client, pytest.raises(RateLimitError):
        client.jobs.create("mdl_1")


def test_error_bodies_become_typed_errors(scripted: Scripted) -> None:
    app, url = scripted
    detail = {"errors": [{"loc": ["body", "pipeline"]}]}
    invalid = {"error": {"code": "unknown_pass", "message": "no pass 'x'", "detail": detail}}
    app.on("POST", "/v1/jobs", Reply(422, invalid))
    app.on("GET", "/v1/jobs/job_1", Reply(502, None))
    with Client(url, max_retries=0) as client:
        with pytest.raises(UnprocessableEntityError) as caught:
            client.jobs.create("mdl_1", pipeline=["x"])
        assert (caught.value.code, caught.value.detail) == ("unknown_pass", detail)
        with pytest.raises(NotFoundError) as missing:
            client.models.get("nope")
        assert missing.value.code == "not_found"
        with pytest.raises(InternalServerError) as bad_gateway:
            client.jobs.get("job_1")
        assert bad_gateway.value.code == "http_502"


def test_unreachable_server_and_timeouts_raise_connection_errors(scripted: Scripted) -> None:
    app, url = scripted
    unreachable = Client(f"http://127.0.0.1:{free_port()}", max_retries=1)
    with unreachable, pytest.raises(APIConnectionError):
        unreachable.models.list()
    app.on("GET", "/v1/models", Reply(200, {"data": []}, delay_s=1.0))
    with Client(url, timeout=0.2, max_retries=0) as client, pytest.raises(APITimeoutError):
        client.models.list()


def test_retry_policy_rules() -> None:
    policy = RetryPolicy(max_retries=2, initial_delay_s=1.0, max_delay_s=3.0)
    post = httpx.Request("POST", "http://h/v1/x")
    get = httpx.Request("GET", "http://h/v1/x")
    assert not policy.should_retry(0, post, response=httpx.Response(500))
    assert policy.should_retry(0, get, response=httpx.Response(500))
    assert policy.should_retry(0, post, response=httpx.Response(503))
    assert policy.should_retry(0, post, error=httpx.ConnectError("refused"))
    assert not policy.should_retry(0, post, error=httpx.ReadError("reset"))
    assert not policy.should_retry(2, get, response=httpx.Response(503))
    assert policy.delay_s(0, httpx.Response(429, headers={"Retry-After": "2"})) == 2.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < policy.delay_s(0, httpx.Response(503, headers={"Retry-After": later})) <= 30
    delays = [policy.delay_s(attempt) for attempt in range(4) for _ in range(50)]
    assert all(0.5 <= d <= 3.0 for d in delays) and len(set(delays)) > 100  # jittered, capped


def test_events_fall_back_to_polling_when_the_server_streams_none(scripted: Scripted) -> None:
    app, url = scripted
    running = {**JOB, "status": "running", "progress": {"stage": "passes", "fraction": 0.5}}
    app.on(
        "GET",
        "/v1/jobs/job_1",
        Reply(200, running),
        Reply(200, running),
        Reply(200, {**JOB, "status": "succeeded"}),
    )
    with Client(url) as client:
        job = client.jobs.wait("job_1", poll_interval_s=0.01, progress=True)
    assert job.status == "succeeded" and len(app.requests("GET", "/v1/jobs/job_1")) >= 3


def _sse(event_id: int, kind: str, data: str) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n".encode()


def test_a_broken_event_stream_resumes_with_last_event_id(scripted: Scripted) -> None:
    app, url = scripted
    sse = {"media_type": "text/event-stream"}
    first = [
        b": ping\n\n",
        _sse(1, "status", '{"status": "running"}'),
        _sse(2, "progress", '{"stage": "passes"}'),
    ]
    app.on(
        "GET",
        "/v1/jobs/job_1/events",
        Reply(chunks=first, abort=True, **sse),  # type: ignore[arg-type]
        Reply(chunks=[_sse(3, "status", '{"status": "succeeded"}')], **sse),  # type: ignore[arg-type]
    )
    app.on("GET", "/v1/jobs/job_1", Reply(200, {**JOB, "status": "succeeded"}))
    with Client(url) as client:
        events = list(client.jobs.events("job_1"))
    assert [(e.id, e.type) for e in events] == [(1, "status"), (2, "progress"), (3, "status")]
    assert events[-1].terminal and events[1].progress is not None
    resumed = app.requests("GET", "/v1/jobs/job_1/events")
    assert "last-event-id" not in resumed[0].headers
    assert resumed[1].headers["last-event-id"] == "2"


def test_upload_is_resent_whole_after_a_503_and_streams_in_flat_memory(
    scripted: Scripted, tmp_path: Path
) -> None:
    app, url = scripted
    size = 32 << 20
    big = tmp_path / "big.onnx"
    with big.open("wb") as sink:
        sink.truncate(size)
    app.on("POST", "/v1/models", UNAVAILABLE, Reply(201, MODEL))
    app.on(
        "GET",
        "/v1/models/mdl_1/file",
        Reply(chunks=[b"\0" * (1 << 20)] * 32, media_type="application/octet-stream"),
    )
    tracemalloc.start()
    try:
        with Client(url) as client:
            client.models.upload(big)
            copy = client.models.download("mdl_1", tmp_path / "copy.onnx")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    bodies = [s.body_bytes for s in app.requests("POST", "/v1/models")]
    assert len(bodies) == 2 and bodies[0] == bodies[1] > size
    assert copy.stat().st_size == size and not (tmp_path / "copy.onnx.part").exists()
    assert peak < 8 << 20, f"peak traced memory {peak / 2**20:.1f} MiB for a 32 MiB transfer"


def test_async_client_retries_and_raises_typed_errors(scripted: Scripted) -> None:
    app, url = scripted
    app.on("GET", "/v1/jobs/job_1", UNAVAILABLE, Reply(200, JOB))

    async def run() -> None:
        async with AsyncClient(url) as client:
            assert (await client.jobs.get("job_1")).id == "job_1"
            with pytest.raises(NotFoundError):
                await client.models.get("nope")

    asyncio.run(run())
    assert len(app.requests("GET", "/v1/jobs/job_1")) == 2


def test_upload_progress_counts_each_byte_once_and_restarts_on_a_retry(
    scripted: Scripted, tmp_path: Path
) -> None:
    app, url = scripted
    app.on("POST", "/v1/models", UNAVAILABLE, Reply(201, MODEL))
    source = tmp_path / "m.onnx"
    source.write_bytes(bytes(range(256)) * 1000)
    counts: list[int] = []
    with source.open("rb") as raw, httpx.Client(base_url=url) as http:
        reader: Any = ProgressReader(raw, counts.append)  # a binary file to httpx
        request = http.build_request("POST", "/v1/models", files={"file": ("m.onnx", reader)})
        assert request.headers["content-length"]  # sized without reading the file
        assert http.send(request).status_code == 503 and sum(counts) == 256_000
        assert http.send(request).status_code == 201
    rewinds = [c for c in counts if c < 0]
    assert rewinds == [-256_000] and sum(counts) == 256_000
    assert [s.body_bytes for s in app.requests("POST", "/v1/models")] == [
        app.requests("POST", "/v1/models")[0].body_bytes
    ] * 2


DATA = bytes(range(256)) * 4096  # 1 MiB


def _broken(after: int) -> Reply:
    pieces = [DATA[i : i + 65536] for i in range(0, after, 65536)]
    return Reply(chunks=pieces, abort=True, media_type="application/octet-stream")


def test_a_broken_download_resumes_with_a_range_request(scripted: Scripted, tmp_path: Path) -> None:
    app, url = scripted
    app.on("GET", "/v1/models/mdl_1/file", _broken(512 << 10), Reply(data=DATA))
    with Client(url) as client:
        path = client.models.download("mdl_1", tmp_path / "m.onnx", progress=True)
    assert path.read_bytes() == DATA
    resumed = app.requests("GET", "/v1/models/mdl_1/file")[1].headers["range"]
    assert resumed.startswith("bytes=") and int(resumed[6:-1]) > 0


def test_a_broken_download_starts_over_when_the_server_ignores_range(
    scripted: Scripted, tmp_path: Path
) -> None:
    app, url = scripted
    whole = Reply(chunks=[DATA], media_type="application/octet-stream")
    app.on("GET", "/v1/jobs/job_1/artifacts/optimized.onnx", _broken(512 << 10), whole)

    async def run() -> Path:
        async with AsyncClient(url) as client:
            return await client.jobs.download_artifact("job_1", "optimized.onnx", tmp_path / "o")

    assert asyncio.run(run()).read_bytes() == DATA


def test_a_download_that_keeps_breaking_leaves_no_file(scripted: Scripted, tmp_path: Path) -> None:
    app, url = scripted
    app.on("GET", "/v1/models/mdl_1/file", _broken(256 << 10))
    with Client(url, max_retries=1) as client, pytest.raises(APIConnectionError):
        client.models.download("mdl_1", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == [] and len(app.requests("GET", "/v1/models/mdl_1/file")) == 2
