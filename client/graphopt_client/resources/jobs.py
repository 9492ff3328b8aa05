"""``client.jobs``: create (with an Idempotency-Key), get, list, cancel, follow events
(SSE, resumable, falling back to polling), wait, report, and streamed artifact downloads."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from graphopt_client._base_client import AsyncAPIClient, SyncAPIClient
from graphopt_client._exceptions import APIConnectionError, APIStatusError, WaitTimeoutError
from graphopt_client._progress import job_progress
from graphopt_client._sse import aiter_sse, iter_sse
from graphopt_client.resources._job_requests import (
    EventsUnavailable,
    artifact_path,
    check_event_stream,
    create_body,
    create_headers,
    events_headers,
    events_route_missing,
    job_id,
    list_params,
    to_event,
)
from graphopt_client.resources.models import ModelRef
from graphopt_client.types.event import Event
from graphopt_client.types.job import AsyncJob, Job, JobData, JobStatus
from graphopt_client.types.report import Report

JobRef = str | JobData
"""A job id or a job object."""


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _read_timeout(api_timeout: httpx.Timeout, deadline: float | None) -> httpx.Timeout:
    """The stream's timeout: the client's, but reads never outlive the wait's deadline."""
    read = api_timeout.read
    if deadline is not None:
        remaining = max(deadline - time.monotonic(), 0.001)
        read = remaining if read is None else min(read, remaining)
    return httpx.Timeout(api_timeout.connect, read=read, write=api_timeout.write, pool=None)


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


class Jobs:
    """The ``/v1/jobs`` resource."""

    def __init__(self, api: SyncAPIClient) -> None:
        self._api = api

    def _job(self, body: Any) -> Job:
        return Job.model_validate(body)._bind(self)

    def create(
        self,
        model: ModelRef,
        *,
        pipeline: str | list[str] = "default",
        input_shapes: dict[str, list[int]] | None = None,
        target: str | None = None,
        verify: bool | dict[str, Any] | None = None,
        profile: bool | dict[str, Any] | None = None,
        pass_options: dict[str, dict[str, Any]] | None = None,
        prune: dict[str, Any] | None = None,
        memory: bool | dict[str, Any] | None = None,
        select: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        """Queue an optimization of ``model``; options left None take the server's defaults.

        ``pipeline`` is a preset name or a list of pass names; ``verify``/``profile`` are
        booleans or option objects (``{"runs": 100, "session": {...}}``); further keyword
        options are sent as they are. One ``Idempotency-Key`` (yours or a fresh UUID) is
        sent with every retry, so a retried request never creates a second job.
        """
        all_options = {
            "input_shapes": input_shapes,
            "target": target,
            "verify": verify,
            "profile": profile,
            "pass_options": pass_options,
            "prune": prune,
            "memory": memory,
            "select": select,
            **options,
        }
        body = self._api.json(
            "POST",
            "/v1/jobs",
            json=create_body(model, pipeline, all_options),
            headers=create_headers(idempotency_key),
        )
        return self._job(body)

    def get(self, job: JobRef) -> Job:
        """The job's current state."""
        return self._job(self._api.json("GET", f"/v1/jobs/{job_id(job)}"))

    def list(
        self,
        *,
        status: JobStatus | None = None,
        model: ModelRef | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> builtins.list[Job]:
        """Jobs, newest first, optionally only one status or one model's."""
        body = self._api.json("GET", "/v1/jobs", params=list_params(status, model, limit, offset))
        return [self._job(item) for item in body["data"]]

    def cancel(self, job: JobRef) -> Job:
        """Cancel: a queued job at once, a running one within a heartbeat (its process is
        killed). Cancelling a finished job changes nothing. Returns the state after the call."""
        return self._job(self._api.json("POST", f"/v1/jobs/{job_id(job)}/cancel", idempotent=True))

    def events(
        self, job: JobRef, *, last_event_id: str | None = None, timeout: float | None = None
    ) -> Iterator[Event]:
        """The job's events after ``last_event_id`` (all when None), until its terminal event.

        A dropped connection is resumed with ``Last-Event-ID`` (no event is lost or
        repeated). Raises :class:`WaitTimeoutError` after ``timeout`` seconds, and
        :class:`EventsUnavailable` when the server has no event stream for it.
        """
        jid, deadline, last = job_id(job), _deadline(timeout), last_event_id
        idle = 0  # connections in a row that brought no event
        while True:
            broken: httpx.TransportError | None = None
            try:
                response = self._api.request(
                    "GET",
                    f"/v1/jobs/{jid}/events",
                    stream=True,
                    headers=events_headers(last),
                    timeout=_read_timeout(self._api.timeout, deadline),
                )
            except APIStatusError as error:
                if events_route_missing(error):
                    self.get(jid)  # raises NotFoundError when the job itself is missing
                    raise EventsUnavailable(str(error)) from error
                raise
            try:
                check_event_stream(response)
                for sse in iter_sse(response.iter_lines()):
                    event = to_event(sse)
                    if event is None:
                        continue
                    last, idle = sse.id or last, 0
                    yield event
                    if event.terminal:
                        return
            except httpx.TransportError as error:
                if _expired(deadline):
                    raise WaitTimeoutError(self.get(jid), timeout or 0.0) from error
                broken = error
            finally:
                response.close()
            if _expired(deadline):
                raise WaitTimeoutError(self.get(jid), timeout or 0.0)
            idle += 1
            if broken is None and idle > 1 and (self.get(jid)).done:
                return  # ended, and a replay brought no terminal event: nothing more to come
            if idle > self._api.retry.max_retries + 1:
                raise APIConnectionError(f"the event stream of {jid} keeps ending: {broken}")
            time.sleep(self._api.retry.delay_s(idle - 1))

    def wait(
        self,
        job: JobRef,
        *,
        timeout: float | None = None,
        progress: bool = False,
        poll_interval_s: float = 1.0,
    ) -> Job:
        """Block until the job ends; its final state (whatever the status).

        Follows the event stream (live per-pass progress on stderr with ``progress=True``)
        and polls every ``poll_interval_s`` when the server streams no events. Raises
        :class:`WaitTimeoutError` after ``timeout`` seconds.
        """
        jid, deadline = job_id(job), _deadline(timeout)
        with job_progress(jid, progress) as display:
            try:
                for event in self.events(jid, timeout=timeout):
                    if display is not None:
                        display.show_event(event)
            except EventsUnavailable:
                while not (current := self.get(jid)).done:
                    if display is not None:
                        display.show_job(current)
                    if _expired(deadline):
                        raise WaitTimeoutError(current, timeout or 0.0) from None
                    time.sleep(poll_interval_s)
        return self.get(jid)

    def report(self, job: JobRef) -> Report:
        """The typed report (``report.json``) of a succeeded job."""
        response = self._api.request("GET", artifact_path(job, "report.json"))
        return Report.model_validate_json(response.content)

    def download_artifact(
        self, job: JobRef, name: str, destination: str | Path, *, progress: bool = False
    ) -> Path:
        """Stream one artifact to ``destination`` (written atomically); returns it."""
        return self._api.download(artifact_path(job, name), Path(destination), progress=progress)

    def download(
        self,
        job: JobRef,
        dest_dir: str | Path,
        *,
        names: Iterable[str] | None = None,
        progress: bool = False,
    ) -> dict[str, Path]:
        """Stream the job's artifacts (all, or ``names``) into ``dest_dir``; name -> path."""
        current = job if isinstance(job, JobData) and job.done else self.get(job)
        wanted = None if names is None else set(names)
        return {
            artifact.name: self.download_artifact(
                current, artifact.name, Path(dest_dir) / artifact.name, progress=progress
            )
            for artifact in current.artifacts
            if wanted is None or artifact.name in wanted
        }


class AsyncJobs:
    """The async twin of :class:`Jobs`."""

    def __init__(self, api: AsyncAPIClient) -> None:
        self._api = api

    def _job(self, body: Any) -> AsyncJob:
        return AsyncJob.model_validate(body)._bind(self)

    async def create(
        self,
        model: ModelRef,
        *,
        pipeline: str | list[str] = "default",
        input_shapes: dict[str, list[int]] | None = None,
        target: str | None = None,
        verify: bool | dict[str, Any] | None = None,
        profile: bool | dict[str, Any] | None = None,
        pass_options: dict[str, dict[str, Any]] | None = None,
        prune: dict[str, Any] | None = None,
        memory: bool | dict[str, Any] | None = None,
        select: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> AsyncJob:
        """See :meth:`Jobs.create`."""
        all_options = {
            "input_shapes": input_shapes,
            "target": target,
            "verify": verify,
            "profile": profile,
            "pass_options": pass_options,
            "prune": prune,
            "memory": memory,
            "select": select,
            **options,
        }
        body = await self._api.json(
            "POST",
            "/v1/jobs",
            json=create_body(model, pipeline, all_options),
            headers=create_headers(idempotency_key),
        )
        return self._job(body)

    async def get(self, job: JobRef) -> AsyncJob:
        """See :meth:`Jobs.get`."""
        return self._job(await self._api.json("GET", f"/v1/jobs/{job_id(job)}"))

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        model: ModelRef | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> builtins.list[AsyncJob]:
        """See :meth:`Jobs.list`."""
        body = await self._api.json(
            "GET", "/v1/jobs", params=list_params(status, model, limit, offset)
        )
        return [self._job(item) for item in body["data"]]

    async def cancel(self, job: JobRef) -> AsyncJob:
        """See :meth:`Jobs.cancel`."""
        body = await self._api.json("POST", f"/v1/jobs/{job_id(job)}/cancel", idempotent=True)
        return self._job(body)

    async def events(
        self, job: JobRef, *, last_event_id: str | None = None, timeout: float | None = None
    ) -> AsyncIterator[Event]:
        """See :meth:`Jobs.events`."""
        jid, deadline, last = job_id(job), _deadline(timeout), last_event_id
        idle = 0  # connections in a row that brought no event
        while True:
            broken: httpx.TransportError | None = None
            try:
                response = await self._api.request(
                    "GET",
                    f"/v1/jobs/{jid}/events",
                    stream=True,
                    headers=events_headers(last),
                    timeout=_read_timeout(self._api.timeout, deadline),
                )
            except APIStatusError as error:
                if events_route_missing(error):
                    await self.get(jid)
                    raise EventsUnavailable(str(error)) from error
                raise
            try:
                check_event_stream(response)
                async for sse in aiter_sse(response.aiter_lines()):
                    event = to_event(sse)
                    if event is None:
                        continue
                    last, idle = sse.id or last, 0
                    yield event
                    if event.terminal:
                        return
            except httpx.TransportError as error:
                if _expired(deadline):
                    raise WaitTimeoutError(await self.get(jid), timeout or 0.0) from error
                broken = error
            finally:
                await response.aclose()
            if _expired(deadline):
                raise WaitTimeoutError(await self.get(jid), timeout or 0.0)
            idle += 1
            if broken is None and idle > 1 and (await self.get(jid)).done:
                return  # ended, and a replay brought no terminal event: nothing more to come
            if idle > self._api.retry.max_retries + 1:
                raise APIConnectionError(f"the event stream of {jid} keeps ending: {broken}")
            await asyncio.sleep(self._api.retry.delay_s(idle - 1))

    async def wait(
        self,
        job: JobRef,
        *,
        timeout: float | None = None,
        progress: bool = False,
        poll_interval_s: float = 1.0,
    ) -> AsyncJob:
        """See :meth:`Jobs.wait`."""
        jid, deadline = job_id(job), _deadline(timeout)
        with job_progress(jid, progress) as display:
            try:
                async for event in self.events(jid, timeout=timeout):
                    if display is not None:
                        display.show_event(event)
            except EventsUnavailable:
                while not (current := await self.get(jid)).done:
                    if display is not None:
                        display.show_job(current)
                    if _expired(deadline):
                        raise WaitTimeoutError(current, timeout or 0.0) from None
                    await asyncio.sleep(poll_interval_s)
        return await self.get(jid)

    async def report(self, job: JobRef) -> Report:
        """See :meth:`Jobs.report`."""
        response = await self._api.request("GET", artifact_path(job, "report.json"))
        return Report.model_validate_json(response.content)

    async def download_artifact(
        self, job: JobRef, name: str, destination: str | Path, *, progress: bool = False
    ) -> Path:
        """See :meth:`Jobs.download_artifact`."""
        return await self._api.download(
            artifact_path(job, name), Path(destination), progress=progress
        )

    async def download(
        self,
        job: JobRef,
        dest_dir: str | Path,
        *,
        names: Iterable[str] | None = None,
        progress: bool = False,
    ) -> dict[str, Path]:
        """See :meth:`Jobs.download`."""
        current = job if isinstance(job, JobData) and job.done else await self.get(job)
        wanted = None if names is None else set(names)
        paths: dict[str, Path] = {}
        for artifact in current.artifacts:
            if wanted is None or artifact.name in wanted:
                paths[artifact.name] = await self.download_artifact(
                    current, artifact.name, Path(dest_dir) / artifact.name, progress=progress
                )
        return paths
