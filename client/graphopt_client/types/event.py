"""One job event from ``GET /v1/jobs/{id}/events`` (server-sent events)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from graphopt_client.types._base import APIObject
from graphopt_client.types.job import TERMINAL_STATUSES, ErrorInfo, JobProgress


class Event(APIObject):
    """A state (``type == "status"``) or progress (``"progress"``) change of a job.

    ``id`` orders a job's events and is what ``Last-Event-ID`` resumes from.
    """

    id: int | None = None
    type: str
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def status(self) -> str | None:
        """The new status of a status event, else None."""
        value = self.data.get("status") if self.type == "status" else None
        return value if isinstance(value, str) else None

    @property
    def terminal(self) -> bool:
        """Whether this event ends the job (a status event with a terminal status)."""
        return self.status in TERMINAL_STATUSES

    @property
    def progress(self) -> JobProgress | None:
        """The progress carried by a progress event, else None."""
        if self.type != "progress" or "stage" not in self.data:
            return None
        return JobProgress.model_validate(self.data)

    @property
    def error(self) -> ErrorInfo | None:
        """The error of a ``failed`` status event, else None."""
        raw = self.data.get("error")
        return ErrorInfo.model_validate(raw) if isinstance(raw, dict) else None
