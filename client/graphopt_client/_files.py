"""Upload sources and streamed downloads: nothing is held in memory whole.

An upload source is a path to an ``.onnx``, ``.zip`` or ``.tar`` file, a bundle directory
(zipped to a temporary file first, streamed from disk), or ``bytes``. Downloads are
written chunk by chunk to ``<name>.part`` and renamed when complete
(:meth:`SyncAPIClient.download`, which also resumes broken downloads).
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from graphopt_client._progress import ByteCallback

UploadSource = str | os.PathLike[str] | bytes
CHUNK_BYTES = 1 << 20


class ProgressReader(io.RawIOBase):
    """A read-only binary file that reports every read to ``on_read`` (bytes read).

    Seekable, so that httpx can size it and re-send it on a retry: rewinding below the
    furthest point read is reported as a negative count (the bar restarts); seeking to
    measure the size reports nothing.
    """

    def __init__(self, raw: IO[bytes], on_read: ByteCallback) -> None:
        self._raw = raw
        self._on_read = on_read
        self._reported = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._report(self._raw.tell())
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._raw.seek(offset, whence)
        if position < self._reported:
            self._report(position)
        return position

    def tell(self) -> int:
        return self._raw.tell()

    def _report(self, position: int) -> None:
        if position != self._reported:
            self._on_read(position - self._reported)
            self._reported = position


@dataclass(frozen=True)
class OpenedUpload:
    """An upload ready to stream: the multipart file name, the file, its size (bytes)."""

    filename: str
    file: IO[bytes]
    size_bytes: int


def _zip_directory(directory: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())


@contextmanager
def open_upload(source: UploadSource, filename: str | None = None) -> Iterator[OpenedUpload]:
    """Open ``source`` for streaming (see module docstring); closes and cleans up after."""
    if isinstance(source, bytes):
        yield OpenedUpload(filename or "model.onnx", io.BytesIO(source), len(source))
        return
    path = Path(source)
    if path.is_dir():
        with tempfile.TemporaryDirectory(prefix="graphopt-bundle-") as scratch:
            archive = Path(scratch) / f"{path.name}.zip"
            _zip_directory(path, archive)
            with archive.open("rb") as file:
                yield OpenedUpload(filename or archive.name, file, archive.stat().st_size)
        return
    with path.open("rb") as file:
        yield OpenedUpload(filename or path.name, file, path.stat().st_size)


def _partial(destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    return destination.with_name(destination.name + ".part")


@contextmanager
def partial_file(destination: Path) -> Iterator[IO[bytes]]:
    """``<destination>.part`` open for writing: renamed to ``destination`` when the block
    ends normally, removed when it raises."""
    partial = _partial(destination)
    try:
        with partial.open("wb") as sink:
            yield sink
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
