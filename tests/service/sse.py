"""A minimal server-sent-events reader over httpx (what a browser's EventSource does)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    id: int
    event: str
    data: dict[str, Any]


def follow(
    client: httpx.Client, job_id: str, last_event_id: int | None = None, timeout: float = 60
) -> list[Event]:
    """Read /v1/jobs/{id}/events until the server ends the stream."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    events: list[Event] = []
    fields: dict[str, str] = {}
    with client.stream(
        "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout
    ) as response:
        response.raise_for_status()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line == "":
                if "data" in fields:
                    events.append(
                        Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                    )
                fields = {}
                continue
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")
    return events
