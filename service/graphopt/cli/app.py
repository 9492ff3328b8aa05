"""The ``graphopt`` command: local engine commands (``optimize``, ``inspect``, ``graph``,
``passes``). See docs/cli.md for flags and exit codes."""

from __future__ import annotations

import gc
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape

from graphopt.cli import exit_codes
from graphopt.cli.console import engine_progress, err, out
from graphopt.cli.keys import keys_app
from graphopt.cli.serve import db_app, serve, worker
from graphopt_client.cli import RemoteOptimize, jobs_app, models_app, optimize_remote

if TYPE_CHECKING:
    from graphopt.engine import GraphoptError

app = typer.Typer(
    name="graphopt",
    help="Optimize ONNX models: fusion, pruning and memory planning, verified with onnxruntime.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

InputShapeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input-shape",
        help="Pin an input's shape: NAME=D1xD2x... (repeatable).",
        metavar="NAME=DxD",
    ),
]


class GraphFormat(StrEnum):
    node_link = "node-link"
    graphml = "graphml"


class MemoryMode(StrEnum):
    auto = "auto"
    off = "off"
    plan = "plan"
    schedule = "schedule"


def _engine() -> Any:
    """Import the engine, or exit with a clear message when it is not installed."""
    try:
        import graphopt.engine as engine
    except ImportError as exc:
        err.print(
            f"[red]error\\[engine_missing][/red]: the optimization engine is not installed "
            f"({exc.name} is missing): pip install 'graphopt\\[engine]'"
        )
        raise typer.Exit(exit_codes.ENGINE_MISSING) from None
    from graphopt.engine.process_settings import apply_process_settings

    apply_process_settings()
    return engine


def _fail(error: GraphoptError) -> NoReturn:
    err.print(f"[red]error\\[{error.code}][/red]: {escape(error.message)}")
    raise typer.Exit(exit_codes.BAD_INPUT)


def _shapes(engine: Any, specs: list[str] | None) -> dict[str, list[int]]:
    return dict(engine.parse_input_shape(spec) for spec in specs or [])


def _pass_options(specs: list[str] | None) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for spec in specs or []:
        key, sep, raw = spec.partition("=")
        pass_name, dot, option = key.partition(".")
        if not (sep and dot and pass_name and option):
            raise typer.BadParameter(
                f"{spec!r} is not PASS.OPTION=VALUE", param_hint="--pass-option"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(pass_name, {})[option] = value
    return options


def _memory_options(mode: MemoryMode, plot: Path | None) -> Any:
    if mode is MemoryMode.off and plot is None:
        return None
    from graphopt.engine.memory.models import MemoryOptions

    if mode is MemoryMode.auto and plot is None:
        return MemoryOptions.automatic()
    return MemoryOptions(schedule=mode is MemoryMode.schedule, plot=plot)


def _default_output(model: Path) -> Path:
    if model.suffix == ".onnx":
        return model.with_name(f"{model.stem}.opt.onnx")
    return Path.cwd() / f"{model.name.split('.')[0]}.opt.onnx"


@app.command()
def optimize(
    model: Annotated[
        Path, typer.Argument(help="An .onnx file, or a bundle (directory, .zip, .tar).")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the optimized model.")
    ] = None,
    pipeline: Annotated[str, typer.Option(help="Preset pipeline name.")] = "default",
    passes: Annotated[
        str | None, typer.Option(help="Comma-separated pass names to run instead of a preset.")
    ] = None,
    input_shape: InputShapeOption = None,
    inputs: Annotated[
        Path | None, typer.Option(help="Verification inputs: .npz keyed by input name.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    verify: Annotated[
        bool, typer.Option(help="Verify against the original with onnxruntime.")
    ] = True,
    target: Annotated[str, typer.Option(help="portable or onnxruntime.")] = "portable",
    pass_option: Annotated[
        list[str] | None,
        typer.Option(help="PASS.OPTION=VALUE (JSON value), repeatable.", metavar="PASS.OPT=V"),
    ] = None,
    atol: Annotated[
        float | None, typer.Option(help="Absolute tolerance (default by dtype).")
    ] = None,
    rtol: Annotated[
        float | None, typer.Option(help="Relative tolerance (default by dtype).")
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            help="Profile original vs optimized with onnxruntime (latency, ops, memory); "
            "Chrome traces are written beside the output."
        ),
    ] = False,
    profile_runs: Annotated[int, typer.Option(help="Timed runs per model.", min=1)] = 50,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune",
            help="Also sweep intra-op threads and sequential/parallel execution on the "
            "optimized model and recommend the fastest session settings (implies --profile).",
        ),
    ] = False,
    threads: Annotated[
        int, typer.Option(help="onnxruntime intra-op threads for profiling (0: all).", min=0)
    ] = 1,
    prune: Annotated[
        list[str] | None,
        typer.Option(
            help="Pruning spec, repeatable: structured:RATIO, unstructured:SPARSITY, nm:N:M "
            "(lossy; the report's pruning section shows the cost).",
            metavar="SPEC",
        ),
    ] = None,
    keep_outputs: Annotated[
        str | None,
        typer.Option(help="Comma-separated graph outputs to keep; the rest is pruned away."),
    ] = None,
    memory: Annotated[
        MemoryMode,
        typer.Option(
            help="Plan activation memory (plan), also reorder nodes to lower the peak "
            "(schedule), or not (off); auto plans, without writing files, when every "
            "activation has a static size. Needs static shapes: pin inputs with --input-shape.",
        ),
    ] = MemoryMode.auto,
    memory_plot: Annotated[
        Path | None,
        typer.Option(help="Write the memory timeline PNG here (implies --memory plan)."),
    ] = None,
    select: Annotated[
        bool,
        typer.Option(
            help="Time candidate pipelines (the original included) with the profiling "
            "session and keep the fastest verified one (docs/report.md, selection)."
        ),
    ] = True,
    select_seconds: Annotated[
        float, typer.Option(help="Time budget of --select, in seconds.", min=0.1)
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    server: Annotated[
        str | None,
        typer.Option(
            envvar="GRAPHOPT_SERVER",
            help="Optimize on this graphopt server instead of in this process [GRAPHOPT_SERVER].",
        ),
    ] = None,
) -> None:
    """Optimize MODEL in this process (or on --server), verify it, and write the result."""
    destination = output or _default_output(model)
    if server:
        if inputs is not None:
            raise typer.BadParameter("is not supported with --server", param_hint="--inputs")
        request = RemoteOptimize(
            model=model,
            output=destination,
            pipeline=[p.strip() for p in passes.split(",") if p.strip()] if passes else pipeline,
            input_shapes=input_shape or [],
            pass_options=_pass_options(pass_option),
            target=target,
            verify=verify,
            atol=atol,
            rtol=rtol,
            profile=profile,
            profile_runs=profile_runs,
            tune=tune,
            threads=threads,
            prune=prune or [],
            keep_outputs=[o.strip() for o in (keep_outputs or "").split(",") if o.strip()],
            memory=memory.value,
            memory_plot=memory_plot,
            select=select,
            select_seconds=select_seconds,
            report=report,
            as_json=as_json,
        )
        optimize_remote(server, request)
        return
    engine = _engine()
    try:
        options = engine.OptimizeOptions(
            pipeline=[p.strip() for p in passes.split(",") if p.strip()] if passes else pipeline,
            pass_options=_pass_options(pass_option),
            input_shapes=_shapes(engine, input_shape),
            target=target,
            verify=engine.VerifyOptions(enabled=verify, inputs=inputs, atol=atol, rtol=rtol),
            profile=engine.ProfileOptions(
                enabled=profile,
                runs=profile_runs,
                tune=tune,
                session=engine.SessionConfig(intra_op_threads=threads),
            ),
            prune=prune or [],
            keep_outputs=[o.strip() for o in (keep_outputs or "").split(",") if o.strip()],
            memory=_memory_options(memory, memory_plot),
            select=engine.SelectOptions(enabled=select, max_seconds=select_seconds),
        )
        with engine_progress("optimizing") as progress:
            result = engine.optimize(model, options, output=destination, progress=progress)
    except engine.GraphoptError as error:
        _fail(error)
    except ValueError as error:  # pydantic validation of the options
        raise typer.BadParameter(str(error)) from None
    with result:
        final = result.report
        if report is not None:
            report.write_text(final.model_dump_json(indent=2))
        if as_json:
            out.print_json(final.model_dump_json())
        else:
            _print_summary(final)
    if final.verification.status == "failed" and not final.verification.lossy_requested:
        raise typer.Exit(exit_codes.VERIFICATION_FAILED)


def _print_summary(report: Any) -> None:
    from graphopt.cli.render import (
        passes_table,
        profile_table,
        selection_line,
        stats_table,
        tuning_table,
        verification_lines,
    )

    out.print(stats_table(report.original, report.optimized))
    if report.passes:
        out.print(passes_table(report.passes))
    else:
        out.print("passes: none applied (the written model is the original)")
    for line in verification_lines(report):
        out.print(line)
    if report.profile is not None:
        out.print(profile_table(report.profile))
        if report.profile.tuning is not None:
            out.print(tuning_table(report.profile.tuning))
    if report.selection is not None:
        out.print(selection_line(report.selection))
    if report.pruning is not None:
        pruning = report.pruning
        statuses = [g.status for g in pruning.groups]
        out.print(
            f"pruning: params {pruning.params_before:,} -> {pruning.params_after:,}, "
            f"MACs {pruning.macs_before:,} -> {pruning.macs_after:,}, channel groups "
            f"pruned {statuses.count('pruned')} / skipped {statuses.count('skipped')}"
        )
        if pruning.layers:
            zeros = sum(layer.zeros_after for layer in pruning.layers)
            elements = sum(layer.elements for layer in pruning.layers)
            out.print(
                f"sparsity: {zeros:,} of {elements:,} weights zero; gzip size "
                f"{pruning.gzip_bytes_before:,} -> {pruning.gzip_bytes_after:,} bytes "
                "(dense kernels: no speed-up)"
            )
    if report.memory is not None:
        memory, mib = report.memory, 1 << 20
        out.print(
            f"memory: arena {memory.arena_bytes / mib:.2f} MiB (lower bound "
            f"{memory.lower_bound_bytes / mib:.2f}, no reuse {memory.naive_bytes / mib:.2f}); "
            f"peak {memory.schedule.peak_before / mib:.2f} -> "
            f"{memory.schedule.peak_after / mib:.2f} MiB ({memory.schedule.method}); "
            f"in place {memory.in_place}; unplanned {len(memory.unplanned)}"
        )
        for name, path in memory.artifacts.items():
            out.print(f"{name}: {path}")
    for warning in report.warnings:
        out.print(f"[yellow]warning\\[{warning.code}][/yellow]: {escape(warning.message)}")
    if report.output is not None:
        data = f" (+ {report.output.data_path})" if report.output.data_path else ""
        out.print(f"written: {report.output.path}{data}  in {report.timings.total_ms / 1000:.2f} s")


@app.command()
def inspect(
    model: Annotated[Path, typer.Argument(help="An .onnx file or a bundle.")],
    input_shape: InputShapeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show MODEL's inputs, outputs and graph statistics."""
    engine = _engine()
    try:
        with engine.load_model(model) as loaded:
            info = engine.model_info(loaded)
            stats = engine.model_stats(loaded.model, _shapes(engine, input_shape))
    except engine.GraphoptError as error:
        _fail(error)
    if as_json:
        out.print_json(
            json.dumps(
                {"model": info.model_dump(mode="json"), "stats": stats.model_dump(mode="json")}
            )
        )
        return
    from graphopt.cli.render import io_table, ops_table, stats_table

    out.print(io_table(info))
    out.print(stats_table(stats))
    out.print(ops_table(stats))


@app.command()
def graph(
    model: Annotated[Path, typer.Argument(help="An .onnx file or a bundle.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: Annotated[
        GraphFormat, typer.Option("--format", help="Export format.")
    ] = GraphFormat.node_link,
) -> None:
    """Export MODEL's networkx graph view as node-link JSON or GraphML."""
    engine = _engine()
    try:
        with engine.load_model(model) as loaded:
            engine.infer_shapes(loaded.model)
            view = engine.build_view(loaded.model)
    except engine.GraphoptError as error:
        _fail(error)
    if fmt is GraphFormat.graphml:
        engine.write_graphml(view, output)
    else:
        output.write_text(json.dumps(engine.to_node_link(view)))
    out.print(f"written: {output} ({view.number_of_nodes()} nodes, {view.number_of_edges()} edges)")


@app.command("passes")
def list_passes(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered passes and the preset pipelines."""
    engine = _engine()
    rows = [
        {
            "name": cls.name,
            "family": str(cls.family),
            "lossless": cls.lossless,
            "summary": cls.summary(),
            "options": cls.Options.model_json_schema().get("properties", {}),
        }
        for cls in engine.registered_passes()
    ]
    if as_json:
        presets = {name: p.pass_names() for name, p in engine.PRESETS.items()}
        out.print_json(json.dumps({"passes": rows, "presets": presets}))
        return
    from rich.table import Table

    table = Table(title="Registered passes")
    for column in ("name", "family", "lossless", "contract"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"], row["family"], "yes" if row["lossless"] else "no", row["summary"]
        )
    out.print(table)
    for name, pipeline in engine.PRESETS.items():
        out.print(f"[bold]{name}[/bold]: {', '.join(pipeline.pass_names())}")


app.command()(serve)
app.command()(worker)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    finally:
        # Exit without the interpreter's last collection walking a large model's millions of
        # objects (seconds); the OS frees them at once. Exit handlers still run.
        gc.freeze()
