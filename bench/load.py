"""Load test of the embedded default: upload + job creation + polling, on loopback.

``python bench/load.py [--url URL] [--api-key KEY] [--users 8] [--duration-s 30] [--json F]``

Without ``--url`` it starts ``graphopt serve`` (SQLite, local files, 2 workers, auth off on
127.0.0.1) in a temporary data directory and stops it afterwards. Each of ``--users``
closed-loop virtual users (httpx + asyncio) repeats: upload a distinct small model (201),
create a one-pass job (202), poll the job every ``--poll-s`` until it ends. When the time
is up, every job created is followed to its end: a job that is missing, unfinished after
``--drain-s`` or not ``succeeded`` counts as lost. Prints requests/s over the load window,
the error rate (any unexpected status or transport error), latency percentiles by request
kind, and the job counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_server import start_server

TERMINAL = {"succeeded", "failed", "cancelled"}


def model_bytes(index: int) -> bytes:
    """x[1,8] -> Identity -> Relu -> y, named ``load_<index>`` (a distinct sha256)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
        f"load_{index}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model).SerializeToString()


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.jobs: list[str] = []

    def record(self, kind: str, started: float, status: int | str, expected: set[int]) -> None:
        self.latencies[kind].append(time.perf_counter() - started)
        self.statuses[f"{kind} {status}"] += 1
        if status not in expected:
            self.errors[f"{kind} {status}"] += 1


async def user(
    client: httpx.AsyncClient, rec: Recorder, index: int, deadline: float, poll_s: float
) -> None:
    iteration = 0
    while time.monotonic() < deadline:
        iteration += 1
        data = model_bytes(index * 1_000_000 + iteration)
        started = time.perf_counter()
        try:
            response = await client.post("/v1/models", files={"file": ("m.onnx", data)})
        except httpx.HTTPError as exc:
            rec.record("upload", started, type(exc).__name__, {201})
            continue
        rec.record("upload", started, response.status_code, {201})
        if response.status_code != 201:
            continue
        body = {"model_id": response.json()["id"], "pipeline": ["noop_elimination"]}
        started = time.perf_counter()
        try:
            response = await client.post("/v1/jobs", json=body)
        except httpx.HTTPError as exc:
            rec.record("create_job", started, type(exc).__name__, {202})
            continue
        rec.record("create_job", started, response.status_code, {202})
        if response.status_code != 202:
            continue
        job_id = response.json()["id"]
        rec.jobs.append(job_id)
        while True:
            await asyncio.sleep(poll_s)
            started = time.perf_counter()
            try:
                response = await client.get(f"/v1/jobs/{job_id}")
            except httpx.HTTPError as exc:
                rec.record("poll", started, type(exc).__name__, {200})
                continue
            rec.record("poll", started, response.status_code, {200})
            if response.status_code == 200 and response.json()["status"] in TERMINAL:
                break
            if time.monotonic() > deadline + 60:
                break


async def drain(client: httpx.AsyncClient, jobs: list[str], drain_s: float) -> Counter[str]:
    """Follow every created job to its end; the count of final statuses (``lost`` too)."""
    final: Counter[str] = Counter()
    deadline = time.monotonic() + drain_s
    pending = list(jobs)
    while pending and time.monotonic() < deadline:
        still = []
        for job_id in pending:
            response = await client.get(f"/v1/jobs/{job_id}")
            status = response.json().get("status") if response.status_code == 200 else "missing"
            if status in TERMINAL or status == "missing":
                final[status] += 1
            else:
                still.append(job_id)
        pending = still
        if pending:
            await asyncio.sleep(0.5)
    final["unfinished"] += len(pending)
    return final


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else 0.0


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    limits = httpx.Limits(max_connections=args.users * 2)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=limits
    ) as client:
        rec = Recorder()
        started = time.monotonic()
        deadline = started + args.duration_s
        await asyncio.gather(
            *(user(client, rec, i, deadline, args.poll_s) for i in range(args.users))
        )
        window = time.monotonic() - started
        final = await drain(client, rec.jobs, args.drain_s)
    total = sum(len(v) for v in rec.latencies.values())
    everything = [x for v in rec.latencies.values() for x in v]
    lost = len(rec.jobs) - final["succeeded"]
    return {
        "users": args.users,
        "window_s": round(window, 1),
        "requests": total,
        "requests_per_s": round(total / window, 1),
        "error_rate": round(sum(rec.errors.values()) / total, 5) if total else 0.0,
        "errors": dict(rec.errors),
        "latency_ms": {
            kind: {
                "n": len(values),
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "p99": percentile(values, 99),
                "max": percentile(values, 100),
            }
            for kind, values in sorted({**rec.latencies, "all": everything}.items())
        },
        "jobs_created": len(rec.jobs),
        "jobs_per_s": round(len(rec.jobs) / window, 2),
        "jobs_final": dict(final),
        "jobs_lost": lost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--api-key", default=os.environ.get("GRAPHOPT_API_KEY"))
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--poll-s", type=float, default=0.25)
    parser.add_argument("--drain-s", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=2, help="when starting a server")
    parser.add_argument("--json", help="write the result here too")
    args = parser.parse_args()
    server = None
    with tempfile.TemporaryDirectory(prefix="graphopt-load-") as scratch:
        url = args.url
        if url is None:
            root = Path(scratch)
            server = start_server(root / "data", root / "serve.log", workers=args.workers, env={})
            url = server.base_url
        try:
            result = asyncio.run(run(args, url))
        finally:
            if server is not None:
                server.stop()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    sys.exit(1 if result["jobs_lost"] or result["error_rate"] else 0)


if __name__ == "__main__":
    main()
