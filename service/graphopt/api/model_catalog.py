"""Models: upload (stream, dedup, sandboxed validation, store), lookup, deletion, graph export."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from fastapi import Request
from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from graphopt.api.deps import Services
from graphopt.api.errors import ApiError, not_found
from graphopt.api.metrics import UPLOAD_BYTES
from graphopt.api.uploads import ReceivedFile, receive_file
from graphopt.jobs.sandbox import Limits, failure_error, run_sandboxed
from graphopt.jobs.workspace import expose, safe_filename, scratch
from graphopt.store.blobs import BlobRef
from graphopt.store.jobs import TERMINAL
from graphopt.store.models import ArtifactRow, JobRow, ModelRow, new_id

GraphFormat = Literal["node-link", "graphml"]
SIZE_LIMIT_STATUS = {"initializers_too_large": 413, "too_many_nodes": 422}
"""HTTP status of the engine's size-limit codes (other engine codes: 422)."""


def visible(services: Services, tenant: str) -> bool:
    """Whether the caller may see a resource of ``tenant`` (its own, or any as admin)."""
    caller = services.caller
    return caller.admin or caller.tenant == tenant


def _validation_limits(services: Services) -> Limits:
    settings = services.settings
    return Limits(
        memory_bytes=settings.job_memory_bytes,
        cpu_s=max(1, int(settings.validation_timeout_s)),
        wall_s=settings.validation_timeout_s,
    )


def _describe(services: Services, received: ReceivedFile) -> dict:
    """Validate the uploaded file in the sandbox; 422 with the engine's code when invalid."""
    with scratch(services.settings.work_dir, "inspect-") as workdir:
        target = workdir / safe_filename(received.filename)
        os.link(received.path, target)
        outcome = run_sandboxed(
            "graphopt.jobs.child:describe_model",
            {
                "path": str(target),
                "max_nodes": services.settings.max_model_nodes,
                "max_initializer_bytes": services.settings.max_initializer_bytes,
            },
            _validation_limits(services),
        )
    if outcome.status != "ok":
        error = failure_error(outcome)
        raise ApiError.from_error(error, SIZE_LIMIT_STATUS.get(error["code"], 422))
    description: dict = outcome.value
    return description


def find_by_sha(services: Services, sha256: str) -> ModelRow | None:
    """The caller's tenant's model with this content (dedup never crosses tenants)."""
    tenant = services.caller.tenant
    with services.db.session() as session:
        return session.scalars(
            select(ModelRow).where(ModelRow.sha256 == sha256, ModelRow.tenant == tenant)
        ).first()


async def upload(services: Services, request: Request) -> tuple[ModelRow, bool]:
    """Receive, deduplicate, validate and store an upload; ``(model, created)``."""
    settings = services.settings
    received = await receive_file(
        request, "file", settings.work_dir / "uploads", settings.max_upload_bytes
    )
    UPLOAD_BYTES.inc(received.size_bytes)
    try:
        existing = await run_in_threadpool(find_by_sha, services, received.sha256)
        if existing is not None:
            return existing, False
        description = await run_in_threadpool(_describe, services, received)
        return await run_in_threadpool(_register, services, received, description)
    finally:
        received.path.unlink(missing_ok=True)


def _register(
    services: Services, received: ReceivedFile, description: dict
) -> tuple[ModelRow, bool]:
    services.blobs.put_file(received.path, BlobRef(received.sha256, received.size_bytes))
    row = ModelRow(
        id=new_id("mdl"),
        tenant=services.caller.tenant,
        sha256=received.sha256,
        size_bytes=received.size_bytes,
        filename=safe_filename(received.filename),
        kind=description["kind"],
        info={**description["info"], "warnings": description["warnings"]},
        stats=description["stats"],
    )
    try:
        with services.db.session() as session:
            session.add(row)
    except IntegrityError:  # the same content was registered concurrently
        existing = find_by_sha(services, received.sha256)
        if existing is None:
            raise
        return existing, False
    return row, True


def get(services: Services, model_id: str) -> ModelRow:
    with services.db.session() as session:
        row = session.get(ModelRow, model_id)
    if row is None or not visible(services, row.tenant):
        raise not_found("model", model_id)
    return row


def list_models(services: Services, limit: int, offset: int) -> list[ModelRow]:
    query = select(ModelRow).order_by(ModelRow.created_at.desc()).limit(limit).offset(offset)
    if not services.caller.admin:
        query = query.where(ModelRow.tenant == services.caller.tenant)
    with services.db.session() as session:
        return list(session.scalars(query))


def file_path(services: Services, model_id: str) -> tuple[Path, str]:
    row = get(services, model_id)
    return services.blobs.local_path(row.sha256), row.filename


def delete_model(services: Services, model_id: str) -> None:
    """Delete a model, its finished jobs and their artifacts; 409 while a job is active."""
    with services.db.session() as session:
        row = session.get(ModelRow, model_id)
        if row is None or not visible(services, row.tenant):
            raise not_found("model", model_id)
        active = session.scalar(
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.model_id == model_id, JobRow.status.not_in(TERMINAL))
        )
        if active:
            raise ApiError(
                409,
                "model_in_use",
                f"Model {model_id!r} has {active} queued or running job(s); cancel them first.",
                {"active_jobs": active},
            )
        digests = {row.sha256}
        digests.update(
            session.scalars(
                select(ArtifactRow.sha256).join(JobRow).where(JobRow.model_id == model_id)
            )
        )
        session.execute(delete(JobRow).where(JobRow.model_id == model_id))
        session.delete(row)
    for sha256 in digests:
        _release_blob(services, sha256)


def _release_blob(services: Services, sha256: str) -> None:
    """Delete a blob no row references any more."""
    with services.db.session() as session:
        used = session.scalar(
            select(
                exists().where(ModelRow.sha256 == sha256)
                | exists().where(ArtifactRow.sha256 == sha256)
            )
        )
    if not used:
        services.blobs.delete(sha256)


def export_graph(services: Services, model_id: str, fmt: GraphFormat, output: Path) -> None:
    """Write the model's graph view to ``output`` (sandboxed)."""
    row = get(services, model_id)
    with scratch(services.settings.work_dir, "graph-") as workdir:
        source = expose(services.blobs, row.sha256, workdir, row.filename)
        outcome = run_sandboxed(
            "graphopt.jobs.child:export_graph",
            {"path": str(source), "format": fmt, "output": str(output)},
            _validation_limits(services),
        )
    if outcome.status != "ok":
        raise ApiError.from_error(failure_error(outcome))
