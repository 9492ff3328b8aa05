"""Content-addressed file storage: a blob's key is the sha256 of its bytes.

:class:`BlobStore` is the interface (local disk now, object storage later);
:class:`LocalBlobStore` keeps ``<root>/<aa>/<bb>/<sha256>``. Writes are atomic (a blob is
either complete or absent) and idempotent (storing identical content twice is a no-op).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class BlobRef:
    """A blob's key and size in bytes."""

    sha256: str
    size_bytes: int


def digest_file(path: Path) -> BlobRef:
    """The sha256 and size of a file, read in chunks."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            hasher.update(chunk)
            size += len(chunk)
    return BlobRef(hasher.hexdigest(), size)


class BlobStore(Protocol):
    """Where uploaded models and job artifacts live."""

    def put_file(self, source: Path, ref: BlobRef) -> None:
        """Take ownership of ``source`` (moved, not copied, when possible) as blob ``ref``."""

    def local_path(self, sha256: str) -> Path:
        """A local file holding the blob's bytes (valid until the blob is deleted)."""

    def open(self, sha256: str) -> BinaryIO:
        """The blob for reading."""

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None:
        """Remove the blob; missing blobs are ignored."""

    def check(self) -> None:
        """Raise unless the store is usable (readiness probe)."""


class LocalBlobStore:
    """Blobs as files under ``root`` (see module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_file(self, source: Path, ref: BlobRef) -> None:
        target = self._path(ref.sha256)
        if target.exists():
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            os.replace(source, staging)
        except OSError:  # another file system: copy, then rename
            shutil.copyfile(source, staging)
            source.unlink(missing_ok=True)
        os.chmod(staging, 0o444)
        os.replace(staging, target)

    def local_path(self, sha256: str) -> Path:
        path = self._path(sha256)
        if not path.exists():
            raise FileNotFoundError(f"blob {sha256} is missing")
        return path

    def open(self, sha256: str) -> BinaryIO:
        return self.local_path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"{self.root} is not writable")
