"""Recover jobs whose worker vanished, and queued jobs the queue may not hold.

A job is lost when its worker is known dead (same host, process gone) or its heartbeat is
older than ``heartbeat_timeout_s`` (a worker on another machine). Lost jobs are re-queued
up to ``max_attempts`` runs, then fail with ``worker_lost``
(:func:`graphopt.store.jobs.reap_lost`). Queued jobs that the queue lost (a Redis restart)
are enqueued again (:func:`requeue_missing`).

The reaper runs in ``graphopt serve``'s worker pool, and as :class:`ReaperThread` in every
``graphopt worker`` and ``graphopt serve --no-worker`` process: each transition is a guarded
update, so any number of reapers on any machines can run at once.
"""

from __future__ import annotations

import logging
import os
import threading

from graphopt.jobs.queue import JobQueue
from graphopt.settings import Settings
from graphopt.store import jobs as job_store
from graphopt.store.db import Database

log = logging.getLogger(__name__)


def worker_alive(worker: str, node: str) -> bool | None:
    """True/False for a ``host:pid`` worker on this node; None when it lives elsewhere."""
    host, _, pid = worker.rpartition(":")
    if host != node or not pid.isdigit():
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
    node = settings.resolved_node_name
    requeued = job_store.reap_lost(
        db,
        stale_before=job_store.stale_cutoff(settings.heartbeat_timeout_s),
        worker_alive=lambda worker: worker_alive(worker, node),
        max_attempts=settings.max_attempts,
    )
    for job_id in requeued:
        queue.enqueue(job_id)
    return requeued


def requeue_missing(
    db: Database, queue: JobQueue, settings: Settings, suspects: set[str] | None = None
) -> list[str]:
    """Enqueue again the queued jobs older than ``requeue_after_s`` the queue does not hold.

    With ``suspects`` (kept by the caller between calls) a job must be missing at two
    consecutive calls: a worker that has just dequeued a job but not claimed it yet is not
    mistaken for a loss. A duplicate message would be harmless anyway (only one worker
    can claim a queued job).
    """
    candidates = job_store.queued_ids(
        db, created_before=job_store.stale_cutoff(settings.requeue_after_s)
    )
    if not candidates:
        if suspects is not None:
            suspects.clear()
        return []
    pending = queue.pending_job_ids()
    missing = [job_id for job_id in candidates if job_id not in pending]
    if suspects is not None:
        confirmed = [job_id for job_id in missing if job_id in suspects]
        suspects.clear()
        suspects.update(job_id for job_id in missing if job_id not in confirmed)
        missing = confirmed
    for job_id in missing:
        queue.enqueue(job_id)
    return missing


def resume(db: Database, queue: JobQueue, settings: Settings) -> int:
    """At start-up: re-queue lost jobs and enqueue every queued job again.

    Enqueuing twice is harmless (a worker only runs a job it can claim from ``queued``),
    and it guarantees that no queued job is stranded if the queue lost its message.
    """
    reap(db, queue, settings)
    queued = job_store.queued_ids(db)
    try:
        pending = queue.pending_job_ids()
    except Exception:  # the queue is unreachable: enqueue() logs, the reaper retries later
        pending = set()
    missing = [job_id for job_id in queued if job_id not in pending]
    for job_id in missing:
        queue.enqueue(job_id)
    return len(missing)


def sweep(
    db: Database, queue: JobQueue, settings: Settings, suspects: set[str] | None = None
) -> None:
    """One reaper pass: lost jobs, then queued jobs missing from the queue (logged)."""
    requeued = reap(db, queue, settings)
    if requeued:
        log.warning("re-queued job(s) whose worker was lost: %s", ", ".join(requeued))
    missing = requeue_missing(db, queue, settings, suspects)
    if missing:
        log.warning("enqueued again job(s) the queue had lost: %s", ", ".join(missing))


class ReaperThread:
    """Runs :func:`sweep` every ``reaper_interval_s`` in a daemon thread."""

    def __init__(self, settings: Settings, db: Database, queue: JobQueue) -> None:
        self.settings = settings
        self.db = db
        self.queue = queue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reaper", daemon=True)
        self._suspects: set[str] = set()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.reaper_interval_s):
            try:
                sweep(self.db, self.queue, self.settings, self._suspects)
            except Exception:
                log.exception("the reaper failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
