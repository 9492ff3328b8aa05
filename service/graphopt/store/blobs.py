"""Content-addressed file storage: a blob's key is the sha256 of its bytes.

:class:`BlobStore` is the interface; :class:`LocalBlobStore` keeps
``<root>/<aa>/<bb>/<sha256>`` (the embedded default), :class:`S3BlobStore` keeps
``s3://<bucket>/<prefix>/<aa>/<bb>/<sha256>`` (``GRAPHOPT_BLOB_URL``, distributed mode) with
a bounded local cache. Writes are atomic (a blob is either complete or absent) and
idempotent (storing identical content twice is a no-op). :func:`open_blob_store` picks one
from the settings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast
from urllib.parse import urlparse

if TYPE_CHECKING:
    from graphopt.settings import Settings

log = logging.getLogger(__name__)

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


def _check_digest(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


class S3BlobStore:
    """Blobs as objects ``<prefix>/<aa>/<bb>/<sha256>`` of an S3-compatible bucket.

    Uploads and downloads stream (boto3's managed multipart transfers). ``local_path``
    serves from a local cache under ``cache_dir`` (downloaded on first use, checked against
    its sha256, the least recently used files evicted beyond ``cache_bytes``): sandboxed
    jobs get a file, and the API serves downloads (with HTTP Range) from it.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        cache_dir: Path,
        *,
        cache_bytes: int,
        endpoint_url: str | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache_dir = cache_dir
        self.cache_bytes = cache_bytes
        # endpoint_url None: boto3 reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL itself.
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                s3={"addressing_style": "path"},  # MinIO and other S3-compatible servers
            ),
        )
        self._evict_lock = threading.Lock()

    def key(self, sha256: str) -> str:
        _check_digest(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _cached(self, sha256: str) -> Path:
        return self.cache_dir / sha256[:2] / sha256

    def _staging(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.partial")

    def put_file(self, source: Path, ref: BlobRef) -> None:
        if not self.exists(ref.sha256):
            self.client.upload_file(str(source), self.bucket, self.key(ref.sha256))
        # The uploaded file becomes the local cached copy (no download on this machine).
        cached = self._cached(ref.sha256)
        if cached.exists():
            source.unlink(missing_ok=True)
            return
        staging = self._staging(cached)
        try:
            os.replace(source, staging)
        except OSError:
            shutil.copyfile(source, staging)
            source.unlink(missing_ok=True)
        os.chmod(staging, 0o444)
        os.replace(staging, cached)
        self._evict(keep=cached)

    def local_path(self, sha256: str) -> Path:
        cached = self._cached(_check_digest(sha256))
        if cached.exists():
            os.utime(cached)  # recently used: evicted last
            return cached
        staging = self._staging(cached)
        try:
            self.client.download_file(self.bucket, self.key(sha256), str(staging))
        except Exception as exc:
            staging.unlink(missing_ok=True)
            if _is_missing(exc):
                raise FileNotFoundError(f"blob {sha256} is missing") from None
            raise
        if digest_file(staging).sha256 != sha256:
            staging.unlink(missing_ok=True)
            raise OSError(f"blob {sha256} is corrupt in s3://{self.bucket}/{self.key(sha256)}")
        os.chmod(staging, 0o444)
        os.replace(staging, cached)
        self._evict(keep=cached)
        return cached

    def open(self, sha256: str) -> BinaryIO:
        """A streaming read of the object (not cached)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"blob {sha256} is missing") from None
            raise
        return cast(BinaryIO, response["Body"])

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        self._cached(sha256).unlink(missing_ok=True)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def _evict(self, keep: Path) -> None:
        """Delete least recently used cached files while the cache exceeds ``cache_bytes``.

        Files in use stay readable (open handles and the jobs' hard links keep the data).
        """
        with self._evict_lock:
            files = []
            for entry in self.cache_dir.glob("??/*"):
                if entry.name.startswith("."):
                    continue
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # evicted by another process meanwhile
                    continue
                files.append((stat.st_mtime, stat.st_size, entry))
            total = sum(size for _, size, _ in files)
            for _, size, path in sorted(files):
                if total <= self.cache_bytes:
                    break
                if path != keep:
                    path.unlink(missing_ok=True)
                    total -= size


def _is_missing(exc: Exception) -> bool:
    """Whether a botocore error means "no such object"."""
    response = getattr(exc, "response", None)
    code = str((response or {}).get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings name: ``s3://bucket/prefix`` or local files."""
    if not settings.blob_url:
        return LocalBlobStore(settings.blob_dir)
    url = urlparse(settings.blob_url)
    if url.scheme != "s3" or not url.netloc:
        raise ValueError(
            f"GRAPHOPT_BLOB_URL must be s3://bucket[/prefix], not {settings.blob_url!r}"
        )
    return S3BlobStore(
        url.netloc,
        url.path,
        settings.blob_cache_dir,
        cache_bytes=settings.blob_cache_bytes,
        endpoint_url=settings.s3_endpoint_url,
    )
