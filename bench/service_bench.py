"""Service benchmark: job overhead, status-poll latency, memory of a 1 GiB upload.

Starts its own ``graphopt serve`` (embedded SQLite, a fresh data directory, upload cap
raised to 2 GiB through ``GRAPHOPT_MAX_UPLOAD_BYTES``) on a free loopback port and measures:

1. **Job overhead**: for each of ``--jobs`` small jobs run one after another, the wall time
   from ``POST /v1/jobs`` to the terminal status event on the job's SSE stream, minus the
   engine's own time (the report's ``timings.total_ms``, the job summary's ``engine_ms``).
   That difference is what the service adds: queueing, claiming, the sandboxed child,
   storing artifacts, the database and the event stream. Median and max are printed.
2. **Status polls**, two ways: ``--waves`` bursts of 100 simultaneous ``GET /v1/jobs/{id}``
   (one kept-alive connection each, after a warm-up burst), and 100 clients each polling
   once a second for 10 s (spread evenly, as independent clients following jobs would);
   p50/p99/max per request. The API is one Python process: a burst is served one request
   after another, so its p99 is about 100 times the cost of one request.
3. **Upload memory**: a 1 GiB file streamed as multipart (never held in memory by this
   client either) while the server process's ``VmRSS`` (``/proc/PID/status``) is sampled
   every 20 ms; growth = peak during the upload minus the value just before. The file is
   not a model, so the server answers 422 after streaming and validating it: the
   measurement is of receiving it.
4. **SDK streaming** (``client`` part): a child process uploads a valid model of
   ``--upload-gib`` (one initializer) with ``Client.models.upload`` and downloads it back
   with ``Client.models.download``; it reports its own peak RSS (``VmHWM``) after
   importing the SDK, after the upload and after the download.

Targets (issues #6, #7): overhead <= 0.3 s, p99 < 50 ms, server RSS growth < 64 MiB, the
SDK's memory flat (growth < 64 MiB) for a 1 GiB model. Exit status 1 when one is missed.
Usage::

    .venv/bin/python bench/service_bench.py [--jobs 20] [--waves 10] [--upload-gib 1]
    .venv/bin/python bench/service_bench.py --parts client
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_models import small_model
from service_server import Server, start_server

GiB = 1 << 30
MiB = 1 << 20
TARGET_OVERHEAD_S = 0.3
TARGET_P99_MS = 50.0
TARGET_RSS_BYTES = 64 * MiB


def rss_bytes(server: Server) -> int:
    """The server process's current ``VmRSS``."""
    with open(f"/proc/{server.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _terminal_event(client: httpx.Client, job_id: str) -> dict:
    """Follow the job's event stream until its terminal status event; that event's data."""
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=120) as response:
        response.raise_for_status()
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "status":
                data: dict = json.loads(line.split(":", 1)[1])
                if data["status"] in ("succeeded", "failed", "cancelled"):
                    return data
    raise RuntimeError(f"the event stream of {job_id} ended without a terminal status")


def job_overhead(client: httpx.Client, jobs: int) -> dict:
    model = client.post(
        "/v1/models", files={"file": ("bench.onnx", small_model(), "application/octet-stream")}
    ).json()
    samples = []
    for index in range(jobs + 1):  # the first job warms the workers up and is not counted
        started = time.perf_counter()
        job = client.post("/v1/jobs", json={"model_id": model["id"]}).json()
        final = _terminal_event(client, job["id"])
        wall_s = time.perf_counter() - started
        if final["status"] != "succeeded":
            raise RuntimeError(f"bench job failed: {final}")
        engine_s = final["summary"]["engine_ms"] / 1000
        if index:
            samples.append((wall_s - engine_s, wall_s, engine_s))
    overheads = sorted(s[0] for s in samples)
    return {
        "jobs": jobs,
        "overhead_median_s": round(statistics.median(overheads), 4),
        "overhead_max_s": round(overheads[-1], 4),
        "wall_median_s": round(statistics.median(s[1] for s in samples), 4),
        "engine_median_s": round(statistics.median(s[2] for s in samples), 4),
    }


class Connection:
    """One kept-alive HTTP/1.1 connection doing GETs, written directly on asyncio streams:
    the bench client costs a small fraction of what an httpx request does, so on a small
    machine the latencies measure the server rather than the client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        host, port = base_url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def get(self, path: str) -> float:
        """GET ``path``; the latency in ms (raises unless the answer is 200)."""
        started = time.perf_counter()
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        elapsed = (time.perf_counter() - started) * 1000
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"GET {path}: {head.splitlines()[0]!r}")
        return elapsed

    def close(self) -> None:
        self.writer.close()


async def _polls(base_url: str, job_id: str, waves: int, concurrency: int) -> list[float]:
    path = f"/v1/jobs/{job_id}"
    connections = [await Connection.open(base_url) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(c.get(path) for c in connections))  # warm-up burst
        latencies: list[float] = []
        for _ in range(waves):
            latencies += await asyncio.gather(*(c.get(path) for c in connections))
        return latencies
    finally:
        for connection in connections:
            connection.close()


def status_polls(base_url: str, job_id: str, waves: int, concurrency: int = 100) -> dict:
    latencies = sorted(asyncio.run(_polls(base_url, job_id, waves, concurrency)))
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {
        "requests": len(latencies),
        "concurrency": concurrency,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(latencies[-1], 2),
    }


async def _pollers(
    base_url: str, job_id: str, clients: int, seconds: float, period_s: float
) -> list[float]:
    path = f"/v1/jobs/{job_id}"
    latencies: list[float] = []

    async def poller(index: int) -> None:
        connection = await Connection.open(base_url)
        try:
            await asyncio.sleep(period_s * index / clients)  # spread the clients evenly
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                elapsed = await connection.get(path)
                latencies.append(elapsed)
                await asyncio.sleep(max(0.0, period_s - elapsed / 1000))
        finally:
            connection.close()

    await asyncio.gather(*(poller(i) for i in range(clients)))
    return latencies


def steady_polls(
    base_url: str, job_id: str, clients: int = 100, seconds: float = 10, period_s: float = 1.0
) -> dict:
    """``clients`` pollers, each asking for the job's status every ``period_s``."""
    latencies = sorted(asyncio.run(_pollers(base_url, job_id, clients, seconds, period_s)))
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {
        "requests": len(latencies),
        "clients": clients,
        "period_s": period_s,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(latencies[-1], 2),
    }


def _multipart(size: int, boundary: str, chunk: int = MiB) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < size:
        piece = block[: min(chunk, size - sent)]
        sent += len(piece)
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


def upload_rss(server: Server, size: int) -> dict:
    boundary = "graphoptbenchboundary"
    head = len(next(_multipart(0, boundary)))
    length = head + size + len(f"\r\n--{boundary}--\r\n")
    baseline = rss_bytes(server)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(server))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        response = httpx.post(
            f"{server.base_url}/v1/models",
            content=_multipart(size, boundary),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length),
            },
            timeout=600,
        )
    finally:
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - started
    return {
        "upload_bytes": size,
        "status": response.status_code,
        "error_code": (response.json().get("error") or {}).get("code")
        if response.status_code >= 400
        else None,
        "seconds": round(elapsed, 2),
        "mib_per_s": round(size / MiB / elapsed, 1),
        "rss_before_mib": round(baseline / MiB, 1),
        "rss_peak_mib": round(peak / MiB, 1),
        "rss_growth_mib": round((peak - baseline) / MiB, 1),
    }


def big_model(path: Path, size: int) -> None:
    """A valid model of about ``size`` bytes: ``y = x + ReduceSum(w)``, ``w`` one float32
    initializer."""
    import numpy as np
    from onnx import numpy_helper

    weights = numpy_helper.from_array(np.zeros(size // 4, dtype=np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["w"], ["s"], keepdims=0),
            helper.make_node("Add", ["x", "s"], ["y"]),
        ],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


_SDK_CHILD = """
import json, sys, time
from graphopt_client import Client
def peak():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
url, source, destination = sys.argv[1:4]
result = {"baseline": peak()}
with Client(url, timeout=900) as client:
    started = time.perf_counter()
    model = client.models.upload(source)
    result["upload_s"] = time.perf_counter() - started
    result["after_upload"] = peak()
    started = time.perf_counter()
    client.models.download(model.id, destination)
    result["download_s"] = time.perf_counter() - started
    result["after_download"] = peak()
print(json.dumps(result))
"""


def sdk_streaming(server: Server, size: int, scratch: Path) -> dict:
    source, destination = scratch / "big.onnx", scratch / "big.download.onnx"
    big_model(source, size)
    result = subprocess.run(
        [sys.executable, "-c", _SDK_CHILD, server.base_url, str(source), str(destination)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    measured = json.loads(result.stdout)
    same = destination.stat().st_size == source.stat().st_size
    return {
        "model_bytes": source.stat().st_size,
        "downloaded_identical_size": same,
        "upload_s": round(measured["upload_s"], 2),
        "download_s": round(measured["download_s"], 2),
        "rss_after_import_mib": round(measured["baseline"] / MiB, 1),
        "rss_growth_upload_mib": round((measured["after_upload"] - measured["baseline"]) / MiB, 1),
        "rss_growth_download_mib": round(
            (measured["after_download"] - measured["baseline"]) / MiB, 1
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="small jobs for the overhead")
    parser.add_argument("--waves", type=int, default=10, help="waves of 100 status polls")
    parser.add_argument("--upload-gib", type=float, default=1.0, help="size of the upload")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--parts",
        default="overhead,polls,upload",
        help="comma-separated subset of overhead,polls,upload,client",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    checks: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="graphopt-bench-") as scratch:
        root = Path(scratch)
        server = start_server(
            root / "data",
            root / "data.log",
            workers=args.workers,
            env={"GRAPHOPT_MAX_UPLOAD_BYTES": str(2 * GiB)},
        )
        try:
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                overhead = job_overhead(client, args.jobs if "overhead" in parts else 1)
                job_id = client.get("/v1/jobs", params={"limit": 1}).json()["data"][0]["id"]
            if "overhead" in parts:
                print("job overhead:", json.dumps(overhead), flush=True)
                median = overhead["overhead_median_s"]
                checks[f"overhead median {median} s <= {TARGET_OVERHEAD_S} s"] = (
                    median <= TARGET_OVERHEAD_S
                )
            if "polls" in parts:
                burst = status_polls(server.base_url, job_id, args.waves)
                print("status polls, bursts of 100 at once:", json.dumps(burst), flush=True)
                steady = steady_polls(server.base_url, job_id)
                print("status polls, 100 clients at 1 Hz:", json.dumps(steady), flush=True)
                for label, result in (("bursts of 100", burst), ("100 clients at 1 Hz", steady)):
                    p99 = result["p99_ms"]
                    checks[f"poll p99, {label}, {p99} ms < {TARGET_P99_MS} ms"] = (
                        p99 < TARGET_P99_MS
                    )
            if "upload" in parts:
                upload = upload_rss(server, int(args.upload_gib * GiB))
                print("upload:", json.dumps(upload), flush=True)
                growth = upload["rss_growth_mib"]
                checks[f"upload RSS growth {growth} MiB < 64 MiB"] = growth * MiB < TARGET_RSS_BYTES
            if "client" in parts:
                sdk = sdk_streaming(server, int(args.upload_gib * GiB), Path(scratch))
                print("SDK upload + download:", json.dumps(sdk), flush=True)
                growth = sdk["rss_growth_download_mib"]
                checks[f"SDK RSS growth {growth} MiB < 64 MiB"] = (
                    growth * MiB < TARGET_RSS_BYTES and sdk["downloaded_identical_size"]
                )
        finally:
            server.stop()
    for label, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'} {label}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
