"""End-to-end over real HTTP: models, jobs, SSE, artifacts, errors, idempotency."""

from __future__ import annotations

import io
import re
import socket
import time

import httpx
import numpy as np
import onnx
import onnxruntime as ort
from service_models import small_model, variant
from service_server import UPLOAD_LIMIT_BYTES, Server
from sse import follow


def upload(client: httpx.Client, data: bytes, name: str = "model.onnx") -> httpx.Response:
    return client.post("/v1/models", files={"file": (name, data, "application/octet-stream")})


def uploaded(client: httpx.Client, data: bytes, name: str = "model.onnx") -> dict:
    """Upload a valid model; its resource."""
    response = upload(client, data, name)
    assert response.status_code in (200, 201), response.text
    return response.json()


def wait_for(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def test_upload_job_events_and_artifacts(client: httpx.Client, tmp_path) -> None:
    created = upload(client, small_model(), "small.onnx")
    assert created.status_code == 201, created.text
    model = created.json()
    assert created.headers["location"] == f"/v1/models/{model['id']}"
    assert model["node_count"] == 3
    assert model["op_histogram"] == {"Identity": 1, "Relu": 1, "Add": 1}
    assert model["inputs"] == [{"name": "x", "dtype": "FLOAT", "shape": [1, 8]}]
    assert model["opset"] == {"": 17}

    response = client.post("/v1/jobs", json={"model_id": model["id"], "pipeline": "default"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"

    events = follow(client, job["id"])
    statuses = [e.data["status"] for e in events if e.event == "status"]
    assert statuses == ["queued", "running", "succeeded"]
    stages = {e.data["stage"] for e in events if e.event == "progress"}
    assert {"load", "passes", "verify", "save"} <= stages
    assert [e.id for e in events] == sorted(e.id for e in events)

    # Resuming after the first event replays exactly the rest.
    resumed = follow(client, job["id"], last_event_id=events[0].id)
    assert [e.id for e in resumed] == [e.id for e in events[1:]]

    final = client.get(f"/v1/jobs/{job['id']}").json()
    assert final["status"] == "succeeded"
    assert final["summary"]["verification"] == "passed"
    assert final["summary"]["nodes_after"] < final["summary"]["nodes_before"]
    names = {a["name"] for a in final["artifacts"]}
    assert {"optimized.onnx", "report.json"} <= names

    optimized = client.get(f"/v1/jobs/{job['id']}/artifacts/optimized.onnx")
    assert optimized.status_code == 200
    path = tmp_path / "optimized.onnx"
    path.write_bytes(optimized.content)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    x = np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32)
    expected = ort.InferenceSession(small_model()).run(None, {"x": x})[0]
    actual = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(actual, expected, rtol=1e-6)

    report = client.get(f"/v1/jobs/{job['id']}/artifacts/report.json").json()
    assert report["verification"]["status"] == "passed"
    assert report["model"]["inputs"][0]["name"] == "x"

    listed = client.get("/v1/jobs", params={"model_id": model["id"], "status": "succeeded"})
    assert job["id"] in [j["id"] for j in listed.json()["data"]]


def test_profile_and_memory_artifacts(client: httpx.Client) -> None:
    model = uploaded(client, variant(1))
    job = client.post(
        "/v1/jobs",
        json={
            "model_id": model["id"],
            "options": {
                "profile": {"warmup": 1, "runs": 5, "profiled_runs": 2},
                "memory": {"schedule": False},
            },
        },
    ).json()
    assert job["options"]["memory"]["schedule"] is False
    events = follow(client, job["id"])
    assert events[-1].data["status"] == "succeeded", events[-1].data
    final = client.get(f"/v1/jobs/{job['id']}").json()
    names = {a["name"] for a in final["artifacts"]}
    warnings = client.get(f"/v1/jobs/{job['id']}/artifacts/report.json").json()["warnings"]
    assert {
        "ort_profile_original.json",
        "ort_profile_optimized.json",
        "memory_plan.json",
        "memory_timeline.png",
    } <= names, warnings
    assert final["summary"]["latency_p50_ms_before"] > 0
    trace = client.get(f"/v1/jobs/{job['id']}/artifacts/ort_profile_optimized.json").json()
    assert isinstance(trace, list) and any(e.get("cat") == "Node" for e in trace)
    plan = client.get(f"/v1/jobs/{job['id']}/artifacts/memory_plan.json").json()
    assert plan["arena_bytes"] > 0
    png = client.get(f"/v1/jobs/{job['id']}/artifacts/memory_timeline.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


def test_dedup_returns_the_same_model(client: httpx.Client) -> None:
    first = upload(client, variant(2))
    again = upload(client, variant(2), "renamed.onnx")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["sha256"] == first.json()["sha256"]


def test_model_file_graph_and_delete(client: httpx.Client) -> None:
    data = variant(3)
    model = uploaded(client, data)
    assert client.get(f"/v1/models/{model['id']}/file").content == data
    node_link = client.get(f"/v1/models/{model['id']}/graph", params={"format": "node-link"})
    assert node_link.status_code == 200
    kinds = [n.get("kind") for n in node_link.json()["nodes"]]
    assert kinds.count("op") == 3
    graphml = client.get(f"/v1/models/{model['id']}/graph", params={"format": "graphml"})
    assert graphml.status_code == 200 and b"<graphml" in graphml.content
    assert model["id"] in [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert client.delete(f"/v1/models/{model['id']}").status_code == 204
    gone = client.get(f"/v1/models/{model['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


def test_malformed_models_get_the_engine_error_code(client: httpx.Client) -> None:
    truncated = upload(client, small_model()[:-7])
    assert truncated.status_code == 422
    assert truncated.json()["error"]["code"] == "truncated_protobuf"
    assert set(truncated.json()["error"]) == {"code", "message", "detail"}
    empty = upload(client, b"")
    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "empty_file")
    garbage = upload(client, bytes(range(256)) * 4)
    assert garbage.status_code == 422
    assert garbage.json()["error"]["code"] == "not_onnx"


def _raw_post(server: Server, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request by hand and return the status line and headers of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_oversized_upload_is_refused_before_it_is_read(server: Server) -> None:
    boundary = "graphopt-test-boundary"
    head = (
        "POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {10 * 1024**3}\r\n\r\n"
    ).encode()
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    answer = _raw_post(server, head, [preamble, b"\0" * 65536])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_streamed_upload_over_the_cap_gets_413(server: Server) -> None:
    """Chunked (no Content-Length): refused once the received bytes pass the cap."""
    boundary = "graphopt-test-boundary"
    head = (
        "POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\n\r\n'
    ).encode()
    block = b"\0" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(preamble), preamble)]
    chunks += [b"%x\r\n%s\r\n" % (len(block), block)] * (UPLOAD_LIMIT_BYTES // len(block) + 2)
    answer = _raw_post(server, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_idempotency_key(client: httpx.Client) -> None:
    model = uploaded(client, variant(4))
    body = {"model_id": model["id"], "pipeline": ["noop_elimination"]}
    headers = {"Idempotency-Key": f"key-{model['id']}"}
    first = client.post("/v1/jobs", json=body, headers=headers)
    second = client.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"]
    jobs = client.get("/v1/jobs", params={"model_id": model["id"]}).json()["data"]
    assert len(jobs) == 1
    other = client.post("/v1/jobs", json={**body, "pipeline": "lossless"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    follow(client, first.json()["id"])


def test_job_validation_errors(client: httpx.Client) -> None:
    model = uploaded(client, variant(5))
    cases = [
        ({"model_id": model["id"], "pipeline": ["no_such_pass"]}, 422, "unknown_pass"),
        ({"model_id": model["id"], "pipeline": "no_such_preset"}, 422, "unknown_pipeline"),
        (
            {"model_id": model["id"], "options": {"input_shapes": {"nope": [1, 8]}}},
            422,
            "invalid_input_shape",
        ),
        ({"model_id": model["id"], "options": {"target": "gpu"}}, 422, "invalid_request"),
        ({"model_id": model["id"], "options": {"surprise": 1}}, 422, "invalid_request"),
        ({"model_id": model["id"], "options": {"prune": ["half"]}}, 422, "invalid_options"),
        (
            {"model_id": model["id"], "options": {"memory": {"plot": "/tmp/x.png"}}},
            422,
            "invalid_request",
        ),
        (
            {"model_id": model["id"], "options": {"verify": {"inputs": "/etc/passwd"}}},
            422,
            "invalid_request",
        ),
        ({"model_id": model["id"], "limits": {"timeout_s": 1e9}}, 422, "limit_too_high"),
        ({"model_id": "mdl_missing"}, 404, "not_found"),
    ]
    for body, status, code in cases:
        response = client.post("/v1/jobs", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body


def test_upload_needs_multipart(client: httpx.Client) -> None:
    response = client.post("/v1/models", content=io.BytesIO(small_model()).read())
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_docs_are_served_offline(client: httpx.Client) -> None:
    """Swagger UI and ReDoc load only assets of this server (no CDN, fonts or favicon)."""
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
        assets += re.findall(r"""url:\s*["']([^"']+)["']""", html.text)
        assert assets, html.text
        for asset in assets:
            assert not re.match(r"(https?:)?//", asset), f"{page} loads {asset}"
            assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").json()["info"]["title"] == "graphopt"
