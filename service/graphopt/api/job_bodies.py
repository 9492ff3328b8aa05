"""A bounded cache of serialized job resources, each valid for one revision of its row.

``GET /v1/jobs/{id}`` is what every polling client asks, mostly of jobs that did not change
since the last poll. The handler reads the row's ``revision`` (one indexed lookup), and only
when it differs from the cached one reads the job, its artifacts and attempts and serializes
them again. Every write to a job bumps the revision (see ``JobRow.revision``), so an answer
is never staler than the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class JobBodies:
    """Job id -> (revision, JSON body), the ``capacity`` most recently used; thread-safe."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str, revision: int) -> bytes | None:
        """The body of ``job_id`` at ``revision``, or None when not cached at that revision."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None or entry[0] != revision:
                return None
            self._entries.move_to_end(job_id)
            return entry[1]

    def put(self, job_id: str, revision: int, body: bytes) -> None:
        with self._lock:
            self._entries[job_id] = (revision, body)
            self._entries.move_to_end(job_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
