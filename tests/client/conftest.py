"""Fixtures: an SDK client for the session's real ``graphopt serve`` (tests/conftest.py), a
model uploaded once, and a scripted HTTP server for error paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import service_models
from scripted_server import ScriptedApp, serve
from service_server import Server

from graphopt_client import Client, Job, Model


@pytest.fixture
def sdk(server: Server) -> Iterator[Client]:
    with Client(server.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def small_model() -> bytes:
    return bytes(service_models.variant(1000))  # distinct from the service tests' uploads


@pytest.fixture(scope="session")
def uploaded(server: Server, small_model: bytes) -> Model:
    """The small model, uploaded once for the session."""
    with Client(server.base_url, timeout=60) as client:
        return client.models.upload(small_model, filename="small.onnx")


@pytest.fixture(scope="session")
def finished_job(server: Server, uploaded: Model) -> Job:
    """A succeeded job of ``uploaded`` (default pipeline)."""
    with Client(server.base_url, timeout=60) as client:
        job = client.jobs.create(uploaded).wait(timeout=120)
    assert job.status == "succeeded", job.error
    return job


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedApp, str]]:
    """A scripted server: ``(app, base_url)``; script routes with ``app.on(...)``."""
    app = ScriptedApp()
    with serve(app) as base_url:
        yield app, base_url
