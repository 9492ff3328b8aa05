"""Streaming multipart uploads: one file field written to disk while hashing and counting.

Contract of :func:`receive_file`: the request body is never held in memory (each chunk is
hashed and written as it arrives); a body whose ``Content-Length`` is over the cap is
refused with 413 before any of it is read, and a streamed body is refused with 413 as
soon as the file passes the cap. The partial file is removed on any failure.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from graphopt.api.errors import ApiError

MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for the multipart envelope (boundaries, part headers, other small fields)."""


@dataclass(frozen=True)
class ReceivedFile:
    path: Path
    sha256: str
    size_bytes: int
    filename: str


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "upload_too_large", f"The upload exceeds the {limit}-byte limit.", {"limit": limit}
    )


class _FilePart:
    """Collects the part named ``field`` into ``sink``; other parts are ignored."""

    def __init__(self, field: str, sink: tempfile._TemporaryFileWrapper[bytes], limit: int):
        self.field = field.encode()
        self.sink = sink
        self.limit = limit
        self.hasher = hashlib.sha256()
        self.size = 0
        self.found = False
        self.filename = ""
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._active = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._field,
            "on_header_value": self._value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}
        self._header_name = self._header_value = b""

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._active = params.get(b"name") == self.field and not self.found
        if self._active:
            self.found = True
            self.filename = params.get(b"filename", b"model.onnx").decode("utf-8", "replace")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self._active:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.limit:
            self._active = False
            return
        self.hasher.update(chunk)
        self.sink.write(chunk)

    def _end(self) -> None:
        self._active = False


async def receive_file(request: Request, field: str, directory: Path, limit: int) -> ReceivedFile:
    """Stream the multipart field ``field`` of ``request`` into a file under ``directory``."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the model as multipart/form-data with a {field!r} file field.",
        )
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isdigit()
        and int(declared) > limit + MULTIPART_OVERHEAD_BYTES
    ):
        raise _too_large(limit)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=directory, prefix="upload-", suffix=".part", delete=False
    ) as sink:
        path = Path(sink.name)
        try:
            part = await _receive(request, _FilePart(field, sink, limit), boundary)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    if not part.found:
        path.unlink(missing_ok=True)
        raise ApiError(422, "missing_file", f"The multipart body has no {field!r} field.")
    return ReceivedFile(path, part.hasher.hexdigest(), part.size, part.filename)


async def _receive(request: Request, part: _FilePart, boundary: bytes) -> _FilePart:
    parser = MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if part.size > part.limit:
                raise _too_large(part.limit)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(
            400, "malformed_multipart", f"The multipart body is malformed: {exc}"
        ) from None
    return part
