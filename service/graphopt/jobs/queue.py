"""The job queue: Huey carries job ids only; the job's state lives in the database.

The embedded default is a ``SqliteHuey`` file under the data directory, shared by the API
process (which enqueues) and the worker processes (which consume).
"""

from __future__ import annotations

from collections.abc import Callable

from huey import Huey, SqliteHuey

from graphopt.settings import Settings

TASK_NAME = "graphopt.run_job"


class JobQueue:
    """Enqueue job ids; in a worker, ``handler`` runs each dequeued id."""

    def __init__(self, settings: Settings, handler: Callable[[str], object] | None = None):
        self.huey: Huey = SqliteHuey(
            name="graphopt", filename=str(settings.queue_path), results=False, utc=True
        )
        self._handler = handler

        def run_job(job_id: str) -> None:
            if self._handler is None:
                raise RuntimeError("this queue has no job handler (not a worker process)")
            self._handler(job_id)

        self._task = self.huey.task(retries=0, name=TASK_NAME)(run_job)

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def depth(self) -> int:
        """Messages waiting in the queue."""
        return int(self.huey.pending_count())
