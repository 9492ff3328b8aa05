"""Server-sent events of a job, read from its event log (resumable with Last-Event-ID)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from graphopt.api.deps import Services
from graphopt.store import jobs as job_store
from graphopt.store.models import JobRow

POLL_S = 0.1


def _is_over(services: Services, job_id: str) -> bool:
    """Whether the job ended (or was deleted with its model)."""
    with services.db.session() as session:
        status = session.scalar(select(JobRow.status).where(JobRow.id == job_id))
    return status is None or status in job_store.TERMINAL


async def stream(services: Services, job_id: str, after: int) -> AsyncIterator[dict[str, Any]]:
    """Events after id ``after``, as they are logged, until the job's terminal event.

    Each event's ``id`` is its log id, ``event`` its type (``status`` or ``progress``) and
    ``data`` a JSON object with ``job_id``, ``at`` (ISO time) and the event's fields.
    """
    while True:
        # The status is read first: a job that is over by then has its terminal event logged
        # (same transaction), so the read below cannot miss it.
        over = await run_in_threadpool(_is_over, services, job_id)
        events = await run_in_threadpool(job_store.events_after, services.db, job_id, after)
        for event in events:
            after = event.id
            yield {
                "id": str(event.id),
                "event": event.type,
                "data": json.dumps(
                    {"job_id": job_id, "at": event.created_at.isoformat(), **event.data}
                ),
            }
            if event.type == "status" and event.data.get("status") in job_store.TERMINAL:
                return
        if over and not events:
            return
        await asyncio.sleep(POLL_S)
