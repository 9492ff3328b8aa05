"""A ``graphopt serve`` with API keys required and small limits, in a sealed directory.

Layout under ``root``: ``data/`` (the data directory), ``cwd/`` (the server's working
directory), ``tmp/`` (its ``TMPDIR``), ``home/`` (its ``HOME``), ``outside/secret.bin`` (a
file hostile models try to read) and ``server.log``. Everything but ``data/`` and the log
must stay as it was: the server writes and reads only inside its data directory.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from service_server import Server, graphopt_command, start_server

from graphopt.settings import Settings
from graphopt.store import api_keys
from graphopt.store.db import Database

LIMITS = {
    "GRAPHOPT_AUTH": "required",
    "GRAPHOPT_MAX_MODEL_NODES": "50",
    "GRAPHOPT_MAX_INITIALIZER_BYTES": str(64 * 1024),
    "GRAPHOPT_MAX_QUEUED_JOBS": "1",
    "GRAPHOPT_MAX_ACTIVE_JOBS": "2",
    "GRAPHOPT_MAX_UPLOAD_BYTES": str(8 << 20),
    "GRAPHOPT_HEARTBEAT_S": "0.2",
    "GRAPHOPT_JOB_MEMORY_BYTES": str(4 << 30),
    "GRAPHOPT_VALIDATION_TIMEOUT_S": "30",
}
TENANTS = ("alice", "bob", "mallory", "limits")


def create_key(data_dir: Path, tenant: str, *, admin: bool = False) -> subprocess.CompletedProcess:
    command = [
        *graphopt_command(),
        "keys",
        "create",
        "--tenant",
        tenant,
        "--data-dir",
        str(data_dir),
    ]
    if admin:
        command.append("--admin")
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


@dataclass
class SecureServer:
    server: Server
    root: Path
    keys: dict[str, str] = field(default_factory=dict)
    """API key by tenant name; ``"admin"`` is an admin key of tenant ``ops``."""

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def secret(self) -> Path:
        return self.root / "outside" / "secret.bin"

    def client(self, tenant: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[tenant]}"} if tenant else {}
        return httpx.Client(base_url=self.server.base_url, timeout=60, headers=headers)

    def outside_files(self) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of every file under ``root`` outside ``data/`` and the log."""
        files = {}
        for path in self.root.rglob("*"):
            relative = path.relative_to(self.root)
            if relative.parts[0] in ("data", "server.log") or path.is_dir():
                continue
            info = path.lstat()
            files[str(relative)] = (info.st_size, info.st_mtime_ns)
        return files


def start_secure_server(root: Path) -> SecureServer:
    for name in ("data", "cwd", "tmp", "home", "outside"):
        (root / name).mkdir(parents=True)
    (root / "outside" / "secret.bin").write_bytes(b"top secret: never read me\n" * 64)
    # One key through the command (its stdout is the key alone), the rest directly.
    keys = {TENANTS[0]: create_key(root / "data", TENANTS[0]).stdout.strip()}
    db = Database(Settings(data_dir=root / "data").resolved_database_url)
    for tenant in TENANTS[1:]:
        keys[tenant] = api_keys.create_key(db, tenant).key
    keys["admin"] = api_keys.create_key(db, "ops", admin=True).key
    db.dispose()
    environment = {**LIMITS, "TMPDIR": str(root / "tmp"), "HOME": str(root / "home")}
    server = start_server(
        root / "data", root / "server.log", workers=2, env=environment, cwd=root / "cwd"
    )
    return SecureServer(server, root, keys)
