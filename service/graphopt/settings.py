"""Service settings (pydantic-settings): ``GRAPHOPT_*`` environment variables or ``serve`` flags.

Sizes are bytes, durations seconds. Everything has an embedded default: SQLite in WAL mode
and files under ``data_dir``, a SqliteHuey queue file beside them, local worker processes.
"""

from __future__ import annotations

import os
from pathlib import Path

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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'graphopt.db'}"

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

    def prepare(self) -> None:
        """Create the data directories."""
        for path in (self.data_dir, self.blob_dir, self.work_dir):
            path.mkdir(parents=True, exist_ok=True)
