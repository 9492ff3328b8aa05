"""graphopt's Python client: talk to a ``graphopt serve`` server over HTTP.

    from graphopt_client import Client

    with Client("http://127.0.0.1:8000") as client:
        result = client.optimize("model.onnx", output="model.opt.onnx")

Installs and imports with httpx, pydantic and rich only (no onnx, onnxruntime, fastapi or
networkx). See docs/client.md.
"""

from graphopt_client._base_client import RetryPolicy
from graphopt_client._client import AsyncClient, Client
from graphopt_client._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GraphoptClientError,
    InternalServerError,
    JobCancelledError,
    JobError,
    JobFailedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    WaitTimeoutError,
)
from graphopt_client._optimize import Result
from graphopt_client._version import __version__
from graphopt_client.types import (
    Artifact,
    AsyncJob,
    ErrorInfo,
    Event,
    Job,
    JobProgress,
    JobSummary,
    Model,
    Report,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Artifact",
    "AsyncClient",
    "AsyncJob",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "ErrorInfo",
    "Event",
    "GraphoptClientError",
    "InternalServerError",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobProgress",
    "JobSummary",
    "Model",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "Report",
    "Result",
    "RetryPolicy",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "__version__",
]
