"""Fixtures of the security tests: one server with API keys required and small limits."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from secure_server import SecureServer, start_secure_server


@pytest.fixture(scope="session")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    running = start_secure_server(tmp_path_factory.mktemp("secure"))
    yield running
    running.server.stop()
