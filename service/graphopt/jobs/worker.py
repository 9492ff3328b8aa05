"""A job worker process: a Huey consumer whose single task runs :func:`executor.execute`.

Started (and restarted when it dies) by ``graphopt serve``; also runnable on its own as
``graphopt worker`` (or ``python -m graphopt.jobs.worker``) with the same ``GRAPHOPT_*``
environment, on any machine sharing the queue, database and blob store: a worker on its
own migrates the database at start and runs a reaper thread. On SIGTERM or
SIGINT it kills its running job's sandboxed process and exits at once; the job stays
``running`` until a reaper sees this worker gone and re-queues it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from huey.consumer import Consumer

from graphopt.jobs import sandbox
from graphopt.jobs.confinement import confine_to_data_dir
from graphopt.jobs.executor import JobRuntime, execute
from graphopt.jobs.queue import JobQueue
from graphopt.jobs.reaper import ReaperThread
from graphopt.jobs.supervisor import SUPERVISOR_ENV, exit_now
from graphopt.settings import Settings
from graphopt.store.blobs import open_blob_store
from graphopt.store.db import Database

# How often an idle consumer looks at the queue (seconds): short, so pickup stays fast.
POLL_INITIAL_S = 0.05
POLL_MAX_S = 0.25


def run_worker(settings: Settings, *, standalone: bool = False) -> None:
    """Consume jobs until SIGTERM/SIGINT, then kill the running job's child and exit.

    ``standalone`` (not started by ``serve``): migrate the database first, and reap lost
    jobs and lost queue messages meanwhile (``serve`` does both for its own workers).
    """
    settings.prepare()
    confine_to_data_dir(settings)
    db = Database(settings.resolved_database_url)
    if standalone and settings.migrate_on_start:
        db.create_schema()
    runtime = JobRuntime(settings, db, open_blob_store(settings))
    queue = JobQueue(settings, handler=lambda job_id: execute(runtime, job_id))
    reaper = ReaperThread(settings, db, queue) if standalone else None
    if reaper is not None:
        reaper.start()
    sandbox.warm_up()
    consumer = Consumer(
        queue.huey,
        workers=1,
        worker_type="thread",
        periodic=False,
        initial_delay=POLL_INITIAL_S,
        backoff=1.2,
        max_delay=POLL_MAX_S,
    )
    try:
        consumer.run()
    finally:
        if reaper is not None:
            reaper.stop()
        sandbox.shut_down()
        db.dispose()
    exit_now()


def _follow_supervisor() -> None:
    """Exit when the ``serve`` process that started this worker exits."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor is None:
        return
    sandbox.die_with_parent(signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it exited before the line above
        sys.exit(0)


def main() -> None:
    _follow_supervisor()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s"
    )
    logging.getLogger("huey").setLevel(logging.WARNING)
    run_worker(Settings(), standalone=SUPERVISOR_ENV not in os.environ)


if __name__ == "__main__":
    main()
