"""Job throughput of the service with 1 and 2 workers: embedded and distributed.

- ``embedded``: ``graphopt serve --workers N`` (SQLite, SqliteHuey, local files).
- ``distributed``: ``graphopt serve --no-worker`` + N ``graphopt worker`` processes against a
  private ``redis-server``, a private PostgreSQL database (``GRAPHOPT_TEST_PG_ADMIN_URL``,
  default ``postgresql://postgres@127.0.0.1:5432/postgres``) and moto's S3 server (the
  stand-in for MinIO/S3), started exactly as ``tests/distributed`` starts them.

Each run starts fresh processes, uploads one small model, submits ``--jobs`` one-pass jobs
(``noop_elimination``, verification on: every job runs a sandboxed child and onnxruntime)
and times submission of the first job to the end of the last. Prints a markdown table.

    .venv/bin/python bench/queue_throughput.py                    # both modes, 1 and 2 workers
    .venv/bin/python bench/queue_throughput.py --mode distributed --jobs 60 --json out.json

A worker runs one job at a time, so throughput scales with workers only while the
machine has idle cores: compare against ``nproc``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "service"), str(ROOT / "tests" / "distributed")]

import httpx  # noqa: E402
from dist_cluster import FAST, Cluster  # noqa: E402
from dist_servers import PG_ADMIN_URL, S3_CREDENTIALS, Postgres, RedisServer  # noqa: E402
from service_models import variant  # noqa: E402
from service_server import free_port, start_server  # noqa: E402

PIPELINE = ["noop_elimination"]


def _run_jobs(client: httpx.Client, jobs: int, seed: int) -> dict[str, Any]:
    upload = client.post("/v1/models", files={"file": ("m.onnx", variant(seed))})
    upload.raise_for_status()
    model_id = upload.json()["id"]
    started = time.perf_counter()
    ids = set()
    for _ in range(jobs):
        response = client.post("/v1/jobs", json={"model_id": model_id, "pipeline": PIPELINE})
        response.raise_for_status()
        ids.add(response.json()["id"])
    submitted = time.perf_counter() - started
    while True:
        listed = client.get("/v1/jobs", params={"limit": 500}).json()["data"]
        done = [j for j in listed if j["id"] in ids and j["status"] in {"succeeded", "failed"}]
        if len(done) == len(ids):
            break
        time.sleep(0.05)
    wall = time.perf_counter() - started
    failed = sum(1 for job in done if job["status"] != "succeeded")
    hosts: dict[str, int] = {}
    for job in done:
        worker = job["attempts"][-1]["worker"]
        key = f"{worker['host']}:{worker['pid']}"
        hosts[key] = hosts.get(key, 0) + 1
    return {
        "jobs": jobs,
        "failed": failed,
        "submit_s": round(submitted, 2),
        "wall_s": round(wall, 2),
        "jobs_per_s": round(jobs / wall, 2),
        "per_worker": sorted(hosts.values(), reverse=True),
    }


def embedded(workers: int, jobs: int, root: Path) -> dict[str, Any]:
    os.environ.setdefault("GRAPHOPT_JOB_MEMORY_BYTES", str(8 << 30))
    server = start_server(root / "data", root / "server.log", workers=workers)
    try:
        time.sleep(2)  # let the worker processes finish warming up
        with server.client() as client:
            return _run_jobs(client, jobs, seed=1000 + workers)
    finally:
        server.stop()


def distributed(workers: int, jobs: int, root: Path) -> dict[str, Any]:
    import shutil

    from moto.server import ThreadedMotoServer

    for name, value in S3_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    postgres = Postgres(PG_ADMIN_URL)
    binary = os.environ.get("GRAPHOPT_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    (root / "redis").mkdir()
    redis = RedisServer(binary, free_port(), root / "redis")
    redis.start()
    s3_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{s3_port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    env = {
        **S3_CREDENTIALS,
        **FAST,
        "GRAPHOPT_QUEUE_URL": redis.url,
        "GRAPHOPT_DATABASE_URL": postgres.create("graphopt_bench"),
        "GRAPHOPT_BLOB_URL": "s3://bench/throughput",
        "GRAPHOPT_S3_ENDPOINT_URL": endpoint,
    }
    cluster = Cluster(root / "cluster", env)
    cluster.root.mkdir()
    try:
        cluster.start_api()
        for index in range(workers):
            cluster.start_worker(f"node-{index}")
        cluster.wait_ready()
        time.sleep(2)
        with cluster.client() as client:
            return _run_jobs(client, jobs, seed=2000 + workers)
    finally:
        cluster.stop()
        moto.stop()
        redis.stop()
        postgres.drop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]
    rows = []
    for mode in modes:
        for workers in args.workers:
            with tempfile.TemporaryDirectory(prefix="graphopt-bench-") as tmp:
                run = embedded if mode == "embedded" else distributed
                row = {"mode": mode, "workers": workers, **run(workers, args.jobs, Path(tmp))}
            rows.append(row)
            print(f"# {row}", file=sys.stderr)
    print(f"cores: {os.cpu_count()}, jobs per run: {args.jobs}, pipeline: {PIPELINE}\n")
    print("| mode | workers | jobs/s | wall s | jobs per worker | failed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['mode']} | {row['workers']} | {row['jobs_per_s']} | {row['wall_s']} "
            f"| {row['per_worker']} | {row['failed']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
