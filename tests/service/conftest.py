"""An httpx client for the session's real server (the ``server`` fixture of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import onnx
import pytest
from service_models import variant
from service_server import Server
from sse import follow


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


MARKUP_OUTPUT = 'y<script>alert("x")</script>'
"""The profiled job's output name: markup the job page must show as text."""


@pytest.fixture(scope="session")
def profiled_job(server: Server) -> dict:
    """A succeeded job with profiling, session tuning and memory planning (its resource),
    shared by the job-page and browser tests."""
    proto = onnx.load_from_string(variant(70))
    proto.graph.node[-1].output[0] = proto.graph.output[0].name = MARKUP_OUTPUT

    with server.client() as http:
        model = http.post(
            "/v1/models",
            files={"file": ("page.onnx", proto.SerializeToString(), "application/octet-stream")},
        ).json()
        job = http.post(
            "/v1/jobs",
            json={
                "model_id": model["id"],
                "options": {
                    "profile": {"warmup": 1, "runs": 3, "profiled_runs": 1, "tune": True},
                    "memory": True,
                },
            },
        ).json()
        events = follow(http, job["id"])
        assert events[-1].data["status"] == "succeeded", events[-1].data
        resource: dict = http.get(f"/v1/jobs/{job['id']}").json()
    return resource
