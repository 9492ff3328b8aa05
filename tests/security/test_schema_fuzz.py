"""schemathesis against the live OpenAPI schema: generated requests (valid and invalid by
the schema) to every operation never get a 5xx. Bounded: a few examples per operation,
fewer for uploads (each is validated in the sandbox). The longer run is bench/fuzz_api.py.
"""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from secure_server import SecureServer

EXAMPLES = {"default": 8, "POST /v1/models": 3}


def _strategy(operation: object, mode: GenerationMode) -> st.SearchStrategy | None:
    try:
        return operation.as_strategy(generation_mode=mode)  # type: ignore[attr-defined]
    except Exception:  # an operation with nothing to make invalid
        return None


def test_no_generated_request_gets_a_server_error(secure: SecureServer) -> None:
    base_url = secure.server.base_url
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {secure.keys['admin']}"}
    session = requests.Session()
    server_errors: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        examples = EXAMPLES.get(label, EXAMPLES["default"])
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = _strategy(operation, mode)
            if strategy is None:
                continue

            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                nonlocal calls
                merged = {**(case.headers or {}), **headers}
                response = case.call(base_url=base_url, session=session, headers=merged, timeout=30)
                calls += 1
                if response.status_code >= 500:
                    server_errors.append(
                        f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
                    )

            try:
                run()
            except Unsatisfiable:  # e.g. no invalid request exists for this operation
                continue
    assert calls > 80
    assert server_errors == []
    assert secure.client().get("/healthz").status_code == 200
