"""Job state transitions and the event log, as single guarded statements.

Each transition is an ``UPDATE ... WHERE status = <expected>`` so that two actors (the API,
a worker, the reaper) can never both win: whoever's update matches the row owns the
transition, and every transition appends an event (the SSE log) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, Connection, Row, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from graphopt.store.db import Database
from graphopt.store.models import (
    ArtifactRow,
    JobAttemptRow,
    JobEventRow,
    JobRow,
    ModelRow,
    utcnow,
)

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to run a job it has claimed."""

    id: str
    model_sha256: str
    model_filename: str
    pipeline: dict[str, Any]
    options: dict[str, Any]
    limits: dict[str, Any]
    attempt: int


@dataclass(frozen=True)
class NewArtifact:
    name: str
    sha256: str
    size_bytes: int
    media_type: str


def add_event(session: Session, job_id: str, type_: str, data: dict[str, Any]) -> None:
    session.add(JobEventRow(job_id=job_id, type=type_, data=data))


def _relaxed_durability(session: Session) -> None:
    """On PostgreSQL, commit this transaction without waiting for the WAL flush.

    For heartbeats and progress only: they are frequent (a flush each is ~10 ms that the
    job's sandbox loop waits for), and a crash losing the last few of them is harmless.
    Job state transitions keep full durability. A no-op on other databases (SQLite in WAL
    mode with ``synchronous=NORMAL`` does not flush per commit).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def split_worker(worker: str) -> tuple[str, int | None]:
    """``host:pid`` -> ``(host, pid)`` (pid None when the id has no numeric pid)."""
    host, _, pid = worker.rpartition(":")
    if not host or not pid.isdigit():
        return worker, None
    return host, int(pid)


def _end_attempt(session: Session, job_id: str, number: int, outcome: str) -> None:
    """Close attempt ``number`` of a job (a no-op for jobs that predate attempt records)."""
    session.execute(
        update(JobAttemptRow)
        .where(
            JobAttemptRow.job_id == job_id,
            JobAttemptRow.number == number,
            JobAttemptRow.outcome.is_(None),
        )
        .values(outcome=outcome, finished_at=utcnow())
    )


def claim(db: Database, job_id: str, worker: str) -> ClaimedJob | None:
    """Move a queued job to running for ``worker``; None when it is not queued any more."""
    now = utcnow()
    with db.session() as session:
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "queued")
            .values(
                status="running",
                attempts=JobRow.attempts + 1,
                worker=worker,
                heartbeat_at=now,
                started_at=func.coalesce(JobRow.started_at, now),
                progress=None,
                child_pid=None,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        job = session.get_one(JobRow, job_id)
        model = session.get_one(ModelRow, job.model_id)
        host, pid = split_worker(worker)
        session.add(
            JobAttemptRow(
                job_id=job_id, number=job.attempts, worker_host=host, worker_pid=pid, started_at=now
            )
        )
        add_event(
            session,
            job_id,
            "status",
            {"status": "running", "attempt": job.attempts, "worker": {"host": host, "pid": pid}},
        )
        return ClaimedJob(
            id=job.id,
            model_sha256=model.sha256,
            model_filename=model.filename,
            pipeline=job.pipeline,
            options=job.options,
            limits=job.limits,
            attempt=job.attempts,
        )


def heartbeat(db: Database, job_id: str, worker: str) -> Literal["run", "cancel", "lost"]:
    """Record that ``worker`` is still running the job; say whether it should go on."""
    with db.session() as session:
        _relaxed_durability(session)
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "running", JobRow.worker == worker)
            .values(heartbeat_at=utcnow())
            .returning(JobRow.cancel_requested)
        )
        row = result.first()
    if row is None:
        return "lost"
    return "cancel" if row[0] else "run"


def set_child(db: Database, job_id: str, pid: int | None) -> None:
    with db.session() as session:
        session.execute(update(JobRow).where(JobRow.id == job_id).values(child_pid=pid))


def record_progress(db: Database, job_id: str, worker: str, progress: dict[str, Any]) -> None:
    """Store the latest progress of a running job and log it as an event."""
    with db.session() as session:
        _relaxed_durability(session)
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "running", JobRow.worker == worker)
            .values(progress=progress, heartbeat_at=utcnow())
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            add_event(session, job_id, "progress", progress)


def finish(
    db: Database,
    job_id: str,
    worker: str,
    status: Literal["succeeded", "failed", "cancelled"],
    *,
    error: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    artifacts: Iterable[NewArtifact] = (),
) -> bool:
    """End a running job owned by ``worker``; False when it was not (reaped meanwhile)."""
    now = utcnow()
    with db.session() as session:
        job = session.scalars(
            select(JobRow).where(
                JobRow.id == job_id, JobRow.status == "running", JobRow.worker == worker
            )
        ).first()
        if job is None:
            return False
        started = job.started_at or now
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "running", JobRow.worker == worker)
            .values(
                status=status,
                finished_at=now,
                duration_ms=round((now - started).total_seconds() * 1000, 3),
                error=error,
                summary=summary,
                child_pid=None,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        _end_attempt(session, job_id, job.attempts, status)
        for artifact in artifacts:
            session.add(
                ArtifactRow(
                    job_id=job_id,
                    name=artifact.name,
                    sha256=artifact.sha256,
                    size_bytes=artifact.size_bytes,
                    media_type=artifact.media_type,
                )
            )
        add_event(session, job_id, "status", {"status": status, "error": error, "summary": summary})
    return True


def cancel(db: Database, job_id: str) -> str | None:
    """Cancel a job: a queued one at once, a running one by flagging it for its worker.

    Returns the job's status after the call, or None when there is no such job.
    """
    now = utcnow()
    with db.session() as session:
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "queued")
            .values(status="cancelled", finished_at=now, cancel_requested=True)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            add_event(session, job_id, "status", {"status": "cancelled", "error": None})
            return "cancelled"
        session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "running")
            .values(cancel_requested=True)
        )
        status = session.scalar(select(JobRow.status).where(JobRow.id == job_id))
    return status


class JobView(NamedTuple):
    """A job as the API shows it: its ``jobs`` row with its artifacts (by name) and its
    attempts (oldest first). Plain rows read in one transaction by Core statements, no ORM
    objects: ``GET /v1/jobs/{id}`` is the API's hottest path (every polling client)."""

    job: Row[Any]
    artifacts: list[Row[Any]]
    attempts: list[Row[Any]]


_JOBS, _ARTIFACTS, _ATTEMPTS = JobRow.__table__, ArtifactRow.__table__, JobAttemptRow.__table__
# Built once: constructing a statement costs more than running it on SQLite.
_ONE_JOB = select(_JOBS).where(_JOBS.c.id == bindparam("id"))
_HEAD = select(_JOBS.c.tenant, _JOBS.c.revision).where(_JOBS.c.id == bindparam("id"))
_ARTIFACTS_OF = (
    select(_ARTIFACTS)
    .where(_ARTIFACTS.c.job_id.in_(bindparam("ids", expanding=True)))
    .order_by(_ARTIFACTS.c.name)
)
_ATTEMPTS_OF = (
    select(_ATTEMPTS)
    .where(_ATTEMPTS.c.job_id.in_(bindparam("ids", expanding=True)))
    .order_by(_ATTEMPTS.c.number)
)


def read_view(db: Database, job_id: str) -> JobView | None:
    """The job ``job_id``, or None when there is none."""
    with db.engine.connect() as connection:
        job = connection.execute(_ONE_JOB, {"id": job_id}).one_or_none()
        return None if job is None else _with_children(connection, [job])[0]


def read_head(db: Database, job_id: str) -> Row[Any] | None:
    """``(tenant, revision)`` of the job ``job_id``, or None when there is none."""
    return db.read_row(_HEAD, {"id": job_id})


def read_views(
    db: Database, *where: ColumnElement[bool], limit: int | None = None, offset: int = 0
) -> list[JobView]:
    """The jobs matching ``where`` (columns of :class:`JobRow`), newest first."""
    query = select(_JOBS).where(*where).order_by(_JOBS.c.created_at.desc())
    with db.engine.connect() as connection:
        jobs = connection.execute(query.limit(limit).offset(offset)).all()
        return _with_children(connection, jobs) if jobs else []


def _with_children(connection: Connection, jobs: Sequence[Row[Any]]) -> list[JobView]:
    ids = {"ids": [job.id for job in jobs]}
    views = {job.id: JobView(job, [], []) for job in jobs}
    for artifact in connection.execute(_ARTIFACTS_OF, ids):
        views[artifact.job_id].artifacts.append(artifact)
    for attempt in connection.execute(_ATTEMPTS_OF, ids):
        views[attempt.job_id].attempts.append(attempt)
    return list(views.values())


def events_after(db: Database, job_id: str, after: int, limit: int = 500) -> list[JobEventRow]:
    """The job's events with id greater than ``after``, oldest first."""
    with db.session() as session:
        return list(
            session.scalars(
                select(JobEventRow)
                .where(JobEventRow.job_id == job_id, JobEventRow.id > after)
                .order_by(JobEventRow.id)
                .limit(limit)
            )
        )


def queued_ids(db: Database, *, created_before: datetime | None = None) -> list[str]:
    """Ids of queued jobs, oldest first (only those created before ``created_before``)."""
    query = select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.created_at)
    if created_before is not None:
        query = query.where(JobRow.created_at < created_before)
    with db.session() as session:
        return list(session.scalars(query))


def reap_lost(
    db: Database,
    *,
    stale_before: datetime,
    worker_alive: Callable[[str], bool | None],
    max_attempts: int,
) -> list[str]:
    """Re-queue (or fail with ``worker_lost``) running jobs whose worker is gone.

    A worker is gone when ``worker_alive(worker)`` is False (known dead), or when it is
    None (unknown, e.g. another machine) and its last heartbeat is before ``stale_before``.
    Returns the ids of the jobs put back in the queue; the caller enqueues them.
    """
    requeued: list[str] = []
    with db.session() as session:
        running = session.scalars(select(JobRow).where(JobRow.status == "running")).all()
        lost = []
        for job in running:
            alive = worker_alive(job.worker or "")
            stale = job.heartbeat_at is None or job.heartbeat_at < stale_before
            if alive is False or (alive is None and stale):
                lost.append((job.id, job.worker, job.attempts, job.cancel_requested))
    for job_id, worker, attempts, cancel_requested in lost:
        with db.session() as session:
            guard = (JobRow.id == job_id, JobRow.status == "running", JobRow.worker == worker)
            if cancel_requested:
                values: dict[str, Any] = {"status": "cancelled", "finished_at": utcnow()}
                event: dict[str, Any] = {"status": "cancelled", "error": None}
            elif attempts >= max_attempts:
                error = {
                    "code": "worker_lost",
                    "message": f"The worker running this job was lost {attempts} times.",
                    "detail": {"worker": worker, "attempts": attempts},
                }
                values = {"status": "failed", "finished_at": utcnow(), "error": error}
                event = {"status": "failed", "error": error}
            else:
                values = {"status": "queued", "worker": None, "child_pid": None}
                event = {"status": "queued", "reason": "worker_lost", "worker": worker}
            result = session.execute(update(JobRow).where(*guard).values(**values))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                _end_attempt(session, job_id, attempts, "lost")
                add_event(session, job_id, "status", event)
                if values["status"] == "queued":
                    requeued.append(job_id)
    return requeued


def stale_cutoff(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)
