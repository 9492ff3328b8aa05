"""The container healthcheck: exit 0 when healthy, 1 otherwise (no curl in the image).

``GRAPHOPT_ROLE=api``: the API answers ``GET /readyz`` with 200. ``GRAPHOPT_ROLE=worker``:
the database, the queue and the blob store the worker uses all answer.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def check_api() -> None:
    port = os.environ.get("GRAPHOPT_PORT", "8000")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        if response.status != 200:
            raise RuntimeError(f"/readyz answered {response.status}")


def check_worker() -> None:
    from graphopt.jobs.queue import JobQueue
    from graphopt.settings import Settings
    from graphopt.store.blobs import open_blob_store
    from graphopt.store.db import Database

    settings = Settings()
    db = Database(settings.resolved_database_url)
    try:
        db.ping()
    finally:
        db.dispose()
    JobQueue(settings).depth()
    open_blob_store(settings).check()


def main() -> int:
    role = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GRAPHOPT_ROLE", "api")
    try:
        check_worker() if role == "worker" else check_api()
    except Exception as exc:
        print(f"unhealthy ({role}): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
