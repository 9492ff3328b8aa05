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
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_server import Server, start_server


def start_secured(root: Path) -> tuple[Server, dict[str, str]]:
    """``graphopt serve`` with keys required, and a tenant key and an admin key."""
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
    return start_server(data, root / "serve.log", env={"GRAPHOPT_AUTH": "required"}), keys


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
    server = None
    with tempfile.TemporaryDirectory(prefix="graphopt-fuzz-") as scratch:
        if args.url:
            url, keys = args.url, {"given": args.api_key}
        else:
            server, created = start_secured(Path(scratch))
            url, keys = server.base_url, {"none": None, **created}
        try:
            result = fuzz(url, keys, args.examples)
        finally:
            if server is not None:
                server.stop()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    sys.exit(1 if result["server_errors"] else 0)


if __name__ == "__main__":
    main()
