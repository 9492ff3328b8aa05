"""Tables: uploaded models, jobs, job attempts, job events (the SSE log) and job artifacts.

Times are timezone-aware UTC. Files are referenced by sha256 into the blob store
(:mod:`graphopt.store.blobs`); a blob is deleted when no row references it any more.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


DEFAULT_TENANT = "default"
"""The tenant of every model and job when the server runs without API keys."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """An opaque, unguessable resource id such as ``job_3f9c...``."""
    return f"{prefix}_{secrets.token_hex(12)}"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class ModelRow(Base):
    """An uploaded model (an .onnx file or a bundle), validated in the sandbox."""

    __tablename__ = "models"
    # Deduplication is per tenant: a tenant never learns that another holds the same file.
    __table_args__ = (UniqueConstraint("tenant", "sha256", name="uq_models_tenant_sha256"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT, index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int]
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))
    info: Mapped[dict[str, Any]]
    stats: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jobs: Mapped[list[JobRow]] = relationship(back_populates="model", passive_deletes=True)


class JobRow(Base):
    """One optimization job. ``status``: queued, running, succeeded, failed, cancelled."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        UniqueConstraint("tenant", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
        Index("ix_jobs_tenant_status", "tenant", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    pipeline: Mapped[dict[str, Any]]
    options: Mapped[dict[str, Any]]
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(255))
    child_pid: Mapped[int | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", onupdate=text("revision + 1")
    )
    """Bumped by every UPDATE of the row (the column's ``onupdate``), and by whoever changes
    a job's artifacts or attempts without one: the key of the API's cache of job bodies."""

    model: Mapped[ModelRow] = relationship(back_populates="jobs")
    artifacts: Mapped[list[ArtifactRow]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="ArtifactRow.name"
    )
    attempt_log: Mapped[list[JobAttemptRow]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        order_by="JobAttemptRow.number",
        passive_deletes=True,
    )


class JobEventRow(Base):
    """One state or progress change of a job; ``id`` orders events and is the SSE event id."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArtifactRow(Base):
    """A file a job produced, stored as a blob."""

    __tablename__ = "artifacts"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(100))

    job: Mapped[JobRow] = relationship(back_populates="artifacts")


class ApiKeyRow(Base):
    """An API key of a tenant: only the sha256 of the key is stored, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class JobAttemptRow(Base):
    """One run of a job by a worker: who ran it, when, and how it ended.

    ``outcome`` is None while the attempt runs, then ``succeeded``, ``failed``,
    ``cancelled``, or ``lost`` (the worker vanished; the reaper re-queued or failed the job).
    """

    __tablename__ = "job_attempts"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    worker_host: Mapped[str] = mapped_column(String(255))
    worker_pid: Mapped[int | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))

    job: Mapped[JobRow] = relationship(back_populates="attempt_log")
