"""Rich progress displays on stderr: byte transfers (upload/download) and job progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from graphopt_client.types.event import Event
from graphopt_client.types.job import JobData

stderr = Console(stderr=True)

ByteCallback = Callable[[int], None]
"""Called with the number of bytes just transferred."""


def _ignore(_: int) -> None:
    return None


@contextmanager
def transfer_progress(
    description: str, total_bytes: int | None, enabled: bool
) -> Iterator[ByteCallback]:
    """A byte-transfer bar (size, speed, time left); yields a callback taking byte counts."""
    if not enabled:
        yield _ignore
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total_bytes)

        def advance(n: int) -> None:
            bar.update(task, advance=n)

        yield advance


class JobDisplay:
    """A live line per job: status or stage, current pass, fraction, elapsed time."""

    def __init__(self, bar: Progress, job_id: str) -> None:
        self._bar = bar
        self._task = bar.add_task(job_id, total=1.0, stage="queued")

    def show_event(self, event: Event) -> None:
        """Reflect one job event."""
        progress = event.progress
        if progress is not None:
            label = progress.message or progress.current_pass or progress.stage
            self._bar.update(
                self._task, description=label, stage=progress.stage, completed=progress.fraction
            )
        elif event.status is not None:
            done = event.terminal
            self._bar.update(self._task, stage=event.status, completed=1.0 if done else None)

    def show_job(self, job: JobData) -> None:
        """Reflect a polled job state."""
        if job.progress is not None and not job.done:
            label = job.progress.message or job.progress.current_pass or job.progress.stage
            self._bar.update(
                self._task,
                description=label,
                stage=job.progress.stage,
                completed=job.progress.fraction,
            )
        else:
            self._bar.update(self._task, stage=job.status, completed=1.0 if job.done else None)


@contextmanager
def job_progress(job_id: str, enabled: bool) -> Iterator[JobDisplay | None]:
    """A live job display on stderr (None when disabled)."""
    if not enabled:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[stage]:<9}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        yield JobDisplay(bar, job_id)
