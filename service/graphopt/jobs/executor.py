"""Run one claimed job: sandboxed optimization, heartbeats, cancellation, artifacts.

Contract of :func:`execute`: the job is claimed atomically (a job that is not ``queued``
is skipped); the engine runs in a limited child (:mod:`.sandbox`); progress goes to the job
row and its event log; every ``heartbeat_s`` the worker records a heartbeat and checks for
a cancel request (then the child is killed and the job ends ``cancelled``); the heartbeat
runs in a thread for the whole attempt (:class:`Heartbeat`). The job always
ends in a terminal state unless the reaper took it over (the worker lost its claim) or
the worker is shutting down (the job is left ``running`` for the reaper to re-queue).
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphopt.jobs import sandbox
from graphopt.jobs.sandbox import Limits, SandboxOutcome, failure_error, run_sandboxed
from graphopt.jobs.workspace import expose, scratch
from graphopt.settings import Settings
from graphopt.store import jobs as job_store
from graphopt.store.blobs import BlobStore, digest_file
from graphopt.store.db import Database

log = logging.getLogger(__name__)

OPTIMIZE_TARGET = "graphopt.jobs.child:optimize_model"
STOP_TIMEOUT_S = 10.0

ARTIFACT_NAMES = (
    "optimized.onnx",
    "optimized.onnx.data",
    "report.json",
    "ort_profile_original.json",
    "ort_profile_optimized.json",
    "memory_plan.json",
    "memory_timeline.png",
    "op_latency.png",
)


def worker_id(node: str | None = None) -> str:
    """``host:pid`` of this process, as stored in ``jobs.worker`` (host: ``node`` if given)."""
    return f"{node or socket.gethostname()}:{os.getpid()}"


@dataclass
class JobRuntime:
    """What a worker process needs to run jobs."""

    settings: Settings
    db: Database
    blobs: BlobStore

    def limits(self, job: dict[str, Any]) -> Limits:
        """The server's limits, tightened by the job's own ``timeout_s``/``memory_bytes``."""
        settings = self.settings
        return Limits(
            memory_bytes=min(settings.job_memory_bytes, job.get("memory_bytes") or 1 << 62),
            cpu_s=settings.job_cpu_s,
            wall_s=min(settings.job_timeout_s, job.get("timeout_s") or float("inf")),
        )


def execute(runtime: JobRuntime, job_id: str) -> str | None:
    """Run job ``job_id`` if it is still queued; return its final status (None: skipped)."""
    worker = worker_id(runtime.settings.resolved_node_name)
    claimed = job_store.claim(runtime.db, job_id, worker)
    if claimed is None:
        return None
    beat = Heartbeat(runtime, job_id, worker)
    beat.start()
    try:
        return _run_claimed(runtime, claimed, worker, beat)
    finally:
        beat.stop()


class Heartbeat:
    """Records the worker's heartbeat every ``heartbeat_s`` in a thread of its own, for the
    whole attempt: downloading the model, running the sandbox, storing the artifacts (long
    transfers from and to object storage included). ``verdict`` is the last answer:
    ``run``, ``cancel`` (a cancel request) or ``lost`` (the reaper gave the job away)."""

    def __init__(self, runtime: JobRuntime, job_id: str, worker: str) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.worker = worker
        self.verdict = "run"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.runtime.settings.heartbeat_s):
            try:
                self.verdict = job_store.heartbeat(self.runtime.db, self.job_id, self.worker)
            except Exception as exc:  # the database is unreachable: keep trying
                log.warning("heartbeat of job %s failed: %s", self.job_id, exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_TIMEOUT_S)  # a hung database call must not hang us


def _run_claimed(
    runtime: JobRuntime, claimed: job_store.ClaimedJob, worker: str, beat: Heartbeat
) -> str | None:
    job_id = claimed.id

    def on_tick() -> bool:
        return beat.verdict == "run"

    def on_message(progress: dict[str, Any]) -> None:
        job_store.record_progress(runtime.db, job_id, worker, progress)

    with scratch(runtime.settings.work_dir, f"{job_id}-") as workdir:
        try:
            source = expose(
                runtime.blobs, claimed.model_sha256, workdir / "input", claimed.model_filename
            )
        except Exception as exc:  # the blob store lost it, or is unreachable after retries
            log.warning("job %s: the model could not be fetched: %s", job_id, exc)
            error = {
                "code": "model_unavailable",
                "message": "The job's model could not be read from the blob store.",
                "detail": {"reason": f"{type(exc).__name__}: {exc}"},
            }
            job_store.finish(runtime.db, job_id, worker, "failed", error=error)
            return "failed"
        output_dir = workdir / "output"
        output_dir.mkdir()
        payload = {
            "path": str(source),
            "workdir": str(output_dir),
            "options": {**claimed.options, "pipeline": claimed.pipeline["value"]},
        }
        outcome = run_sandboxed(
            OPTIMIZE_TARGET,
            payload,
            runtime.limits(claimed.limits),
            on_message=on_message,
            on_start=lambda pid: job_store.set_child(runtime.db, job_id, pid),
            on_tick=on_tick,
            tick_s=runtime.settings.heartbeat_s,
        )
        return _conclude(runtime, job_id, worker, outcome, output_dir, beat.verdict)


def _conclude(
    runtime: JobRuntime,
    job_id: str,
    worker: str,
    outcome: SandboxOutcome,
    output_dir: Path,
    verdict: str,
) -> str | None:
    if outcome.status != "ok" and sandbox.stopping():
        return None  # this worker is shutting down: the reaper re-queues the job
    if outcome.status == "stopped":
        if verdict == "lost":  # the reaper gave the job to someone else
            return None
        job_store.finish(runtime.db, job_id, worker, "cancelled")
        return "cancelled"
    if outcome.status != "ok":
        error = failure_error(outcome)
        log.warning("job %s failed: %s", job_id, error["message"])
        job_store.finish(runtime.db, job_id, worker, "failed", error=error)
        return "failed"
    artifacts = list(_store_artifacts(runtime.blobs, output_dir))
    summary = {**outcome.value, "wall_ms": outcome.wall_ms}
    if not job_store.finish(
        runtime.db, job_id, worker, "succeeded", summary=summary, artifacts=artifacts
    ):
        return None
    return "succeeded"


def _store_artifacts(blobs: BlobStore, output_dir: Path) -> list[job_store.NewArtifact]:
    stored = []
    for name in ARTIFACT_NAMES:
        path = output_dir / name
        if not path.is_file():
            continue
        ref = digest_file(path)
        blobs.put_file(path, ref)
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        stored.append(job_store.NewArtifact(name, ref.sha256, ref.size_bytes, media_type))
    return stored
