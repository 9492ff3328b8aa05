"""Rich consoles and the progress display shared by long-running commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from graphopt.engine.progress import Progress as EngineProgress

out = Console()
err = Console(stderr=True)


@contextmanager
def engine_progress(title: str) -> Iterator[object]:
    """A rich progress bar on stderr; yields a callback for engine progress events."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[stage]:<8}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(title, total=1.0, stage="start")

        def update(event: EngineProgress) -> None:
            bar.update(
                task,
                description=event.message,
                stage=event.stage,
                completed=event.fraction if event.fraction is not None else None,
            )

        yield update
