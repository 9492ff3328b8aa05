"""Shared dependencies: the settings, database, blob store and queue of the running app."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import Depends, Request

from graphopt.api.job_bodies import JobBodies
from graphopt.jobs.queue import JobQueue
from graphopt.settings import Settings
from graphopt.store.blobs import BlobStore
from graphopt.store.db import Database


@dataclass(frozen=True)
class Principal:
    """Who sent the request: its tenant, and whether it may see every tenant (admin)."""

    tenant: str
    admin: bool = False
    key_id: str | None = None


@dataclass
class Services:
    """Everything a request handler may use, created once per app (see app.lifespan)."""

    settings: Settings
    db: Database
    blobs: BlobStore
    queue: JobQueue
    job_bodies: JobBodies = field(default_factory=JobBodies)
    principal: Principal | None = None
    """Set per request on routes behind :func:`graphopt.api.auth.authenticate`."""

    @property
    def caller(self) -> Principal:
        """The authenticated caller; fails closed on a route without authentication."""
        if self.principal is None:
            raise RuntimeError("this route has no authenticate dependency")
        return self.principal


async def get_services(request: Request) -> Services:
    # async: no I/O here, so no hop through the thread pool on every request
    services: Services = request.app.state.services
    principal: Principal | None = getattr(request.state, "principal", None)
    return replace(services, principal=principal) if principal is not None else services


ServicesDep = Annotated[Services, Depends(get_services)]
