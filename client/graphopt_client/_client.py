"""The entry points: :class:`Client` and its async twin :class:`AsyncClient`.

``base_url`` defaults to ``$GRAPHOPT_SERVER`` (else ``http://127.0.0.1:8000``) and
``api_key`` to ``$GRAPHOPT_API_KEY``; ``timeout`` is seconds per request (or an
``httpx.Timeout``); ``max_retries`` bounds the retries of :class:`RetryPolicy`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from graphopt_client._base_client import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncAPIClient,
    SyncAPIClient,
)
from graphopt_client._files import UploadSource
from graphopt_client._optimize import (
    Result,
    check_succeeded,
    destinations,
    place_external_data,
)
from graphopt_client.resources.jobs import AsyncJobs, Jobs
from graphopt_client.resources.models import AsyncModels, Models
from graphopt_client.types.model import Model

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
SERVER_ENV = "GRAPHOPT_SERVER"
API_KEY_ENV = "GRAPHOPT_API_KEY"


def _base_url(base_url: str | None) -> str:
    return base_url or os.environ.get(SERVER_ENV) or DEFAULT_BASE_URL


def _api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get(API_KEY_ENV) or None


class Client:
    """A graphopt server: ``client.models``, ``client.jobs`` and one-shot :meth:`optimize`.

    Use it as a context manager (or call :meth:`close`) to release its connections.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._api = SyncAPIClient(
            _base_url(base_url),
            api_key=_api_key(api_key),
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )
        self.models = Models(self._api)
        self.jobs = Jobs(self._api)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    def optimize(
        self,
        model: UploadSource | Model,
        output: str | Path | None = None,
        *,
        artifacts_dir: str | Path | None = None,
        pipeline: str | list[str] = "default",
        progress: bool = False,
        timeout: float | None = None,
        **options: Any,
    ) -> Result:
        """Upload ``model`` (unless it is an uploaded :class:`Model`), optimize it, wait, and
        download the optimized model to ``output`` (see ``_optimize`` for where files go).

        ``options`` are those of :meth:`Jobs.create`. Raises :class:`JobFailedError` (with
        the server's code), :class:`JobCancelledError` or :class:`WaitTimeoutError`.
        """
        uploaded = (
            model if isinstance(model, Model) else self.models.upload(model, progress=progress)
        )
        job = self.jobs.create(uploaded, pipeline=pipeline, **options)
        job.wait(timeout, progress=progress)
        check_succeeded(job)
        report = job.report()
        files = {
            name: self.jobs.download_artifact(job, name, path, progress=progress)
            for name, path in destinations(job, output, artifacts_dir).items()
        }
        place_external_data(files)
        return Result(job=job, report=report, files=files)

    def close(self) -> None:
        """Close the connections."""
        self._api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient:
    """The async twin of :class:`Client` (``async with AsyncClient(...) as client``)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._api = AsyncAPIClient(
            _base_url(base_url),
            api_key=_api_key(api_key),
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )
        self.models = AsyncModels(self._api)
        self.jobs = AsyncJobs(self._api)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    async def optimize(
        self,
        model: UploadSource | Model,
        output: str | Path | None = None,
        *,
        artifacts_dir: str | Path | None = None,
        pipeline: str | list[str] = "default",
        progress: bool = False,
        timeout: float | None = None,
        **options: Any,
    ) -> Result:
        """See :meth:`Client.optimize`."""
        if isinstance(model, Model):
            uploaded = model
        else:
            uploaded = await self.models.upload(model, progress=progress)
        job = await self.jobs.create(uploaded, pipeline=pipeline, **options)
        await job.wait(timeout, progress=progress)
        check_succeeded(job)
        report = await job.report()
        files = {
            name: await self.jobs.download_artifact(job, name, path, progress=progress)
            for name, path in destinations(job, output, artifacts_dir).items()
        }
        place_external_data(files)
        return Result(job=job, report=report, files=files)

    async def close(self) -> None:
        """Close the connections."""
        await self._api.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
