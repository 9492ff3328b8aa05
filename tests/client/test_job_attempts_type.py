"""The job's ``attempts``: a list of runs from this server, a count from older ones."""

from __future__ import annotations

from graphopt_client.types import JobAttempt, JobData

BASE = {
    "id": "job_1",
    "model_id": "mdl_1",
    "status": "succeeded",
    "pipeline": "default",
    "created_at": "2026-01-01T00:00:00Z",
}


def test_attempts_are_typed_runs() -> None:
    job = JobData.model_validate(
        {
            **BASE,
            "attempts": [
                {
                    "worker": {"host": "node-a", "pid": 41},
                    "started": "2026-01-01T00:00:01Z",
                    "finished": "2026-01-01T00:00:02Z",
                    "outcome": "lost",
                },
                {
                    "worker": {"host": "node-b", "pid": 7},
                    "started": "2026-01-01T00:00:05Z",
                    "finished": None,
                    "outcome": None,
                    "new_field": 1,
                },
            ],
        }
    )
    assert job.attempt_count == 2
    first, second = job.attempts
    assert isinstance(first, JobAttempt) and first.worker.host == "node-a"
    assert first.worker.pid == 41 and first.outcome == "lost"
    assert second.finished is None and second.outcome is None
    assert second.model_extra == {"new_field": 1}


def test_an_older_server_s_attempt_count_still_parses() -> None:
    job = JobData.model_validate({**BASE, "attempts": 2})
    assert job.attempt_count == 2
    assert all(attempt.worker.host is None for attempt in job.attempts)
    assert JobData.model_validate(BASE).attempts == []
