"""Shared dependencies: the settings, database, blob store and queue of the running app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from graphopt.jobs.queue import JobQueue
from graphopt.settings import Settings
from graphopt.store.blobs import BlobStore
from graphopt.store.db import Database


@dataclass
class Services:
    """Everything a request handler may use, created once per app (see app.lifespan)."""

    settings: Settings
    db: Database
    blobs: BlobStore
    queue: JobQueue


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
