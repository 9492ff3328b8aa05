"""ONNX conformance through the default pipeline (see harness.py for the rules)."""

from __future__ import annotations

import pytest
from harness import Case, collect_cases, run_case

CASES = collect_cases()


@pytest.mark.conformance
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case: Case, record_property: pytest.RecordProperty) -> None:
    outcome = run_case(case)
    record_property("rolled_back", ",".join(outcome.rolled_back))
    if outcome.status == "skipped":
        pytest.skip(outcome.detail)
    assert outcome.status == "passed", outcome.detail
