"""The remote mode of the ``graphopt`` command (registered by ``graphopt.cli.app``).

``graphopt optimize MODEL --server URL`` (or ``$GRAPHOPT_SERVER``) uploads, follows the job
live, downloads what local mode writes (the model at ``-o``, the memory plan and timeline
and profiling traces beside it, the report at ``--report``) and prints a summary. The
``models`` and ``jobs`` command groups manage what is on the server.

Exit codes are those of local mode (docs/cli.md): 0 done, 1 the server failed or could not
be reached, 3 the server refused the input (a 4xx answer, or a job failed with an engine
error code), 4 the model was written but verification failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from graphopt_client._client import Client
from graphopt_client._exceptions import APIStatusError, GraphoptClientError, JobFailedError
from graphopt_client._optimize import (
    DATA_ARTIFACT,
    MODEL_ARTIFACT,
    check_succeeded,
    data_path,
    place_external_data,
)
from graphopt_client._progress import stderr as err
from graphopt_client._render import (
    headline_lines,
    job_lines,
    jobs_table,
    models_table,
    passes_table,
    summary_table,
)
from graphopt_client.types.job import JobStatus

INTERNAL_ERROR, BAD_INPUT, VERIFICATION_FAILED = 1, 3, 4
REPORT_ARTIFACT = "report.json"
TIMELINE_ARTIFACT = "memory_timeline.png"

out = Console()

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="GRAPHOPT_SERVER",
        help="graphopt server URL [GRAPHOPT_SERVER; default http://127.0.0.1:8000].",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LimitOption = Annotated[int, typer.Option(help="At most this many, newest first.", min=1)]

models_app = typer.Typer(help="Models on a graphopt server.", no_args_is_help=True)
jobs_app = typer.Typer(help="Optimization jobs on a graphopt server.", no_args_is_help=True)


def _fail(error: GraphoptClientError) -> NoReturn:
    if isinstance(error, APIStatusError):
        err.print(f"[red]error\\[{error.code}][/red]: {escape(error.message)}")
        raise typer.Exit(BAD_INPUT if error.status_code < 500 else INTERNAL_ERROR)
    if isinstance(error, JobFailedError):
        err.print(f"[red]error\\[{error.code}][/red]: {escape(error.message)}")
        raise typer.Exit(BAD_INPUT)
    err.print(f"[red]error[/red]: {escape(str(error))}")
    raise typer.Exit(INTERNAL_ERROR)


@contextmanager
def _client(server: str | None) -> Iterator[Client]:
    """A client for ``server``; client errors become messages and exit codes."""
    try:
        with Client(server) as client:
            yield client
    except GraphoptClientError as error:
        _fail(error)


def parse_input_shape(spec: str) -> tuple[str, list[int]]:
    """``NAME=D1xD2x...`` (``NAME=`` for a scalar), as local mode reads it."""
    name, sep, dims = spec.rpartition("=")
    try:
        values = [int(d) for d in dims.lower().split("x")] if dims.strip() else []
    except ValueError:
        values = [-1]
    if not sep or not name or any(v < 0 for v in values):
        raise typer.BadParameter(f"{spec!r} is not NAME=D1xD2x...", param_hint="--input-shape")
    return name, values


@dataclass(frozen=True)
class RemoteOptimize:
    """The flags of ``graphopt optimize``, as the remote mode needs them."""

    model: Path
    output: Path
    pipeline: str | list[str] = "default"
    input_shapes: list[str] = field(default_factory=list)
    pass_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    target: str = "portable"
    verify: bool = True
    atol: float | None = None
    rtol: float | None = None
    profile: bool = False
    profile_runs: int = 50
    tune: bool = False
    threads: int = 1
    prune: list[str] = field(default_factory=list)
    keep_outputs: list[str] = field(default_factory=list)
    memory: str = "auto"
    memory_plot: Path | None = None
    select: bool = False
    select_seconds: float = 10.0
    report: Path | None = None
    as_json: bool = False

    def job_options(self) -> dict[str, Any]:
        """The job's options, as ``POST /v1/jobs`` takes them."""
        verify = {"enabled": self.verify, "atol": self.atol, "rtol": self.rtol}
        options: dict[str, Any] = {
            "input_shapes": dict(parse_input_shape(spec) for spec in self.input_shapes),
            "pass_options": self.pass_options,
            "target": self.target,
            "verify": {k: v for k, v in verify.items() if v is not None},
            "profile": (self.profile or self.tune)
            and {
                "runs": self.profile_runs,
                "session": {"intra_op_threads": self.threads},
                "tune": self.tune,
            },
        }
        if self.prune:
            options["prune"] = self.prune
        if self.keep_outputs:
            options["keep_outputs"] = self.keep_outputs
        if self.memory in ("plan", "schedule") or self.memory_plot is not None:
            options["memory"] = {"schedule": self.memory == "schedule"}
        elif self.memory == "off":
            options["memory"] = False
        if self.select:
            options["select"] = {"max_seconds": self.select_seconds}
        return options

    def destination(self, artifact: str) -> Path | None:
        """Where local mode would have written ``artifact`` (None: not written)."""
        if artifact == MODEL_ARTIFACT:
            return self.output
        if artifact == REPORT_ARTIFACT:
            return self.report
        if artifact == TIMELINE_ARTIFACT and self.memory_plot is not None:
            return self.memory_plot
        if artifact == DATA_ARTIFACT:
            return data_path(self.output)
        return self.output.with_name(artifact)


def optimize_remote(server: str, request: RemoteOptimize) -> None:
    """Run ``graphopt optimize`` on ``server``; raises ``typer.Exit`` with a non-zero code."""
    options = request.job_options()
    with _client(server) as client:
        model = client.models.upload(request.model, progress=True)
        job = client.jobs.create(model, pipeline=request.pipeline, **options)
        job.wait(progress=True)
        check_succeeded(job)
        report = job.report()
        files = {
            artifact.name: client.jobs.download_artifact(job, artifact.name, target, progress=True)
            for artifact in job.artifacts
            if (target := request.destination(artifact.name)) is not None
        }
        place_external_data(files)
    if request.as_json:
        out.print_json(report.model_dump_json())
    else:
        out.print(summary_table(report))
        out.print(passes_table(report))
        for line in headline_lines(report):
            out.print(line)
        out.print(f"written: {request.output}  (job {job.id} on {client.base_url})")
    if report.verification.status == "failed":
        raise typer.Exit(VERIFICATION_FAILED)


@models_app.command("list")
def list_models(
    server: ServerOption = None, limit: LimitOption = 100, as_json: JsonOption = False
) -> None:
    """List the models on the server."""
    with _client(server) as client:
        models = client.models.list(limit=limit)
    if as_json:
        out.print_json(data=[m.model_dump(mode="json") for m in models])
    else:
        out.print(models_table(models))


@models_app.command("show")
def show_model(model_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one model: file, inputs, outputs, statistics."""
    with _client(server) as client:
        model = client.models.get(model_id)
    if as_json:
        out.print_json(model.model_dump_json())
        return
    out.print(models_table([model]))
    for kind, specs in (("input", model.inputs), ("output", model.outputs)):
        for spec in specs:
            shape = "x".join("?" if d is None else str(d) for d in spec.shape or [])
            out.print(f"{kind} {escape(spec.name)}: {spec.dtype or '?'} [{shape or 'scalar'}]")
    ops = ", ".join(
        f"{op} {n}" for op, n in sorted(model.op_histogram.items(), key=lambda kv: -kv[1])
    )
    out.print(f"opset {model.opset}, IR {model.ir_version}; ops: {ops}")


@models_app.command("delete")
def delete_model(model_id: str, server: ServerOption = None) -> None:
    """Delete a model with its finished jobs and their artifacts."""
    with _client(server) as client:
        client.models.delete(model_id)
    out.print(f"deleted: {model_id}")


@jobs_app.command("list")
def list_jobs(
    server: ServerOption = None,
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's jobs.")] = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    with _client(server) as client:
        jobs = client.jobs.list(status=_status(status), model=model, limit=limit)
    if as_json:
        out.print_json(data=[j.model_dump(mode="json") for j in jobs])
    else:
        out.print(jobs_table(jobs))


def _status(value: str | None) -> JobStatus | None:
    allowed: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"not one of {', '.join(allowed)}", param_hint="--status")
    return next((s for s in allowed if s == value), None)


@jobs_app.command("show")
def show_job(job_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one job: status, progress, error, artifacts."""
    with _client(server) as client:
        job = client.jobs.get(job_id)
    if as_json:
        out.print_json(job.model_dump_json())
        return
    out.print(jobs_table([job]))
    for line in job_lines(job):
        out.print(line)


@jobs_app.command("cancel")
def cancel_job(job_id: str, server: ServerOption = None) -> None:
    """Cancel a job (a finished job is left as it is)."""
    with _client(server) as client:
        job = client.jobs.cancel(job_id)
    out.print(f"{job.id}: {'cancel requested' if job.cancel_requested else job.status}")


@jobs_app.command("download")
def download_job(
    job_id: str,
    server: ServerOption = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to write to.")] = Path(),
    name: Annotated[list[str] | None, typer.Option(help="Only this artifact (repeatable).")] = None,
) -> None:
    """Download a finished job's artifacts into a directory."""
    with _client(server) as client:
        files = client.jobs.download(job_id, output, names=name, progress=True)
    for artifact, path in files.items():
        out.print(f"{artifact}: {path}")
