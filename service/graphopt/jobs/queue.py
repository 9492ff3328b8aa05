"""The job queue: Huey carries job ids only; the job's state lives in the database.

The embedded default is a ``SqliteHuey`` file under the data directory, shared by the API
process (which enqueues) and the worker processes (which consume). With
``GRAPHOPT_QUEUE_URL=redis://...`` it is a ``RedisHuey`` shared by processes on any machine.

The queue may lose messages (a Redis restart without persistence, a worker dying between
dequeue and claim): the database is the source of truth, and the reaper enqueues again
every queued job the queue no longer holds (:func:`graphopt.jobs.reaper.requeue_missing`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from huey import Huey, RedisHuey, SqliteHuey

from graphopt.settings import Settings

log = logging.getLogger(__name__)

TASK_NAME = "graphopt.run_job"
REDIS_READ_TIMEOUT_S = 1


def make_huey(settings: Settings) -> Huey:
    """``RedisHuey`` for a ``redis://`` (or ``rediss://``, ``unix://``) URL, else ``SqliteHuey``."""
    url = settings.queue_url
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"GRAPHOPT_QUEUE_URL must be a redis:// URL, not {url!r}")
        return RedisHuey(
            name="graphopt",
            url=url,
            results=False,
            utc=True,
            blocking=True,
            read_timeout=REDIS_READ_TIMEOUT_S,
        )
    return SqliteHuey(name="graphopt", filename=str(settings.queue_path), results=False, utc=True)


class JobQueue:
    """Enqueue job ids; in a worker, ``handler`` runs each dequeued id."""

    def __init__(self, settings: Settings, handler: Callable[[str], object] | None = None):
        self.huey: Huey = make_huey(settings)
        self._handler = handler

        def run_job(job_id: str) -> None:
            if self._handler is None:
                raise RuntimeError("this queue has no job handler (not a worker process)")
            self._handler(job_id)

        self._task = self.huey.task(retries=0, name=TASK_NAME)(run_job)

    def enqueue(self, job_id: str) -> bool:
        """Put a job id in the queue; False (logged) when the queue is unreachable.

        The job is already stored as ``queued``: the reaper enqueues it once the queue is
        back, so an unreachable queue delays a job but never loses it.
        """
        try:
            self._task(job_id)
        except Exception as exc:
            log.warning("could not enqueue job %s (%s); the reaper will retry", job_id, exc)
            return False
        return True

    def depth(self) -> int:
        """Messages waiting in the queue."""
        return int(self.huey.pending_count())

    def pending_job_ids(self) -> set[str]:
        """The job ids of the messages waiting in the queue."""
        ids: set[str] = set()
        for data in self.huey.storage.enqueued_items():
            try:
                task = self.huey.deserialize_task(data)
            except Exception:  # a message of another kind or version: not ours to judge
                continue
            if task.name == TASK_NAME and task.args:
                ids.add(str(task.args[0]))
        return ids
