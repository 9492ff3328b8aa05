"""``graphopt serve``: the API (uvicorn) and its supervised job workers in one command.

Ctrl-C (SIGINT) and SIGTERM stop uvicorn gracefully, then the workers (SIGTERM; each kills
its running job's sandboxed process, and the job is re-queued at the next start).
"""

from __future__ import annotations

import gc
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from graphopt.cli import exit_codes
from graphopt.cli.console import err

SHUTDOWN_GRACE_S = 5
"""How long open requests (event streams included) may delay a shutdown."""


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [GRAPHOPT_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [GRAPHOPT_PORT].")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Job worker processes [GRAPHOPT_WORKERS].")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Database, blobs and queue live here [GRAPHOPT_DATA_DIR]."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Start the HTTP API and its job workers (embedded default: SQLite + local files)."""
    # SIGTERM acts like Ctrl-C, also when uvicorn re-raises it after its own shutdown.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        import uvicorn

        from graphopt.api.app import create_app
        from graphopt.jobs.supervisor import WorkerPool, exit_now
        from graphopt.settings import Settings
    except ImportError as exc:
        err.print(
            f"[red]error\\[server_missing][/red]: the service is not installed "
            f"({exc.name} is missing): pip install 'graphopt\\[server]'"
        )
        raise typer.Exit(exit_codes.ENGINE_MISSING) from None
    given = {"host": host, "port": port, "workers": workers, "data_dir": data_dir}
    overrides: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)
    services = app.state.services
    pool = WorkerPool(settings, services.db, services.queue)
    gc.freeze()  # the imported modules are permanent: faster collections, and a fast exit
    try:
        pool.start()
        err.print(
            f"graphopt {app.version}: http://{settings.host}:{settings.port} "
            f"(docs at /docs), {settings.workers} worker(s), data in {settings.data_dir}"
        )
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop()
    exit_now()
