"""``/v1/models``: upload, list, show, download, delete, graph export."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from graphopt.api import model_catalog
from graphopt.api.deps import ServicesDep
from graphopt.api.schemas import ErrorBody, ModelList, ModelResource

router = APIRouter(prefix="/v1/models", tags=["models"])

ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "an .onnx file, or a .zip/.tar bundle with its "
                            "external data",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelResource,
    summary="Upload a model",
    description="Streams the `file` field to disk while hashing it, validates the model in "
    "the sandbox and stores it. Identical content is stored once: uploading it again answers "
    "200 with the existing model.",
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": ModelResource, "description": "the same content was already uploaded"},
        413: {
            "model": ErrorBody,
            "description": "over the upload size limit, or initializers_too_large",
        },
        415: {"model": ErrorBody, "description": "not multipart/form-data"},
        422: {
            "model": ErrorBody,
            "description": "not a valid model (engine error code), or too_many_nodes",
        },
    },
)
async def upload_model(
    request: Request, response: Response, services: ServicesDep
) -> ModelResource:
    row, created = await model_catalog.upload(services, request)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/v1/models/{row.id}"
    return ModelResource.from_row(row)


@router.get("", response_model=ModelList, summary="List models, newest first")
def list_models(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> ModelList:
    rows = model_catalog.list_models(services, limit, offset)
    return ModelList(data=[ModelResource.from_row(row) for row in rows])


@router.get("/{model_id}", response_model=ModelResource, responses=ERRORS, summary="Show a model")
def get_model(model_id: str, services: ServicesDep) -> ModelResource:
    return ModelResource.from_row(model_catalog.get(services, model_id))


@router.get(
    "/{model_id}/file",
    response_class=FileResponse,
    responses=ERRORS,
    summary="Download the uploaded file",
)
def download_model(model_id: str, services: ServicesDep) -> FileResponse:
    path, filename = model_catalog.file_path(services, model_id)
    return FileResponse(path, filename=filename, media_type="application/octet-stream")


@router.delete(
    "/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    summary="Delete a model with its finished jobs and their artifacts",
)
def delete_model(model_id: str, services: ServicesDep) -> Response:
    model_catalog.delete_model(services, model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{model_id}/graph",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/json": {}, "application/xml": {}},
            "description": "node-link JSON (networkx) or GraphML",
        },
        **ERRORS,
    },
    summary="Export the model's graph view",
)
async def model_graph(
    model_id: str,
    services: ServicesDep,
    background: BackgroundTasks,
    fmt: Annotated[Literal["node-link", "graphml"], Query(alias="format")] = "node-link",
) -> FileResponse:
    descriptor, name = tempfile.mkstemp(dir=services.settings.work_dir, prefix="graph-")
    os.close(descriptor)
    output = Path(name)
    background.add_task(output.unlink, missing_ok=True)
    try:
        await run_in_threadpool(model_catalog.export_graph, services, model_id, fmt, output)
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    graphml = fmt == "graphml"
    return FileResponse(
        output,
        media_type="application/xml" if graphml else "application/json",
        filename=f"{model_id}.{'graphml' if graphml else 'json'}",
        background=background,
    )
