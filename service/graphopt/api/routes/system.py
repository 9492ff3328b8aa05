"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from graphopt.api import metrics
from graphopt.api.deps import Services, ServicesDep
from graphopt.api.errors import ApiError

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check(services: Services) -> dict[str, str]:
    checks: dict[str, str] = {}
    for name, probe in (
        ("database", services.db.ping),
        ("blobs", services.blobs.check),
        ("queue", services.queue.depth),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"{type(exc).__name__}: {exc}"
    return checks


@router.get(
    "/readyz",
    summary="Readiness: database, blob store and queue usable",
    responses={503: {"description": "a dependency is not usable"}},
)
async def readyz(services: ServicesDep) -> dict[str, object]:
    checks = await run_in_threadpool(_check, services)
    if any(value != "ok" for value in checks.values()):
        raise ApiError(503, "not_ready", "A dependency is not usable.", {"checks": checks})
    return {"status": "ok", "checks": checks}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics() -> Response:
    body = await run_in_threadpool(metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
