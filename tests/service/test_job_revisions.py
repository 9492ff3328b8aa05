"""Job revisions and the API's cache of job bodies: every change a client can see bumps the
row's revision, and ``GET /v1/jobs/{id}`` never answers an older body than the database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from service_models import model_row

from graphopt.api import job_catalog
from graphopt.api.deps import Principal, Services
from graphopt.api.errors import ApiError
from graphopt.api.job_bodies import JobBodies
from graphopt.api.schemas import JobResource
from graphopt.jobs.retention import expire_artifacts
from graphopt.settings import Settings
from graphopt.store import jobs as job_store
from graphopt.store.blobs import open_blob_store
from graphopt.store.db import Database
from graphopt.store.models import JobRow, utcnow

WORKER = "test-host:1"


@pytest.fixture
def services(tmp_path: Path) -> Services:
    settings = Settings(data_dir=tmp_path / "data")
    settings.prepare()
    db = Database(settings.resolved_database_url)
    db.create_schema()
    with db.session() as session:
        session.add(model_row())
        session.add(
            JobRow(
                id="job_1",
                model_id="model_1",
                pipeline={"value": "default"},
                options={},
                request_sha256="0" * 64,
            )
        )
    return Services(
        settings,
        db,
        open_blob_store(settings),
        queue=None,  # type: ignore[arg-type]
        principal=Principal("default", admin=True),
    )


def _revision(services: Services) -> int:
    head = job_store.read_head(services.db, "job_1")
    assert head is not None
    return int(head.revision)


def _shown(services: Services) -> JobResource:
    return JobResource.model_validate_json(job_catalog.body(services, "job_1"))


def test_every_visible_change_bumps_the_revision_and_the_body_follows(
    services: Services,
) -> None:
    db = services.db
    seen = [_revision(services)]
    assert _shown(services).status == "queued"

    def step() -> JobResource:
        seen.append(_revision(services))
        assert seen[-1] > seen[-2], seen
        return _shown(services)

    assert job_store.claim(db, "job_1", WORKER) is not None
    shown = step()
    assert shown.status == "running" and len(shown.attempts) == 1
    job_store.record_progress(db, "job_1", WORKER, {"stage": "passes", "fraction": 0.5})
    assert step().progress is not None
    job_store.cancel(db, "job_1")
    assert step().cancel_requested
    artifact = job_store.NewArtifact("report.json", "1" * 64, 2, "application/json")
    assert job_store.finish(db, "job_1", WORKER, "succeeded", artifacts=[artifact])
    shown = step()
    assert shown.status == "succeeded"
    assert [a.name for a in shown.artifacts] == ["report.json"]
    assert shown.attempts[0].outcome == "succeeded"
    assert expire_artifacts(db, services.blobs, 0, now=utcnow() + timedelta(seconds=1)) == 1
    assert step().artifacts == []


def test_unchanged_jobs_are_served_from_the_cache(services: Services) -> None:
    first = job_catalog.body(services, "job_1")
    assert services.job_bodies.get("job_1", _revision(services)) == first
    assert job_catalog.body(services, "job_1") is first  # not read and serialized again


def test_another_tenants_job_is_not_found_even_when_cached(services: Services) -> None:
    job_catalog.body(services, "job_1")
    stranger = Services(
        services.settings,
        services.db,
        services.blobs,
        services.queue,
        job_bodies=services.job_bodies,
        principal=Principal("other"),
    )
    with pytest.raises(ApiError) as caught:
        job_catalog.body(stranger, "job_1")
    assert (caught.value.status_code, caught.value.code) == (404, "not_found")


def test_job_bodies_keep_the_most_recently_used() -> None:
    bodies = JobBodies(capacity=2)
    bodies.put("a", 1, b"a1")
    bodies.put("b", 1, b"b1")
    assert bodies.get("a", 1) == b"a1"  # "a" is now the most recent
    bodies.put("c", 1, b"c1")
    assert bodies.get("b", 1) is None
    assert bodies.get("a", 2) is None  # another revision
    assert bodies.get("a", 1) == b"a1" and bodies.get("c", 1) == b"c1"
