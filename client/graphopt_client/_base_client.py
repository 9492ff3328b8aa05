"""The one place that decides timeouts, retries and backoff, for the sync and async clients.

Retry contract (:class:`RetryPolicy`):

* 429 and 503 are retried for every request (the server refused before doing any work),
  waiting ``Retry-After`` (seconds or an HTTP date, capped at ``max_retry_after_s``) when
  the answer carries it;
* 408, 500, 502 and 504, timeouts and broken connections are retried only for *safe*
  requests: GET/HEAD/OPTIONS/PUT/DELETE, or requests carrying an ``Idempotency-Key``
  (job creation always does, so a retried POST never makes two jobs), or requests the
  caller marks idempotent (content-addressed uploads);
* a connection that could not be opened is retried for every request (nothing was sent);
* a download whose body breaks off is resumed where it stopped with a ``Range`` request
  (started over when the server answers the whole file again), up to ``max_retries`` times;
* otherwise the wait is exponential, ``initial_delay_s * 2**attempt`` capped at
  ``max_delay_s``, with jitter: a uniform draw in ``[wait/2, wait]``.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from graphopt_client._exceptions import (
    APIConnectionError,
    APITimeoutError,
    error_from_response,
)
from graphopt_client._files import partial_file
from graphopt_client._progress import transfer_progress
from graphopt_client._version import __version__

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_RETRIES = 3
IDEMPOTENCY_HEADER = "Idempotency-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ALWAYS_RETRIED = frozenset({429, 503})
RETRIED_WHEN_SAFE = frozenset({408, 500, 502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to retry (seconds)."""

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0

    def should_retry(
        self,
        attempt: int,
        request: httpx.Request,
        *,
        response: httpx.Response | None = None,
        error: httpx.TransportError | None = None,
        idempotent: bool = False,
    ) -> bool:
        """Whether attempt number ``attempt`` (0-based) that ended so may be tried again."""
        if attempt >= self.max_retries:
            return False
        safe = idempotent or request.method in SAFE_METHODS or IDEMPOTENCY_HEADER in request.headers
        if response is not None:
            status = response.status_code
            return status in ALWAYS_RETRIED or (safe and status in RETRIED_WHEN_SAFE)
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return True
        return safe and error is not None

    def delay_s(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before retrying after attempt ``attempt`` (0-based)."""
        retry_after = _retry_after_s(response.headers) if response is not None else None
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after_s:
            return retry_after
        ceiling = min(self.initial_delay_s * 2**attempt, self.max_delay_s)
        return random.uniform(ceiling / 2, ceiling)


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date), or None."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": f"graphopt-client/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _content_length(response: httpx.Response) -> int | None:
    return int(response.headers.get("content-length", 0)) or None


def _resume_headers(written: int) -> dict[str, str]:
    return {"Range": f"bytes={written}-"}


def _connection_error(error: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    kind = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
    return kind(f"{request.method} {request.url}: {type(error).__name__}: {error}", request=request)


class SyncAPIClient:
    """Sends requests with the retry policy; raises typed errors for error answers."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        http_client: httpx.Client | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = RetryPolicy(max_retries=max_retries)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = http_client or httpx.Client(timeout=self.timeout)
        self._http.base_url = httpx.URL(self.base_url)
        self._http.headers.update(_headers(api_key))

    def request(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        idempotent: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; a 2xx response (streaming: the caller must close it) or raise."""
        request = self._http.build_request(method, path, **kwargs)
        attempt = 0
        while True:
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                if not self.retry.should_retry(
                    attempt, request, error=error, idempotent=idempotent
                ):
                    raise _connection_error(error, request) from error
                time.sleep(self.retry.delay_s(attempt))
                attempt += 1
                continue
            if response.is_success:
                return response
            response.read()
            response.close()
            if not self.retry.should_retry(
                attempt, request, response=response, idempotent=idempotent
            ):
                raise error_from_response(response)
            time.sleep(self.retry.delay_s(attempt, response))
            attempt += 1

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and decode the JSON body."""
        return self.request(method, path, **kwargs).json()

    def download(self, path: str, destination: Path, *, progress: bool = False) -> Path:
        """Stream ``GET path`` to ``destination`` (atomically, resuming broken bodies)."""
        response = self.request("GET", path, stream=True)
        label = f"download {destination.name}"
        with (
            transfer_progress(label, _content_length(response), progress) as bar,
            partial_file(destination) as sink,
        ):
            written = attempt = 0
            while True:
                try:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                        written += len(chunk)
                        bar(len(chunk))
                    break
                except httpx.TransportError as error:
                    if attempt >= self.retry.max_retries:
                        raise _connection_error(error, response.request) from error
                finally:
                    response.close()
                time.sleep(self.retry.delay_s(attempt))
                attempt += 1
                response = self.request("GET", path, stream=True, headers=_resume_headers(written))
                if response.status_code != 206:  # the whole file again: start over
                    sink.seek(0)
                    sink.truncate()
                    bar(-written)
                    written = 0
        return destination

    def close(self) -> None:
        self._http.close()


class AsyncAPIClient:
    """The async twin of :class:`SyncAPIClient` (same policy, ``asyncio.sleep``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        http_client: httpx.AsyncClient | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = RetryPolicy(max_retries=max_retries)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout)
        self._http.base_url = httpx.URL(self.base_url)
        self._http.headers.update(_headers(api_key))

    async def request(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        idempotent: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; a 2xx response (streaming: the caller must close it) or raise."""
        request = self._http.build_request(method, path, **kwargs)
        attempt = 0
        while True:
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                if not self.retry.should_retry(
                    attempt, request, error=error, idempotent=idempotent
                ):
                    raise _connection_error(error, request) from error
                await asyncio.sleep(self.retry.delay_s(attempt))
                attempt += 1
                continue
            if response.is_success:
                return response
            await response.aread()
            await response.aclose()
            if not self.retry.should_retry(
                attempt, request, response=response, idempotent=idempotent
            ):
                raise error_from_response(response)
            await asyncio.sleep(self.retry.delay_s(attempt, response))
            attempt += 1

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and decode the JSON body."""
        return (await self.request(method, path, **kwargs)).json()

    async def download(self, path: str, destination: Path, *, progress: bool = False) -> Path:
        """See :meth:`SyncAPIClient.download`."""
        response = await self.request("GET", path, stream=True)
        label = f"download {destination.name}"
        with (
            transfer_progress(label, _content_length(response), progress) as bar,
            partial_file(destination) as sink,
        ):
            written = attempt = 0
            while True:
                try:
                    async for chunk in response.aiter_bytes():
                        sink.write(chunk)
                        written += len(chunk)
                        bar(len(chunk))
                    break
                except httpx.TransportError as error:
                    if attempt >= self.retry.max_retries:
                        raise _connection_error(error, response.request) from error
                finally:
                    await response.aclose()
                await asyncio.sleep(self.retry.delay_s(attempt))
                attempt += 1
                response = await self.request(
                    "GET", path, stream=True, headers=_resume_headers(written)
                )
                if response.status_code != 206:  # the whole file again: start over
                    sink.seek(0)
                    sink.truncate()
                    bar(-written)
                    written = 0
        return destination

    async def close(self) -> None:
        await self._http.aclose()
