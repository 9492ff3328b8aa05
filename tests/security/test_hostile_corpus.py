"""The hostile-input corpus over HTTP: each upload gets its own 4xx code, the server stays
up, and nothing is written or read outside the data directory.

Reads are caught by access time: ``outside/secret.bin`` gets an access time older than its
modification time, which any read moves forward on a ``relatime`` (or ``strictatime``)
mount; the control read in :func:`test_access_times_are_recorded` proves the mount does.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from hostile_models import Hostile, corpus
from onnx import TensorProto, helper
from secure_server import SecureServer
from service_models import slow_model

TENANT = "mallory"


def _absolute_target(secure: SecureServer) -> Path:
    return secure.root / "outside" / "planted-by-an-archive.bin"


def _reset_access_time(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(0, info.st_mtime_ns))


def _blobs(secure: SecureServer) -> set[str]:
    return {p.name for p in (secure.data_dir / "blobs").rglob("*") if p.is_file()}


def _work_files(secure: SecureServer) -> list[Path]:
    return [p for p in (secure.data_dir / "work").rglob("*") if p.is_file()]


def test_access_times_are_recorded(tmp_path: Path) -> None:
    control = tmp_path / "control.bin"
    control.write_bytes(b"x")
    _reset_access_time(control)
    control.read_bytes()
    assert control.stat().st_atime_ns > 0, "this mount does not record reads (noatime)"


def _answer(secure: SecureServer, case: Hostile) -> tuple[int, str, bool]:
    """(status, error code, whether the secret's bytes appear in the answer)."""
    with secure.client(TENANT) as client:
        response = client.post(
            "/v1/models", files={"file": (case.filename, case.data, "application/octet-stream")}
        )
    code = ""
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "detail"} and error["message"], error
        code = error["code"]
    return response.status_code, code, b"top secret" in response.content


def test_every_hostile_upload_is_refused_with_its_code(secure: SecureServer) -> None:
    """All cases at once (4 in flight); then the server, the store and the files around it."""
    cases = corpus(secure.secret, _absolute_target(secure))
    _reset_access_time(secure.secret)
    outside_before, blobs_before = secure.outside_files(), _blobs(secure)
    with secure.client(TENANT) as client:
        models_before = {m["id"] for m in client.get("/v1/models").json()["data"]}
    with ThreadPoolExecutor(4) as pool:
        answers = dict(
            zip([c.name for c in cases], pool.map(lambda c: _answer(secure, c), cases), strict=True)
        )
    expected = {case.name: (case.status, case.code, False) for case in cases}
    assert answers == expected
    with secure.client(TENANT) as client:
        assert client.get("/healthz").status_code == 200
        models = {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert secure.server.process.poll() is None
    # only the valid control was stored: one model, one blob
    assert len(models - models_before) == 1
    assert len(_blobs(secure) - blobs_before) == 1
    assert secure.outside_files() == outside_before
    assert not _absolute_target(secure).exists()
    assert not any(secure.root.rglob("evil.bin"))
    assert secure.secret.stat().st_atime_ns == 0, "the secret outside the data dir was read"
    assert _work_files(secure) == []  # scratch directories are removed


def _wait(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end: {job}")


def test_a_model_that_hangs_onnxruntime_ends_its_job_only(secure: SecureServer) -> None:
    with secure.client(TENANT) as client:
        model = client.post("/v1/models", files={"file": ("slow.onnx", slow_model())}).json()
        job = client.post(
            "/v1/jobs",
            json={
                "model_id": model["id"],
                "pipeline": ["noop_elimination"],
                "limits": {"timeout_s": 2},
            },
        ).json()
        final = _wait(client, job["id"])
        assert (final["status"], final["error"]["code"]) == ("failed", "timeout")
        assert client.get("/healthz").status_code == 200
    assert secure.server.process.poll() is None


def _huge_input_model() -> bytes:
    """x[2**20, 2**20] -> Relu -> y: valid, but running it needs 4 TiB of input."""
    side = 2**20
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [side, side])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_declared_dims_of_2_40_run_out_of_memory_in_the_sandbox_only(
    secure: SecureServer,
) -> None:
    """Dims are only numbers at upload (accepted); the job's verification would need
    4 TiB and hits the sandbox's address-space limit: the job fails, the server lives."""
    with secure.client(TENANT) as client:
        model = client.post("/v1/models", files={"file": ("huge.onnx", _huge_input_model())})
        assert model.status_code == 201, model.text
        job = client.post(
            "/v1/jobs",
            json={"model_id": model.json()["id"], "pipeline": ["noop_elimination"]},
        ).json()
        final = _wait(client, job["id"])
        assert (final["status"], final["error"]["code"]) == ("failed", "out_of_memory")
        assert client.get("/healthz").status_code == 200
    assert secure.server.process.poll() is None
