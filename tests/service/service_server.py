"""A real ``graphopt serve`` (uvicorn + Huey worker processes) on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

UPLOAD_LIMIT_BYTES = 256 * 1024
TEST_SETTINGS = {
    "GRAPHOPT_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT_BYTES),
    "GRAPHOPT_HEARTBEAT_S": "0.2",
    "GRAPHOPT_JOB_MEMORY_BYTES": str(8 << 30),
}
"""Settings the tests' server runs with (benchmarks pass their own)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def graphopt_command() -> list[str]:
    script = Path(sys.executable).with_name("graphopt")
    return [str(script)] if script.exists() else [sys.executable, "-m", "graphopt"]


@dataclass
class Server:
    """A running ``graphopt serve`` process and how it was started."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path
    workers: int
    env: Mapping[str, str]
    cwd: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def stop(self) -> None:
        """Ctrl-C, as a terminal would send it; fail if it takes more than 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("graphopt serve ignored SIGINT for 20 s") from None

    def restart(self) -> None:
        """Stop, then start again on the same port and data directory."""
        self.stop()
        self.process = _spawn(self.port, self.data_dir, self.log, self.workers, self.env, self.cwd)
        _wait_ready(self)


def _spawn(
    port: int, data_dir: Path, log: Path, workers: int, env: Mapping[str, str], cwd: Path | None
) -> subprocess.Popen[bytes]:
    environment = {**os.environ, **env}
    command = [
        *graphopt_command(),
        "serve",
        *("--port", str(port), "--workers", str(workers), "--data-dir", str(data_dir)),
        *("--log-level", "warning"),
    ]
    with log.open("ab") as sink:
        return subprocess.Popen(
            command, env=environment, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT
        )


def answers_ready(base_url: str) -> bool:
    """Whether the server at ``base_url`` answers ``GET /readyz`` with 200 now."""
    try:
        return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"graphopt serve exited early:\n{server.log.read_text()}")
        if answers_ready(server.base_url):
            return
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"graphopt serve did not become ready:\n{server.log.read_text()}")


def start_server(
    data_dir: Path,
    log: Path,
    *,
    workers: int = 2,
    env: Mapping[str, str] = TEST_SETTINGS,
    cwd: Path | None = None,
) -> Server:
    """Start ``graphopt serve`` on a free port, with ``env`` added to this process's
    environment (in ``cwd`` when given), and wait until /readyz answers 200."""
    port = free_port()
    process = _spawn(port, data_dir, log, workers, env, cwd)
    server = Server(process, port, data_dir, log, workers, env, cwd)
    _wait_ready(server)
    return server
