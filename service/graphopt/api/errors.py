"""API errors: every non-2xx answer is ``{"error": {"code", "message", "detail"}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from graphopt.engine import GraphoptError


class ApiError(Exception):
    """An error answer with an HTTP status and a stable machine-readable ``code``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        detail: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.detail = detail or {}
        self.headers = dict(headers or {})

    @classmethod
    def from_error(cls, error: dict[str, Any], status_code: int = 422) -> ApiError:
        """From a ``{"code", "message", "detail"}`` dict (an engine or sandbox error)."""
        return cls(status_code, error["code"], error["message"], error.get("detail") or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


def not_found(kind: str, resource_id: str) -> ApiError:
    return ApiError(404, "not_found", f"There is no {kind} {resource_id!r}.", {"id": resource_id})


def _response(error: ApiError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status_code, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Map ApiError, GraphoptError, request validation and HTTP errors to the error body."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _response(exc, exc.headers)

    @app.exception_handler(GraphoptError)
    async def _engine_error(_: Request, exc: GraphoptError) -> JSONResponse:
        return _response(ApiError.from_error(exc.to_dict()))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _response(
            ApiError(422, "invalid_request", "The request is not valid.", {"errors": errors})
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _response(ApiError(exc.status_code, code, str(exc.detail)), exc.headers)
