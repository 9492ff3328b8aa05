"""ReDoc without any request leaving the machine.

fastapi-offline serves Swagger UI and ReDoc from local files, but its ReDoc bundle still
loads one image from the internet: the "API docs by Redocly" logo
(``https://cdn.redoc.ly/redoc/logo-mini.svg``). :func:`install_redoc` serves ``/redoc``
with a copy of that bundle in which the logo is an inline SVG (a ``data:`` URI).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
INLINE_LOGO = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='16' height='16'%3E"
    "%3Crect width='16' height='16' rx='3' fill='%2332329f'/%3E%3C/svg%3E"
)
BUNDLE_URL = "/redoc-assets/redoc.standalone.js"
STATIC_URL = "/static-offline-docs"
"""Where fastapi-offline mounts its files (its default, which app.py keeps)."""


@cache
def _bundle() -> bytes:
    source = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
    return source.read_text(encoding="utf-8").replace(REMOTE_LOGO, INLINE_LOGO).encode()


def install_redoc(app: FastAPI, url: str = "/redoc") -> None:
    """Serve ReDoc at ``url`` from the patched bundle (see module docstring)."""

    @app.get(url, include_in_schema=False)
    async def redoc_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{BUNDLE_URL}",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(BUNDLE_URL, include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(
            _bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )
