"""The S3 blob store against moto's S3 server, and the queues' view of pending jobs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dist_servers import S3, RedisServer

from graphopt.jobs import reaper
from graphopt.jobs.queue import JobQueue
from graphopt.settings import Settings
from graphopt.store.blobs import BlobRef, LocalBlobStore, S3BlobStore, open_blob_store


def _blob(tmp_path: Path, content: bytes) -> tuple[Path, BlobRef]:
    path = tmp_path / f"upload-{hashlib.md5(content).hexdigest()}"
    path.write_bytes(content)
    return path, BlobRef(hashlib.sha256(content).hexdigest(), len(content))


def test_s3_blob_store_round_trip(s3: S3, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "a",
        blob_url=f"s3://{s3.bucket}/unit",
        s3_endpoint_url=s3.endpoint_url,
    )
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    store.check()
    content = b"onnx bytes " * 1000
    source, ref = _blob(tmp_path, content)
    assert not store.exists(ref.sha256)
    store.put_file(source, ref)
    assert not source.exists() and store.exists(ref.sha256)
    assert s3.client().head_object(Bucket=s3.bucket, Key=store.key(ref.sha256))[
        "ContentLength"
    ] == len(content)
    assert store.open(ref.sha256).read() == content

    # Another machine: an empty cache, the blob is downloaded and checked once.
    other = S3BlobStore(
        s3.bucket, "unit", tmp_path / "b-cache", cache_bytes=1 << 20, endpoint_url=s3.endpoint_url
    )
    path = other.local_path(ref.sha256)
    assert path.read_bytes() == content and other.local_path(ref.sha256) == path

    store.delete(ref.sha256)
    assert not store.exists(ref.sha256)
    other.delete(ref.sha256)
    with pytest.raises(FileNotFoundError):
        other.local_path(ref.sha256)
    with pytest.raises(FileNotFoundError):
        store.open(ref.sha256)


def test_s3_cache_is_bounded_and_checked(s3: S3, tmp_path: Path) -> None:
    store = S3BlobStore(
        s3.bucket, "bounded", tmp_path / "cache", cache_bytes=2500, endpoint_url=s3.endpoint_url
    )
    refs = []
    for index in range(4):
        source, ref = _blob(tmp_path, bytes([index]) * 1000)
        store.put_file(source, ref)
        refs.append(ref)
    cached = [p for p in (tmp_path / "cache").glob("??/*") if not p.name.startswith(".")]
    assert sum(p.stat().st_size for p in cached) <= 2500
    assert store.local_path(refs[0].sha256).read_bytes() == bytes([0]) * 1000  # re-fetched
    # A corrupt object (not its sha256) is refused, not served.
    s3.client().put_object(Bucket=s3.bucket, Key=store.key(refs[1].sha256), Body=b"tampered")
    store._cached(refs[1].sha256).unlink(missing_ok=True)
    with pytest.raises(OSError, match="corrupt"):
        store.local_path(refs[1].sha256)


def test_local_blob_store_stays_the_default(tmp_path: Path) -> None:
    assert isinstance(open_blob_store(Settings(data_dir=tmp_path)), LocalBlobStore)
    with pytest.raises(ValueError, match="s3://"):
        open_blob_store(Settings(data_dir=tmp_path, blob_url="gs://bucket"))


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_queues_report_their_pending_job_ids(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = Settings(data_dir=tmp_path)
    if backend == "redis":
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        settings = Settings(data_dir=tmp_path, queue_url=redis_server.url.replace("/0", "/3"))
    settings.prepare()
    queue = JobQueue(settings)
    queue.huey.flush()
    assert queue.enqueue("job_a") and queue.enqueue("job_b")
    assert queue.pending_job_ids() == {"job_a", "job_b"}
    assert queue.depth() == 2
    queue.huey.flush()
    assert queue.pending_job_ids() == set()


def test_an_unreachable_queue_does_not_fail_enqueue(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, queue_url="redis://127.0.0.1:1/0")
    queue = JobQueue(settings)
    assert queue.enqueue("job_x") is False  # the job stays queued in the database


def test_queue_url_must_be_redis(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="redis://"):
        JobQueue(Settings(data_dir=tmp_path, queue_url="amqp://localhost"))


def test_worker_alive_only_judges_its_own_node() -> None:
    import os

    assert reaper.worker_alive(f"node-a:{os.getpid()}", "node-a") is True
    assert reaper.worker_alive(f"node-b:{os.getpid()}", "node-a") is None
    assert reaper.worker_alive("node-a:999999999", "node-a") is False
