"""``client.models``: upload (streamed, with a progress bar), get, list, delete, file, graph."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from graphopt_client._base_client import AsyncAPIClient, SyncAPIClient
from graphopt_client._files import (
    OpenedUpload,
    ProgressReader,
    UploadSource,
    open_upload,
)
from graphopt_client._graph import GraphFormat, decode_graph
from graphopt_client._progress import transfer_progress
from graphopt_client.types.model import Model

ModelRef = str | Model
"""A model id or a :class:`Model`."""


def model_id(model: ModelRef) -> str:
    return model.id if isinstance(model, Model) else model


def _multipart(opened: OpenedUpload, reader: ProgressReader) -> dict[str, Any]:
    return {"files": {"file": (opened.filename, reader, "application/octet-stream")}}


def _list_params(limit: int | None, offset: int | None) -> dict[str, int]:
    return {k: v for k, v in (("limit", limit), ("offset", offset)) if v is not None}


class Models:
    """The ``/v1/models`` resource."""

    def __init__(self, api: SyncAPIClient) -> None:
        self._api = api

    def upload(
        self, source: UploadSource, *, filename: str | None = None, progress: bool = False
    ) -> Model:
        """Upload an ``.onnx``/``.zip``/``.tar`` path, a bundle directory, or bytes.

        The file streams from disk (memory stays flat whatever its size); identical content
        returns the existing model. Invalid models raise
        :class:`~graphopt_client.UnprocessableEntityError` with the engine's code.
        """
        with (
            open_upload(source, filename) as opened,
            transfer_progress(f"upload {opened.filename}", opened.size_bytes, progress) as bar,
        ):
            reader = ProgressReader(opened.file, bar)
            body = self._api.json(
                "POST", "/v1/models", idempotent=True, **_multipart(opened, reader)
            )
        return Model.model_validate(body)

    def get(self, model: ModelRef) -> Model:
        """The model with this id."""
        return Model.model_validate(self._api.json("GET", f"/v1/models/{model_id(model)}"))

    def list(self, *, limit: int | None = None, offset: int | None = None) -> builtins.list[Model]:
        """Models, newest first."""
        body = self._api.json("GET", "/v1/models", params=_list_params(limit, offset))
        return [Model.model_validate(item) for item in body["data"]]

    def delete(self, model: ModelRef) -> None:
        """Delete the model, its finished jobs and their artifacts (409 while a job runs)."""
        self._api.request("DELETE", f"/v1/models/{model_id(model)}")

    def download(self, model: ModelRef, destination: str | Path, *, progress: bool = False) -> Path:
        """Stream the uploaded file to ``destination``; returns it."""
        path = f"/v1/models/{model_id(model)}/file"
        return self._api.download(path, Path(destination), progress=progress)

    def graph(self, model: ModelRef, *, format: GraphFormat = "node-link") -> Any:
        """The model's graph view: a networkx ``MultiDiGraph`` when networkx is installed,
        else the node-link JSON dict or the GraphML text."""
        response = self._api.request(
            "GET", f"/v1/models/{model_id(model)}/graph", params={"format": format}
        )
        return decode_graph(response.content, format)


class AsyncModels:
    """The async twin of :class:`Models`."""

    def __init__(self, api: AsyncAPIClient) -> None:
        self._api = api

    async def upload(
        self, source: UploadSource, *, filename: str | None = None, progress: bool = False
    ) -> Model:
        """See :meth:`Models.upload`."""
        with (
            open_upload(source, filename) as opened,
            transfer_progress(f"upload {opened.filename}", opened.size_bytes, progress) as bar,
        ):
            reader = ProgressReader(opened.file, bar)
            body = await self._api.json(
                "POST", "/v1/models", idempotent=True, **_multipart(opened, reader)
            )
        return Model.model_validate(body)

    async def get(self, model: ModelRef) -> Model:
        """See :meth:`Models.get`."""
        return Model.model_validate(await self._api.json("GET", f"/v1/models/{model_id(model)}"))

    async def list(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> builtins.list[Model]:
        """See :meth:`Models.list`."""
        body = await self._api.json("GET", "/v1/models", params=_list_params(limit, offset))
        return [Model.model_validate(item) for item in body["data"]]

    async def delete(self, model: ModelRef) -> None:
        """See :meth:`Models.delete`."""
        await self._api.request("DELETE", f"/v1/models/{model_id(model)}")

    async def download(
        self, model: ModelRef, destination: str | Path, *, progress: bool = False
    ) -> Path:
        """See :meth:`Models.download`."""
        path = f"/v1/models/{model_id(model)}/file"
        return await self._api.download(path, Path(destination), progress=progress)

    async def graph(self, model: ModelRef, *, format: GraphFormat = "node-link") -> Any:
        """See :meth:`Models.graph`."""
        response = await self._api.request(
            "GET", f"/v1/models/{model_id(model)}/graph", params={"format": format}
        )
        return decode_graph(response.content, format)
