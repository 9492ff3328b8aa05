"""``/v1/jobs``: create, list, show, follow (SSE), cancel, download artifacts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import FileResponse, HTMLResponse
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from graphopt.api import events, job_catalog, job_page
from graphopt.api.deps import ServicesDep
from graphopt.api.errors import ApiError
from graphopt.api.schemas import ErrorBody, JobCreate, JobList, JobResource, JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}


def _resource(job_id: str, services: ServicesDep) -> JobResource:
    return JobResource.from_view(job_catalog.get(services, job_id))


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobResource,
    summary="Create an optimization job",
    description="Validates the pipeline and options against the engine's registry, stores "
    "the job and queues it. With an `Idempotency-Key` header a retried request answers the "
    "job the first one created (a different request with the same key gets 409).",
    responses={
        404: {"model": ErrorBody, "description": "no such model"},
        409: {"model": ErrorBody, "description": "Idempotency-Key reused for another request"},
        422: {"model": ErrorBody, "description": "unknown pass/pipeline or invalid options"},
        429: {
            "model": ErrorBody,
            "description": "too many queued or unfinished jobs (Retry-After)",
        },
    },
)
def create_job(
    body: JobCreate,
    response: Response,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobResource:
    job, _ = job_catalog.create(services, body, idempotency_key)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return _resource(job.id, services)


@router.get("", response_model=JobList, summary="List jobs, newest first")
def list_jobs(
    services: ServicesDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    model_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> JobList:
    rows = job_catalog.list_jobs(services, status_, model_id, limit, offset)
    return JobList(data=[JobResource.from_view(view) for view in rows])


@router.get("/{job_id}", response_model=JobResource, responses=NOT_FOUND, summary="Show a job")
async def get_job(job_id: str, services: ServicesDep) -> Response:
    # The hot path of every polling client: a cached body while the job is unchanged, read
    # on the event loop from SQLite (microseconds; a thread-pool hop per request costs more
    # under a burst) and through the thread pool from a networked database.
    if services.db.in_process:
        body = job_catalog.body(services, job_id)
    else:
        body = await run_in_threadpool(job_catalog.body, services, job_id)
    return Response(body, media_type="application/json")


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`status` and `progress` events; each `id` can resume the stream "
            "with `Last-Event-ID`; the stream ends after the terminal status event",
        },
        **NOT_FOUND,
    },
    summary="Follow a job with server-sent events",
)
def job_events(
    job_id: str,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    job_catalog.get(services, job_id)
    after = 0
    if last_event_id:
        if not last_event_id.isdigit():
            raise ApiError(422, "invalid_last_event_id", "Last-Event-ID must be an event id.")
        after = int(last_event_id)
    return EventSourceResponse(events.stream(services, job_id, after), ping=15)


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobResource,
    responses=NOT_FOUND,
    summary="Cancel a job",
    description="A queued job is cancelled at once; a running job's sandboxed process is "
    "killed by its worker within a heartbeat and the job ends `cancelled`. Cancelling a "
    "finished job changes nothing.",
)
def cancel_job(job_id: str, services: ServicesDep) -> JobResource:
    return JobResource.from_view(job_catalog.cancel(services, job_id))


@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    responses=NOT_FOUND,
    summary="Download an artifact",
    description="`optimized.onnx` (and `optimized.onnx.data` when it has external data), "
    "`report.json`, and with profiling `ort_profile_original.json` and "
    "`ort_profile_optimized.json` (Chrome traces, loadable in Perfetto) and `op_latency.png`, "
    "with memory planning `memory_plan.json` and `memory_timeline.png`.",
)
def download_artifact(job_id: str, name: str, services: ServicesDep) -> FileResponse:
    row = job_catalog.artifact(services, job_id, name)
    path = services.blobs.local_path(row.sha256)
    return FileResponse(path, filename=row.name, media_type=row.media_type)


@router.get(
    "/{job_id}/view",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, **NOT_FOUND},
    summary="A job's page (HTML)",
    description="What the job did at a glance: status, before/after statistics, the per-op "
    "latency chart, the memory timeline, the pass table, verification and download links. "
    "Self-contained (inline CSS, images inlined as data: URIs); a queued or running job's "
    "page reloads itself every 2 s.",
)
def job_view(job_id: str, services: ServicesDep) -> HTMLResponse:
    return HTMLResponse(job_page.render_job_page(services, job_id))
