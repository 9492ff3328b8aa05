"""Session fixtures shared by the service and client tests: one real ``graphopt serve``.

``tests/service`` goes on ``sys.path`` so its helpers import as ``service_server`` and
``service_models`` from any test folder (the folders are not packages)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "service"))

from service_server import Server, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``graphopt serve`` for the whole run (embedded SQLite, Huey worker processes)."""
    root = tmp_path_factory.mktemp("service")
    running = start_server(root / "data", root / "server.log")
    yield running
    running.stop()
    assert running.process.returncode is not None
