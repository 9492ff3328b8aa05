"""The sandbox on its own: real child processes with real limits."""

from __future__ import annotations

import os
import signal
from typing import Any

from graphopt.jobs.sandbox import Emit, Limits, failure_error, run_sandboxed

GiB = 1 << 30


def hog(payload: dict[str, Any], emit: Emit) -> int:
    """Allocate and touch ``payload["bytes"]`` bytes."""
    emit("allocating")
    return len(bytearray(payload["bytes"]))


def die(payload: dict[str, Any], emit: Emit) -> None:
    os.kill(os.getpid(), payload["signal"])


def test_memory_limit_ends_the_child_as_out_of_memory() -> None:
    messages: list[Any] = []
    outcome = run_sandboxed(
        f"{__name__}:hog",
        {"bytes": 4 * GiB},
        Limits(memory_bytes=2 * GiB),
        on_message=messages.append,
    )
    assert messages == ["allocating"]
    assert outcome.status == "out_of_memory"
    error = failure_error(outcome)
    assert error["code"] == "out_of_memory"
    assert error["detail"]["limit"] == f"address space {2 * GiB} bytes"
    # The same child without the allocation runs fine.
    small = run_sandboxed(f"{__name__}:hog", {"bytes": 1024}, Limits(memory_bytes=2 * GiB))
    assert (small.status, small.value) == ("ok", 1024)


def test_a_signal_ends_the_child_as_crashed() -> None:
    outcome = run_sandboxed(f"{__name__}:die", {"signal": signal.SIGABRT}, Limits())
    assert (outcome.status, outcome.signal) == ("crashed", "SIGABRT")
    assert failure_error(outcome)["message"] == "The sandboxed process died (signal SIGABRT)."
