"""Prints the conformance closing summary: ``conformance: N passed, M failed``."""

from __future__ import annotations

import pytest

_OUTCOMES: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}
_ROLLED_BACK: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "conformance" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _OUTCOMES[report.outcome] += 1
        rolled = dict(report.user_properties).get("rolled_back")
        if rolled:
            _ROLLED_BACK.append(f"{report.head_line}: {rolled}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(_OUTCOMES.values()):
        return
    terminalreporter.section("conformance")
    for line in _ROLLED_BACK:
        terminalreporter.write_line(f"rolled back: {line}")
    terminalreporter.write_line(
        f"{_OUTCOMES['skipped']} skipped (onnxruntime cannot run the original model)"
    )
    terminalreporter.write_line(f"{_OUTCOMES['passed']} passed, {_OUTCOMES['failed']} failed")
