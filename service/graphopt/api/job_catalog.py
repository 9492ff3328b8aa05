"""Jobs: creation (options checked against the engine, idempotency keys), lookup, cancel."""

from __future__ import annotations

import hashlib
import math

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from graphopt.api.deps import Services
from graphopt.api.errors import ApiError, not_found
from graphopt.api.model_catalog import visible
from graphopt.api.schemas import JobCreate, JobLimits, JobResource
from graphopt.engine import OptimizeOptions, resolve_pipeline
from graphopt.engine.passes.registry import create_pass
from graphopt.store import jobs as job_store
from graphopt.store.jobs import JobView, add_event
from graphopt.store.models import ArtifactRow, JobRow, ModelRow, new_id


def engine_options(body: JobCreate) -> OptimizeOptions:
    """The engine's options for a job request; 422 with the engine's code when invalid."""
    try:
        options = OptimizeOptions.model_validate(body.options.engine_data(body.pipeline))
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ApiError(
            422, "invalid_options", "The job options are not valid.", {"errors": errors}
        ) from None
    resolve_pipeline(options)
    for name, values in options.pass_options.items():
        create_pass(name, values)
    return options


def _check_limits(services: Services, limits: JobLimits) -> None:
    settings = services.settings
    maxima = {"timeout_s": settings.job_timeout_s, "memory_bytes": settings.job_memory_bytes}
    for name, maximum in maxima.items():
        value = getattr(limits, name)
        if value is not None and value > maximum:
            raise ApiError(
                422,
                "limit_too_high",
                f"limits.{name} may not exceed the server's {maximum}.",
                {"limit": name, "maximum": maximum},
            )


def _check_shapes(model: ModelRow, shapes: dict[str, list[int]]) -> None:
    names = {spec["name"] for spec in model.info["inputs"]}
    unknown = sorted(set(shapes) - names)
    if unknown:
        raise ApiError(
            422,
            "invalid_input_shape",
            f"The model has no input named {unknown[0]!r}.",
            {"unknown": unknown, "inputs": sorted(names)},
        )


def _request_digest(body: JobCreate) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


RETRY_AFTER_DEFAULT_S = 5
RETRY_AFTER_MAX_S = 300


def _retry_after_s(services: Services, tenant: str) -> int:
    """Seconds until a slot is likely free: the mean duration of the tenant's last jobs."""
    with services.db.session() as session:
        durations = [
            d
            for d in session.scalars(
                select(JobRow.duration_ms)
                .where(JobRow.tenant == tenant, JobRow.duration_ms.is_not(None))
                .order_by(JobRow.finished_at.desc())
                .limit(20)
            )
            if d is not None
        ]
    if not durations:
        return RETRY_AFTER_DEFAULT_S
    mean_s = sum(durations) / len(durations) / 1000
    return max(1, min(RETRY_AFTER_MAX_S, math.ceil(mean_s)))


def _check_job_caps(services: Services, tenant: str) -> None:
    """429 with Retry-After when the tenant has too many queued or unfinished jobs."""
    settings = services.settings
    with services.db.session() as session:
        counts = dict(
            session.execute(
                select(JobRow.status, func.count())
                .where(JobRow.tenant == tenant, JobRow.status.in_(("queued", "running")))
                .group_by(JobRow.status)
            ).all()
        )
    queued, active = counts.get("queued", 0), sum(counts.values())
    for code, count, cap, what in (
        ("too_many_queued_jobs", queued, settings.max_queued_jobs, "queued"),
        ("too_many_active_jobs", active, settings.max_active_jobs, "queued or running"),
    ):
        if count >= cap:
            retry = _retry_after_s(services, tenant)
            raise ApiError(
                429,
                code,
                f"This tenant already has {count} {what} job(s), the most allowed; retry later.",
                {"count": count, "limit": cap, "retry_after_s": retry},
                headers={"Retry-After": str(retry)},
            )


def _by_key(services: Services, key: str, digest: str) -> JobRow | None:
    with services.db.session() as session:
        job = session.scalars(
            select(JobRow).where(
                JobRow.idempotency_key == key, JobRow.tenant == services.caller.tenant
            )
        ).first()
    if job is not None and job.request_sha256 != digest:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request.",
            {"job_id": job.id},
        )
    return job


def create(services: Services, body: JobCreate, idempotency_key: str | None) -> tuple[JobRow, bool]:
    """Create and enqueue a job; ``(job, created)`` (False: an idempotent replay)."""
    digest = _request_digest(body)
    if idempotency_key is not None:
        replay = _by_key(services, idempotency_key, digest)
        if replay is not None:
            return replay, False
    with services.db.session() as session:
        model = session.get(ModelRow, body.model_id)
    if model is None or not visible(services, model.tenant):
        raise not_found("model", body.model_id)
    options = engine_options(body)
    _check_shapes(model, options.input_shapes)
    _check_limits(services, body.limits)
    pipeline = resolve_pipeline(options)
    _check_job_caps(services, services.caller.tenant)
    job = JobRow(
        id=new_id("job"),
        tenant=services.caller.tenant,
        model_id=model.id,
        status="queued",
        pipeline={"value": body.pipeline, "name": pipeline.name, "passes": pipeline.pass_names()},
        options=options.model_dump(mode="json", exclude={"pipeline"}),
        limits=body.limits.model_dump(exclude_none=True),
        idempotency_key=idempotency_key,
        request_sha256=digest,
    )
    try:
        with services.db.session() as session:
            session.add(job)
            session.flush()
            add_event(session, job.id, "status", {"status": "queued"})
    except IntegrityError:
        if idempotency_key is None:
            raise
        replay = _by_key(services, idempotency_key, digest)
        if replay is None:
            raise
        return replay, False
    services.queue.enqueue(job.id)
    return job, True


def get(services: Services, job_id: str) -> JobView:
    """The job ``job_id`` as its caller may see it (404 ``not_found`` otherwise)."""
    view = job_store.read_view(services.db, job_id)
    if view is None or not visible(services, view.job.tenant):
        raise not_found("job", job_id)
    return view


def body(services: Services, job_id: str) -> bytes:
    """The JSON of :class:`JobResource` ``job_id`` (404 as :func:`get`), served from
    ``services.job_bodies`` while the job's row keeps its revision."""
    head = job_store.read_head(services.db, job_id)
    if head is None or not visible(services, head.tenant):
        raise not_found("job", job_id)
    cached = services.job_bodies.get(job_id, head.revision)
    if cached is not None:
        return cached
    view = get(services, job_id)
    serialized = JobResource.from_view(view).model_dump_json().encode()
    services.job_bodies.put(job_id, view.job.revision, serialized)
    return serialized


def list_jobs(
    services: Services, status: str | None, model_id: str | None, limit: int, offset: int
) -> list[JobView]:
    where = []
    if status is not None:
        where.append(JobRow.status == status)
    if model_id is not None:
        where.append(JobRow.model_id == model_id)
    if not services.caller.admin:
        where.append(JobRow.tenant == services.caller.tenant)
    return job_store.read_views(services.db, *where, limit=limit, offset=offset)


def cancel(services: Services, job_id: str) -> JobView:
    """Cancel a queued job now, or ask the worker of a running one to kill its child."""
    get(services, job_id)  # 404 for another tenant's job
    if job_store.cancel(services.db, job_id) is None:
        raise not_found("job", job_id)
    return get(services, job_id)


def artifact(services: Services, job_id: str, name: str) -> ArtifactRow:
    with services.db.session() as session:
        job = session.get(JobRow, job_id)
        if job is None or not visible(services, job.tenant):
            raise not_found("job", job_id)
        row = session.get(ArtifactRow, (job_id, name))
    if row is None:
        raise not_found("artifact", name)
    return row
