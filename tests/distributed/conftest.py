"""Session fixtures of the distributed tests: real servers on loopback (see dist_servers.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from dist_servers import PG_ADMIN_URL, S3, S3_CREDENTIALS, Postgres, RedisServer, unavailable
from service_server import free_port


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:
        unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    server = Postgres(PG_ADMIN_URL)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = os.environ.get("GRAPHOPT_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        unavailable("redis-server is not installed (set GRAPHOPT_TEST_REDIS_SERVER)")
    assert binary is not None
    server = RedisServer(binary, free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """moto's S3 server: the S3-compatible stand-in for MinIO or AWS in these tests."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        unavailable("moto[server] is not installed (pip install 'graphopt[test]')")
    for name, value in S3_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    running = S3(f"http://127.0.0.1:{port}", "graphopt-test")
    running.client().create_bucket(Bucket=running.bucket)
    yield running
    server.stop()
