"""The FastAPI application: routers, error bodies, offline Swagger UI and ReDoc."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from graphopt import __version__
from graphopt.api import metrics, offline_docs
from graphopt.api.auth import authenticate
from graphopt.api.deps import Services
from graphopt.api.errors import install_handlers
from graphopt.api.routes import jobs, models, system
from graphopt.jobs.queue import JobQueue
from graphopt.jobs.sandbox import warm_up
from graphopt.settings import Settings
from graphopt.store.blobs import open_blob_store
from graphopt.store.db import Database

DESCRIPTION = """
Upload ONNX models, run optimization jobs (fusion, pruning, memory planning, verified
against the original with onnxruntime), follow them live, download the optimized model,
its report and onnxruntime profiles. Every error answer is
`{"error": {"code", "message", "detail"}}`; see docs/api.md.
"""


def build_services(settings: Settings) -> Services:
    settings.prepare()
    db = Database(settings.resolved_database_url)
    if settings.migrate_on_start:
        db.create_schema()
    return Services(settings, db, open_blob_store(settings), JobQueue(settings))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (default: from the ``GRAPHOPT_*`` environment)."""
    services = build_services(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        collector = metrics.install_job_collector(services.db, services.queue)
        await run_in_threadpool(warm_up)  # upload validation starts fast from the first one
        try:
            yield
        finally:
            metrics.REGISTRY.unregister(collector)
            services.db.dispose()

    app = FastAPIOffline(
        redoc_url=None,  # offline_docs serves /redoc (a bundle that loads nothing remote)
        title="graphopt",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "models", "description": "Uploaded ONNX models"},
            {"name": "jobs", "description": "Optimization jobs and their artifacts"},
            {"name": "system", "description": "Health, readiness, metrics"},
        ],
    )
    app.state.services = services
    install_handlers(app)
    # Every model and job route names its caller's tenant (401 without a key when required).
    app.include_router(models.router, dependencies=[Depends(authenticate)])
    app.include_router(jobs.router, dependencies=[Depends(authenticate)])
    app.include_router(system.router)
    offline_docs.install_redoc(app)
    return app
