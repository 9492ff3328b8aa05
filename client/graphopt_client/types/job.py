"""The job resource (``/v1/jobs``): status, progress, error, artifacts, summary.

Times: ``duration_ms`` and every ``*_ms`` summary field are milliseconds; ``size`` is bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from graphopt_client.types._base import APIObject

if TYPE_CHECKING:
    from graphopt_client.resources.jobs import AsyncJobs, Jobs
    from graphopt_client.types.event import Event
    from graphopt_client.types.report import Report

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class JobProgress(APIObject):
    """Where a running job is: ``stage``, a message, ``fraction`` in [0, 1] when known."""

    stage: str
    message: str = ""
    fraction: float | None = None
    current_pass: str | None = None


class ErrorInfo(APIObject):
    """A stable machine-readable ``code``, a message for people, and details."""

    code: str
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Artifact(APIObject):
    """A file a finished job produced; ``url`` is relative to the server's base URL."""

    name: str
    size: int
    url: str


class JobSummary(APIObject):
    """A finished job's headline numbers (all fields optional: older or failed jobs)."""

    nodes_before: int | None = None
    nodes_after: int | None = None
    params_before: int | None = None
    params_after: int | None = None
    macs_before: int | None = None
    macs_after: int | None = None
    verification: str | None = None
    verification_passed: bool | None = None
    rolled_back: list[str] = Field(default_factory=list)
    engine_ms: float | None = None
    wall_ms: float | None = None
    latency_p50_ms_before: float | None = None
    latency_p50_ms_after: float | None = None


class WorkerRef(APIObject):
    """The worker process that ran an attempt: its machine and process id."""

    host: str | None = None
    pid: int | None = None


class JobAttempt(APIObject):
    """One run of a job; ``outcome`` is None while it runs, then ``succeeded``,
    ``failed``, ``cancelled`` or ``lost`` (the worker vanished and another one took over)."""

    worker: WorkerRef = Field(default_factory=WorkerRef)
    started: datetime | None = None
    finished: datetime | None = None
    outcome: str | None = None


class JobData(APIObject):
    """The fields of a job as the server returns them."""

    id: str
    model_id: str
    status: JobStatus
    pipeline: str | list[str]
    options: dict[str, Any] = Field(default_factory=dict)
    progress: JobProgress | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    attempts: list[JobAttempt] = Field(default_factory=list)
    cancel_requested: bool = False
    error: ErrorInfo | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    summary: JobSummary | None = None

    @field_validator("attempts", mode="before")
    @classmethod
    def _attempt_count(cls, value: Any) -> Any:
        """Older servers send a count: that many attempts with nothing else known."""
        if isinstance(value, int) and not isinstance(value, bool):
            return [{} for _ in range(max(0, value))]
        return value

    @property
    def attempt_count(self) -> int:
        """How many times a worker started the job."""
        return len(self.attempts)

    @property
    def done(self) -> bool:
        """Whether the job reached a terminal status (succeeded, failed or cancelled)."""
        return self.status in TERMINAL_STATUSES

    def artifact(self, name: str) -> Artifact | None:
        """The artifact called ``name``, or None."""
        return next((a for a in self.artifacts if a.name == name), None)


class Job(JobData):
    """A job bound to the client that fetched it: ``wait``, ``events``, ``cancel``,
    ``report``, ``download``. Methods that fetch the job update this object in place."""

    _jobs: Jobs | None = PrivateAttr(default=None)

    def _bind(self, jobs: Jobs) -> Job:
        self._jobs = jobs
        return self

    def _resource(self) -> Jobs:
        if self._jobs is None:
            raise RuntimeError("this Job is not bound to a client; use client.jobs.get(id)")
        return self._jobs

    def _update(self, fresh: JobData) -> Job:
        for name in JobData.model_fields:
            setattr(self, name, getattr(fresh, name))
        self.__pydantic_extra__ = dict(fresh.__pydantic_extra__ or {})
        return self

    def refresh(self) -> Job:
        """Fetch the job's current state."""
        return self._update(self._resource().get(self.id))

    def wait(
        self, timeout: float | None = None, *, progress: bool = False, poll_interval_s: float = 1.0
    ) -> Job:
        """Follow the job until it ends (see :meth:`Jobs.wait`); returns this job, updated."""
        return self._update(
            self._resource().wait(
                self.id, timeout=timeout, progress=progress, poll_interval_s=poll_interval_s
            )
        )

    def events(self, *, last_event_id: str | None = None) -> Iterator[Event]:
        """The job's events, oldest first, until its terminal event (see :meth:`Jobs.events`)."""
        return self._resource().events(self.id, last_event_id=last_event_id)

    def cancel(self) -> Job:
        """Ask the server to cancel the job (see :meth:`Jobs.cancel`)."""
        return self._update(self._resource().cancel(self.id))

    def report(self) -> Report:
        """The typed optimization report of a succeeded job."""
        return self._resource().report(self.id)

    def download(
        self,
        dest_dir: str | Path,
        *,
        names: Iterable[str] | None = None,
        progress: bool = False,
    ) -> dict[str, Path]:
        """Stream the artifacts (all, or ``names``) into ``dest_dir``; name -> path."""
        return self._resource().download(self, dest_dir, names=names, progress=progress)


class AsyncJob(JobData):
    """The async twin of :class:`Job` (bound to an :class:`~graphopt_client.AsyncClient`)."""

    _jobs: AsyncJobs | None = PrivateAttr(default=None)

    def _bind(self, jobs: AsyncJobs) -> AsyncJob:
        self._jobs = jobs
        return self

    def _resource(self) -> AsyncJobs:
        if self._jobs is None:
            raise RuntimeError("this AsyncJob is not bound to a client; use client.jobs.get(id)")
        return self._jobs

    def _update(self, fresh: JobData) -> AsyncJob:
        for name in JobData.model_fields:
            setattr(self, name, getattr(fresh, name))
        self.__pydantic_extra__ = dict(fresh.__pydantic_extra__ or {})
        return self

    async def refresh(self) -> AsyncJob:
        """See :meth:`Job.refresh`."""
        return self._update(await self._resource().get(self.id))

    async def wait(
        self, timeout: float | None = None, *, progress: bool = False, poll_interval_s: float = 1.0
    ) -> AsyncJob:
        """See :meth:`Job.wait`."""
        fresh = await self._resource().wait(
            self.id, timeout=timeout, progress=progress, poll_interval_s=poll_interval_s
        )
        return self._update(fresh)

    def events(self, *, last_event_id: str | None = None) -> AsyncIterator[Event]:
        """See :meth:`Job.events`."""
        return self._resource().events(self.id, last_event_id=last_event_id)

    async def cancel(self) -> AsyncJob:
        """See :meth:`Job.cancel`."""
        return self._update(await self._resource().cancel(self.id))

    async def report(self) -> Report:
        """See :meth:`Job.report`."""
        return await self._resource().report(self.id)

    async def download(
        self,
        dest_dir: str | Path,
        *,
        names: Iterable[str] | None = None,
        progress: bool = False,
    ) -> dict[str, Path]:
        """See :meth:`Job.download`."""
        return await self._resource().download(self, dest_dir, names=names, progress=progress)
