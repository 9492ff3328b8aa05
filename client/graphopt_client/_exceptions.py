"""Typed errors. Every non-2xx answer becomes an :class:`APIStatusError` subclass carrying
the server's stable ``code``, its ``message`` and ``detail`` (``{"error": {...}}`` body)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from graphopt_client.types.job import JobData


class GraphoptClientError(Exception):
    """Base of every error this package raises."""


class APIConnectionError(GraphoptClientError):
    """The server could not be reached or the connection broke (after retries)."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out (after retries)."""


class APIStatusError(GraphoptClientError):
    """The server answered with an error status; ``code`` is its stable error code."""

    status_code: int

    def __init__(
        self,
        response: httpx.Response,
        *,
        code: str,
        message: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{response.status_code} {code}: {message}")
        self.response = response
        self.status_code = response.status_code
        self.code = code
        self.message = message
        self.detail = detail or {}


class BadRequestError(APIStatusError):
    """400: the request is malformed (e.g. a broken multipart body)."""


class AuthenticationError(APIStatusError):
    """401: missing or wrong API key."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such model, job or artifact."""


class ConflictError(APIStatusError):
    """409: the resource's state forbids it (e.g. deleting a model with active jobs)."""


class PayloadTooLargeError(APIStatusError):
    """413: the upload exceeds the server's size cap."""


class UnsupportedMediaTypeError(APIStatusError):
    """415: the body has the wrong content type."""


class UnprocessableEntityError(APIStatusError):
    """422: invalid request fields (``invalid_request``) or an invalid model (engine code)."""


class RateLimitError(APIStatusError):
    """429: too many requests (retried with Retry-After before this is raised)."""


class InternalServerError(APIStatusError):
    """5xx: the server failed (retried for safe requests before this is raised)."""


class ServiceUnavailableError(InternalServerError):
    """503: the server is not ready or overloaded."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The typed error for an error ``response`` whose body has been read.

    Uses ``{"error": {"code", "message", "detail"}}`` when the body has it, else
    ``code = "http_<status>"`` and the body text (or reason phrase) as the message.
    """
    code, message = f"http_{response.status_code}", ""
    detail: dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code = error["code"]
        message = str(error.get("message", ""))
        raw_detail = error.get("detail")
        detail = raw_detail if isinstance(raw_detail, dict) else {}
    else:
        message = response.text.strip()[:500] or response.reason_phrase
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    return cls(response, code=code, message=message, detail=detail)


class JobError(GraphoptClientError):
    """A job did not succeed; ``job`` is its final state."""

    def __init__(self, job: JobData, message: str) -> None:
        super().__init__(message)
        self.job = job


class JobFailedError(JobError):
    """The job ended ``failed``; ``code``/``message`` are the server's job error."""

    def __init__(self, job: JobData) -> None:
        error = job.error
        self.code = error.code if error else "unknown"
        self.message = error.message if error else "the job failed without an error record"
        self.detail = error.detail if error else {}
        super().__init__(job, f"job {job.id} failed: {self.code}: {self.message}")


class JobCancelledError(JobError):
    """The job ended ``cancelled``."""

    def __init__(self, job: JobData) -> None:
        super().__init__(job, f"job {job.id} was cancelled")


class WaitTimeoutError(GraphoptClientError):
    """``wait(timeout=...)`` ran out before the job ended; ``job`` is its last known state."""

    def __init__(self, job: JobData, timeout_s: float) -> None:
        super().__init__(f"job {job.id} still {job.status} after {timeout_s:g} s")
        self.job = job
        self.timeout_s = timeout_s
