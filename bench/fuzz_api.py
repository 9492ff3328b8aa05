"""A longer schemathesis run against the live OpenAPI schema of a real ``graphopt serve``.

``python bench/fuzz_api.py [--url URL --api-key KEY] [--examples 100] [--json F]``

Without ``--url`` it starts ``graphopt serve`` with ``GRAPHOPT_AUTH=required`` in a
temporary data directory, creates an admin key and a tenant key, and fuzzes with each key
and without one. Every operation gets ``--examples`` schema-valid and as many
schema-invalid requests (uploads a tenth of that: each is validated in the sandbox).
Reports requests, status codes and every 5xx (a finding; exit status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from load import _free_port


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    graphopt = str(Path(sys.executable).with_name("graphopt"))
    data = root / "data"
    keys = {}
    for name, extra in (("tenant", []), ("admin", ["--admin"])):
        created = subprocess.run(
            [graphopt, "keys", "create", "--tenant", name, "--data-dir", str(data), *extra],
            capture_output=True,
            text=True,
            check=True,
        )
        keys[name] = created.stdout.strip()
    port = _free_port()
    environment = {**os.environ, "GRAPHOPT_AUTH": "required"}
    process = subprocess.Popen(
        [graphopt, "serve", "--port", str(port), "--data-dir", str(data), "--log-level", "error"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, keys
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("graphopt serve did not become ready")


def fuzz(url: str, keys: dict[str, str | None], examples: int) -> dict[str, Any]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    session = requests.Session()
    statuses: Counter[str] = Counter()
    findings: list[str] = []
    started = time.perf_counter()
    for key in keys.values():
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        for result in schema.get_all_operations():
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            count = max(1, examples // 10) if label == "POST /v1/models" else examples
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    strategy = operation.as_strategy(generation_mode=mode)
                except Exception:
                    continue

                @settings(
                    max_examples=count,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def run(case: schemathesis.Case) -> None:
                    headers = {**(case.headers or {}), **auth}  # noqa: B023 (called at once)
                    response = case.call(base_url=url, session=session, headers=headers, timeout=60)
                    statuses[str(response.status_code)] += 1
                    if response.status_code >= 500:
                        findings.append(
                            f"{case.method} {case.path} -> {response.status_code}: "
                            f"{response.text[:300]}"
                        )

                try:
                    run()
                except Unsatisfiable:
                    continue
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    return {
        "requests": total,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(total / elapsed, 1),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": len(findings),
        "findings": findings[:20],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--api-key")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--json")
    args = parser.parse_args()
    process = None
    with tempfile.TemporaryDirectory(prefix="graphopt-fuzz-") as scratch:
        if args.url:
            url, keys = args.url, {"given": args.api_key}
        else:
            process, url, created = start_server(Path(scratch))
            keys = {"none": None, **created}
        try:
            result = fuzz(url, keys, args.examples)
        finally:
            if process is not None:
                process.send_signal(signal.SIGINT)
                process.wait(30)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    sys.exit(1 if result["server_errors"] else 0)


if __name__ == "__main__":
    main()
