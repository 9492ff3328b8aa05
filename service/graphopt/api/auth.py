"""Authentication: ``Authorization: Bearer KEY`` names the caller's tenant.

Contract of :func:`authenticate`: with authentication off (``GRAPHOPT_AUTH=off``, or the
default on a loopback host) every request is the ``default`` tenant with admin rights and
headers are ignored. With it required, a missing, malformed, unknown or revoked key gets
401 ``unauthorized`` with ``WWW-Authenticate: Bearer``; a valid key makes the request its
tenant's (admin keys may also read and act on every tenant's models and jobs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from graphopt.api.deps import Principal, Services
from graphopt.api.errors import ApiError
from graphopt.store.api_keys import find_key
from graphopt.store.models import DEFAULT_TENANT

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `graphopt keys create` (not needed when auth is off).",
)
LOCAL = Principal(DEFAULT_TENANT, admin=True)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller of ``request``; also stored as ``request.state.principal``."""
    services: Services = request.app.state.services
    if not services.settings.auth_required:
        principal = LOCAL
    else:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("Send an API key: Authorization: Bearer KEY.")
        row = await run_in_threadpool(find_key, services.db, credentials.credentials)
        if row is None:
            raise _unauthorized("The API key is not valid (unknown or revoked).")
        principal = Principal(row.tenant, admin=row.admin, key_id=row.id)
    request.state.principal = principal
    return principal
