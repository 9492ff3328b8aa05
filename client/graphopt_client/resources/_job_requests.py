"""What the sync and async job resources share: request bodies, event decoding, fallback.

Kept free of I/O so that both twins build the same requests and read the same answers.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from graphopt_client._exceptions import APIStatusError
from graphopt_client._sse import ServerSentEvent
from graphopt_client.resources.models import ModelRef, model_id
from graphopt_client.types.event import Event
from graphopt_client.types.job import JobData

EVENT_STREAM = "text/event-stream"
NO_EVENT_ROUTE = frozenset({404, 405, 406, 501})
"""Answers to ``GET /events`` after which :meth:`wait` polls instead (404: only when the job
itself exists)."""


class EventsUnavailable(Exception):
    """The server does not stream events for this job; poll instead."""


def job_id(job: str | JobData) -> str:
    return job.id if isinstance(job, JobData) else job


def create_body(
    model: ModelRef, pipeline: str | list[str], options: dict[str, Any]
) -> dict[str, Any]:
    """The ``POST /v1/jobs`` body; options left at None are not sent (server defaults)."""
    return {
        "model_id": model_id(model),
        "pipeline": pipeline,
        "options": {k: v for k, v in options.items() if v is not None},
    }


def create_headers(idempotency_key: str | None) -> dict[str, str]:
    """``Idempotency-Key``: the caller's, or a fresh UUID4 reused by every retry."""
    return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}


def events_headers(last_event_id: str | None) -> dict[str, str]:
    headers = {"Accept": EVENT_STREAM, "Cache-Control": "no-cache"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


def check_event_stream(response: httpx.Response) -> None:
    """Raise :class:`EventsUnavailable` unless ``response`` is an event stream."""
    if not response.headers.get("content-type", "").startswith(EVENT_STREAM):
        raise EventsUnavailable(response.headers.get("content-type", ""))


def events_route_missing(error: APIStatusError) -> bool:
    """Whether an error from ``GET /events`` means "no event stream here" (see NO_EVENT_ROUTE)."""
    return error.status_code in NO_EVENT_ROUTE


def to_event(sse: ServerSentEvent) -> Event | None:
    """The job event in a server-sent event (None for data that is not a JSON object)."""
    try:
        data = json.loads(sse.data)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    event_id = int(sse.id) if sse.id is not None and sse.id.isdigit() else None
    return Event(id=event_id, type=sse.event, data=data)


def list_params(
    status: str | None, model: ModelRef | None, limit: int | None, offset: int | None
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "status": status,
        "model_id": model_id(model) if model is not None else None,
        "limit": limit,
        "offset": offset,
    }
    return {k: v for k, v in params.items() if v is not None}


def artifact_path(job: str | JobData, name: str) -> str:
    return f"/v1/jobs/{job_id(job)}/artifacts/{name}"
