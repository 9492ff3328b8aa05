"""Progress events emitted by long engine operations (consumed by the CLI and job workers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress update: ``stage`` is one of load, passes, verify, bisect, select, save, profile;
    ``fraction`` is how much of that stage is done (0..1), when it is known."""

    stage: str
    message: str
    fraction: float | None = None
    current_pass: str | None = None


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The default callback: drop every event."""
