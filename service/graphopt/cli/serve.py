"""``graphopt serve``: the API (uvicorn) and its supervised job workers in one command.

Ctrl-C (SIGINT) and SIGTERM stop uvicorn gracefully, then the workers (SIGTERM; each kills
its running job's sandboxed process, and the job is re-queued at the next start).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from graphopt.cli import exit_codes
from graphopt.cli.console import err

SHUTDOWN_GRACE_S = 5
"""How long open requests (event streams included) may delay a shutdown."""


def server_missing(module: str | None) -> NoReturn:
    """Exit with the message for a command that needs the ``server`` extra."""
    err.print(
        f"[red]error\\[server_missing][/red]: the service is not installed "
        f"({module} is missing): pip install 'graphopt\\[server]'"
    )
    raise typer.Exit(exit_codes.ENGINE_MISSING)


def auth_banner(settings: Any, keys_exist: bool) -> str:
    """One line saying whether requests need an API key, and why."""
    if settings.auth_required:
        line = "auth: required (Authorization: Bearer KEY)"
        if not keys_exist:
            line += "; no key exists yet: graphopt keys create --tenant NAME"
        return line
    if settings.loopback:
        return f"auth: off (bound to {settings.host}: only this machine can connect)"
    return (
        f"[yellow]auth: off on {settings.host} (--insecure): anyone who can reach this "
        "address can upload models and run jobs[/yellow]"
    )


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
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow running without API keys on a non-loopback address [GRAPHOPT_INSECURE].",
        ),
    ] = False,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Run only the API (and the reaper): jobs run on `graphopt worker` processes "
            "sharing the queue, database and blob store (docs/deploy.md).",
        ),
    ] = False,
) -> None:
    """Start the HTTP API and its job workers (embedded default: SQLite + local files)."""
    # SIGTERM acts like Ctrl-C, also when uvicorn re-raises it after its own shutdown.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        from graphopt.settings import Settings

        given = {"host": host, "port": port, "workers": workers, "data_dir": data_dir}
        overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if insecure:
            overrides["insecure"] = True
        settings = Settings(**overrides)
        if not settings.auth_required and not settings.loopback and not settings.insecure:
            err.print(
                f"[red]error\\[insecure_bind][/red]: GRAPHOPT_AUTH=off on {settings.host}, "
                "which other machines can reach: give --insecure to run without API keys anyway"
            )
            raise typer.Exit(exit_codes.USAGE)
        import uvicorn

        from graphopt.api.app import create_app
        from graphopt.jobs.confinement import confine_to_data_dir
        from graphopt.jobs.retention import RetentionTimer
        from graphopt.jobs.supervisor import WorkerPool, exit_now
        from graphopt.store.api_keys import any_key
    except ImportError as exc:
        server_missing(exc.name)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings.prepare()
    confine_to_data_dir(settings)
    app = create_app(settings)
    services = app.state.services
    pool = WorkerPool(settings, services.db, services.queue)
    if no_worker:
        pool.size = 0
    pool.retention = RetentionTimer(
        services.db, services.blobs, settings.artifact_ttl_s, settings.cleanup_interval_s
    )
    gc.freeze()  # the imported modules are permanent: faster collections, and a fast exit
    try:
        pool.start()
        err.print(
            f"graphopt {app.version}: http://{settings.host}:{settings.port} "
            f"(docs at /docs), {pool.size} worker(s), data in {settings.data_dir}"
        )
        err.print(auth_banner(settings, any_key(services.db)))
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


def worker(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Scratch space and local state [GRAPHOPT_DATA_DIR]."),
    ] = None,
) -> None:
    """Run one job worker, no API: it takes jobs from the queue that GRAPHOPT_QUEUE_URL,
    GRAPHOPT_DATABASE_URL and GRAPHOPT_BLOB_URL name, on any machine (docs/deploy.md).
    Run as many as you like; SIGTERM stops it (its running job is re-queued)."""
    missing = next(
        (name for name in ("huey", "sqlalchemy", "onnxruntime") if find_spec(name) is None), None
    )
    if missing is not None:
        server_missing(missing)
    if data_dir is not None:
        os.environ["GRAPHOPT_DATA_DIR"] = str(data_dir)
    # Become `python -m graphopt.jobs.worker` (same pid): each job's sandboxed child re-runs
    # the main module, and only a module main is preloaded by the fork server (this console
    # script would be re-imported by every child, about a second each; Python 3.11's
    # forkserver never preloads a main given by path).
    os.execv(sys.executable, [sys.executable, "-m", "graphopt.jobs.worker"])


db_app = typer.Typer(
    help="The service database: schema migrations (Alembic).", no_args_is_help=True
)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Migrate GRAPHOPT_DATABASE_URL to the newest schema (also done at every start)."""
    try:
        from graphopt.settings import Settings
        from graphopt.store import migrations
        from graphopt.store.db import Database
    except ImportError as exc:
        server_missing(exc.name)
    settings = Settings()
    settings.prepare()
    db = Database(settings.resolved_database_url)
    try:
        migrations.upgrade(db.engine, revision)
        err.print(f"database at revision {migrations.current(db.engine)}")
    finally:
        db.dispose()
