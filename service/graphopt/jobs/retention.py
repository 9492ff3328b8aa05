"""Artifact retention: the artifacts of jobs finished more than ``artifact_ttl_s`` ago are
deleted (rows, then blobs no row references any more). The job itself stays, with no
artifacts. Run periodically by ``serve``
(:class:`graphopt.jobs.supervisor.WorkerPool`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update

from graphopt.store.blobs import BlobStore
from graphopt.store.db import Database
from graphopt.store.jobs import TERMINAL
from graphopt.store.models import ArtifactRow, JobRow, ModelRow, utcnow

log = logging.getLogger(__name__)

BATCH = 500


def expire_artifacts(
    db: Database, blobs: BlobStore, ttl_s: float, *, now: datetime | None = None
) -> int:
    """Delete the artifacts of jobs that finished before ``now - ttl_s``; count of jobs."""
    cutoff = (now or utcnow()) - timedelta(seconds=ttl_s)
    with db.session() as session:
        expired = list(
            session.scalars(
                select(JobRow.id)
                .where(
                    JobRow.status.in_(TERMINAL),
                    JobRow.finished_at < cutoff,
                    exists().where(ArtifactRow.job_id == JobRow.id),
                )
                .limit(BATCH)
            )
        )
        if not expired:
            return 0
        digests = set(
            session.scalars(select(ArtifactRow.sha256).where(ArtifactRow.job_id.in_(expired)))
        )
        session.execute(delete(ArtifactRow).where(ArtifactRow.job_id.in_(expired)))
        session.execute(
            update(JobRow).where(JobRow.id.in_(expired)).values(revision=JobRow.revision + 1)
        )
    for sha256 in digests:
        with db.session() as session:
            used = session.scalar(
                select(
                    exists().where(ModelRow.sha256 == sha256)
                    | exists().where(ArtifactRow.sha256 == sha256)
                )
            )
        if not used:
            blobs.delete(sha256)
    log.info("expired the artifacts of %d job(s)", len(expired))
    return len(expired)


class RetentionTimer:
    """Runs :func:`expire_artifacts` at most every ``settings.cleanup_interval_s``."""

    def __init__(self, db: Database, blobs: BlobStore, ttl_s: float | None, interval_s: float):
        self.db, self.blobs, self.ttl_s, self.interval_s = db, blobs, ttl_s, interval_s
        self._next = 0.0

    def tick(self, monotonic_now: float) -> int:
        if self.ttl_s is None or monotonic_now < self._next:
            return 0
        self._next = monotonic_now + self.interval_s
        return expire_artifacts(self.db, self.blobs, self.ttl_s)
