"""Recover jobs whose worker vanished, and queued jobs the queue may not hold.

A job is lost when its worker is known dead (same host, process gone) or its heartbeat is
older than ``heartbeat_timeout_s``. Lost jobs are re-queued up to ``max_attempts`` runs,
then fail with ``worker_lost`` (:func:`graphopt.store.jobs.reap_lost`).
"""

from __future__ import annotations

import os
import socket

from graphopt.jobs.queue import JobQueue
from graphopt.settings import Settings
from graphopt.store import jobs as job_store
from graphopt.store.db import Database


def worker_alive(worker: str) -> bool | None:
    """True/False for a ``host:pid`` worker on this host; None when it lives elsewhere."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(db: Database, queue: JobQueue, settings: Settings) -> list[str]:
    """Re-queue lost jobs; return their ids."""
    requeued = job_store.reap_lost(
        db,
        stale_before=job_store.stale_cutoff(settings.heartbeat_timeout_s),
        worker_alive=worker_alive,
        max_attempts=settings.max_attempts,
    )
    for job_id in requeued:
        queue.enqueue(job_id)
    return requeued


def resume(db: Database, queue: JobQueue, settings: Settings) -> int:
    """At start-up: re-queue lost jobs and enqueue every queued job again.

    Enqueuing twice is harmless (a worker only runs a job it can claim from ``queued``),
    and it guarantees that no queued job is stranded if the queue lost its message.
    """
    reap(db, queue, settings)
    queued = job_store.queued_ids(db)
    for job_id in queued:
        queue.enqueue(job_id)
    return len(queued)
