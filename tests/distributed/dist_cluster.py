"""The distributed topology without containers: ``graphopt serve --no-worker`` and
``graphopt worker`` processes sharing a Redis queue, a PostgreSQL database and an S3 bucket.

Each process has a data directory of its own (nothing shared on disk, as on separate
machines) and each worker a node name of its own (``GRAPHOPT_NODE_NAME``), so the reaper
cannot see its processes and must rely on heartbeats, as across machines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from service_server import answers_ready, free_port, graphopt_command

# Short intervals: a lost worker is noticed in ~2 s, a lost queue message in ~1 s.
FAST = {
    "GRAPHOPT_HEARTBEAT_S": "0.2",
    "GRAPHOPT_HEARTBEAT_TIMEOUT_S": "2",
    "GRAPHOPT_REAPER_INTERVAL_S": "0.5",
    "GRAPHOPT_REQUEUE_AFTER_S": "1",
    "GRAPHOPT_JOB_MEMORY_BYTES": str(8 << 30),
    "GRAPHOPT_MAX_UPLOAD_BYTES": str(256 * 1024),
}


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def _spawn(self, name: str, args: list[str], extra: dict[str, str]) -> subprocess.Popen[bytes]:
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, **self.env, **extra, "GRAPHOPT_DATA_DIR": str(data_dir)}
        environment.pop("GRAPHOPT_SUPERVISOR_PID", None)
        with (self.root / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [*graphopt_command(), *args],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self) -> None:
        self.api = self._spawn(
            "api",
            ["serve", "--no-worker", "--port", str(self.port), "--log-level", "warning"],
            {"GRAPHOPT_NODE_NAME": "api"},
        )

    def start_worker(self, node: str) -> subprocess.Popen[bytes]:
        process = self._spawn(node, ["worker"], {"GRAPHOPT_NODE_NAME": node})
        self.workers[node] = process
        return process

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.api is not None
            if self.api.poll() is not None:
                raise RuntimeError(f"the API exited early:\n{self.logs()}")
            for node, process in self.workers.items():
                if process.poll() is not None:
                    raise RuntimeError(f"worker {node} exited early:\n{self.logs()}")
            if answers_ready(self.base_url):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the API did not become ready:\n{self.logs()}")

    def kill_worker(self, node: str) -> None:
        """SIGKILL, as a crashed machine or the OOM killer would."""
        process = self.workers.pop(node)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.root.glob("*.log"))
        )

    def stop(self) -> None:
        processes = [*self.workers.values(), *([self.api] if self.api else [])]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
