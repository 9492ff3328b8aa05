"""Service settings (pydantic-settings): ``GRAPHOPT_*`` environment variables or ``serve`` flags.

Sizes are bytes, durations seconds. Everything has an embedded default: SQLite in WAL mode
and files under ``data_dir``, a SqliteHuey queue file beside them, local worker processes.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

GiB = 1 << 30


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "graphopt"


class Settings(BaseSettings):
    """Where state lives, how many workers run jobs, and the limits of each job's sandbox."""

    model_config = SettingsConfigDict(env_prefix="GRAPHOPT_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="database, blobs, queue")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/graphopt.db (WAL)"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(2, ge=1, le=64, description="job worker processes started by serve")

    max_upload_bytes: int = Field(4 * GiB, ge=1, description="largest accepted upload")
    validation_timeout_s: float = Field(120.0, gt=0, description="wall limit of upload checks")
    job_timeout_s: float = Field(3600.0, gt=0, description="wall-clock limit of one job")
    job_cpu_s: int = Field(7200, ge=1, description="CPU-time limit (RLIMIT_CPU) of one job")
    job_memory_bytes: int = Field(
        32 * GiB, ge=256 << 20, description="address-space limit (RLIMIT_AS) of one job"
    )
    heartbeat_s: float = Field(1.0, gt=0, description="how often a running job's worker reports")
    heartbeat_timeout_s: float = Field(
        30.0, gt=0, description="a running job silent this long has lost its worker"
    )
    max_attempts: int = Field(3, ge=1, description="runs of a job whose worker was lost")

    # Distributed mode (docs/deploy.md): each of these switches one embedded part for a shared one.
    queue_url: str | None = Field(
        None, description="redis://host:port/db for a Redis queue; default SqliteHuey file"
    )
    blob_url: str | None = Field(
        None, description="s3://bucket/prefix for S3-compatible blobs; default files in data_dir"
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint (MinIO...); default AWS_ENDPOINT_URL_S3 or AWS"
    )
    blob_cache_bytes: int = Field(
        10 * GiB, ge=0, description="local cache of S3 blobs (models given to jobs, downloads)"
    )
    node_name: str | None = Field(
        None, description="this machine's name in worker ids (host:pid); default the hostname"
    )
    reaper_interval_s: float = Field(
        5.0, gt=0, description="how often workers and API look for lost jobs and queue messages"
    )
    requeue_after_s: float = Field(
        30.0, gt=0, description="a queued job missing from the queue this long is enqueued again"
    )
    migrate_on_start: bool = Field(True, description="run the Alembic migrations at start")

    # Security and limits (docs/security.md)
    auth: Literal["required", "off"] | None = Field(
        None, description="API keys; default: off on a loopback host, required elsewhere"
    )
    insecure: bool = Field(False, description="allow auth off on a non-loopback host")
    max_model_nodes: int = Field(
        1_000_000, ge=1, description="largest accepted node count (all graph bodies)"
    )
    max_initializer_bytes: int = Field(
        16 * GiB, ge=1, description="largest accepted total of initializer bytes"
    )
    max_queued_jobs: int = Field(100, ge=1, description="queued jobs per tenant (429 above)")
    max_active_jobs: int = Field(
        200, ge=1, description="queued + running jobs per tenant (429 above)"
    )
    artifact_ttl_s: float | None = Field(
        7 * 24 * 3600.0, gt=0, description="artifacts of jobs finished longer ago are deleted"
    )
    cleanup_interval_s: float = Field(60.0, gt=0, description="how often expiry runs in serve")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'graphopt.db'}"

    @property
    def loopback(self) -> bool:
        """Whether ``host`` only accepts connections from this machine."""
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")

    @property
    def auth_required(self) -> bool:
        """``auth`` if set, else required unless the host is loopback."""
        if self.auth is not None:
            return self.auth == "required"
        return not (self.loopback or self.insecure)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def work_dir(self) -> Path:
        """Scratch space of uploads in flight and running jobs."""
        return self.data_dir / "work"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def resolved_node_name(self) -> str:
        return self.node_name or socket.gethostname()

    @property
    def blob_cache_dir(self) -> Path:
        """Local copies of remote (S3) blobs."""
        return self.data_dir / "blob-cache"

    def prepare(self) -> None:
        """Create the data directories."""
        for path in (self.data_dir, self.blob_dir, self.work_dir):
            path.mkdir(parents=True, exist_ok=True)
