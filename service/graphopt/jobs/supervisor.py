"""The worker pool of ``graphopt serve``: N worker processes, restarted when they die, and
the periodic reaper. Workers get the server's settings through ``GRAPHOPT_*`` variables.

Workers run in their own session (a terminal's Ctrl-C reaches only ``serve``, which then
stops them) and receive SIGTERM when ``serve`` dies (:data:`SUPERVISOR_ENV`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import NoReturn

from graphopt.jobs import reaper
from graphopt.jobs.queue import JobQueue
from graphopt.jobs.retention import RetentionTimer
from graphopt.settings import Settings
from graphopt.store.db import Database

log = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
SUPERVISOR_ENV = "GRAPHOPT_SUPERVISOR_PID"
"""The pid of ``serve``, given to its workers: they exit when it does."""


def settings_env(settings: Settings) -> dict[str, str]:
    """This process's environment with every setting as a ``GRAPHOPT_*`` variable."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"GRAPHOPT_{name.upper()}"] = str(value)
    env[SUPERVISOR_ENV] = str(os.getpid())
    return env


def exit_now(code: int = 0) -> NoReturn:
    """Exit without the interpreter's teardown (seconds of garbage collection over big
    module graphs): every resource was released explicitly before this call."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class WorkerPool:
    """Keeps ``settings.workers`` worker processes running; reaps lost jobs meanwhile."""

    def __init__(self, settings: Settings, db: Database, queue: JobQueue) -> None:
        self.settings = settings
        self.db = db
        self.queue = queue
        self.processes: list[subprocess.Popen[bytes]] = []
        self.size = settings.workers
        self._suspects: set[str] = set()  # queued jobs the queue seemed to miss last time
        """Worker processes to keep running; 0 (``serve --no-worker``): only reap."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-pool", daemon=True)
        self.retention: RetentionTimer | None = None
        """Set by ``serve``: expires old artifacts from the watch thread."""

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "graphopt.jobs.worker"],
            env=settings_env(self.settings),
            start_new_session=True,
        )

    def start(self) -> None:
        """Re-queue interrupted jobs, start the workers and the watch thread."""
        resumed = reaper.resume(self.db, self.queue, self.settings)
        if resumed:
            log.info("%d queued job(s) resumed", resumed)
        self.processes = [self._spawn() for _ in range(self.size)]
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_s):
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not self._stop.is_set():
                    log.warning(
                        "worker %d exited with %s; restarting it", process.pid, process.returncode
                    )
                    self.processes[index] = self._spawn()
            try:
                reaper.sweep(self.db, self.queue, self.settings, self._suspects)
            except Exception:
                log.exception("the reaper failed")
            if self.retention is not None:
                try:
                    self.retention.tick(time.monotonic())
                except Exception:
                    log.exception("artifact expiry failed")

    def stop(self) -> None:
        """SIGTERM every worker, then SIGKILL those still running after a grace period."""
        log.info("stopping %d worker(s)", len(self.processes))
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait()
        log.info("workers stopped")
