"""The optimization driver: load -> pipeline -> verify (bisect, roll back) -> save -> report.

Contract of :func:`optimize`:

- the original model is never modified; every attempt runs the pipeline on a fresh clone;
- a pass that raises is removed from the pipeline and the pipeline re-run without it
  (``reason="exception"``);
- when verification is on and possible, a candidate whose outputs differ from the
  original's is bisected: pipeline prefixes are re-run until the first pass application
  that breaks equivalence is found; that pass is removed and the pipeline re-run without it
  (``reason="mismatch"``), until a candidate passes. A lossy pass is never removed for a
  mismatch: its error is reported (``verification.passed`` false);
- if onnxruntime cannot run the original, the pipeline still runs and the report says why
  verification was not possible;
- invalid caller input (model, shapes, pass names, options) raises :class:`GraphoptError`;
  nothing else does: every other failure ends up in the report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import onnx_ir as ir

from graphopt import __version__
from graphopt.engine.errors import Diagnostic, ErrorCode, GraphoptError, WarningCode
from graphopt.engine.graph_view.stats import compute_stats
from graphopt.engine.inspection import model_info, model_stats
from graphopt.engine.intake import LoadedModel, ModelSource, load_model
from graphopt.engine.memory.planner import memory_section
from graphopt.engine.model_io import save_model
from graphopt.engine.options import OptimizeOptions
from graphopt.engine.passes import (
    PassContext,
    PassCrash,
    Pipeline,
    PipelineRun,
    custom_pipeline,
    pass_class,
    preset,
    run_pipeline,
)
from graphopt.engine.passes.pipeline import PassStep, step
from graphopt.engine.profiling.profile import ProfileReport
from graphopt.engine.profiling.stage import profile_inputs, profile_models
from graphopt.engine.progress import Progress, ProgressCallback, ignore_progress
from graphopt.engine.pruning.report import DETAILS_KEY as PRUNING_DETAILS
from graphopt.engine.pruning.report import PruningDetails
from graphopt.engine.pruning.specs import parse_prune_spec
from graphopt.engine.pruning.summary import pruning_report
from graphopt.engine.report import (
    DiagnosticModel,
    OutputComparison,
    OutputFile,
    PipelineInfo,
    Report,
    RolledBack,
    Selection,
    Timings,
    Verification,
)
from graphopt.engine.selection import Built, Cost, Variant, base_variants, rule_text, select
from graphopt.engine.shapes import check_input_shapes
from graphopt.engine.verify.compare import DEFAULT_TOLERANCES
from graphopt.engine.verify.inputs import InputSet
from graphopt.engine.verify.verifier import CheckResult, Verifier


@dataclass
class OptimizeResult:
    """The report, the optimized model, and where it was written.

    ``model`` may memory-map the source's external data: it stays valid until
    :meth:`close` (or the end of a ``with`` block).
    """

    report: Report
    model: ir.Model
    output: Path | None
    resources: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        self.resources.close()

    def __enter__(self) -> OptimizeResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_pipeline(options: OptimizeOptions) -> Pipeline:
    """The pipeline the options name, with shape pinning added when shapes are pinned."""
    if isinstance(options.pipeline, str):
        pipeline = preset(options.pipeline)
    else:
        pipeline = custom_pipeline(options.pipeline)
    if options.input_shapes and "shape_specialization" not in pipeline.pass_names():
        pipeline = Pipeline(
            name=pipeline.name, steps=[step("shape_specialization"), *pipeline.steps]
        )
    if options.keep_outputs:
        keep = step("keep_outputs", outputs=options.keep_outputs)
        pipeline = Pipeline(name=pipeline.name, steps=[keep, *pipeline.steps])
    if options.prune:
        pruning = [step(name, **opts) for name, opts in map(parse_prune_spec, options.prune)]
        tail = [step("dead_code_elimination"), step("shape_inference")]
        pipeline = Pipeline(name=pipeline.name, steps=[*pipeline.steps, *pruning, *tail])
    scheduling = _memory_step(options)
    if scheduling is not None and "memory_schedule" not in pipeline.pass_names():
        pipeline = Pipeline(name=pipeline.name, steps=[*pipeline.steps, scheduling])
    return pipeline.validate_names()


def _memory_step(options: OptimizeOptions) -> PassStep | None:
    """The memory-scheduling step the options ask for, if any."""
    memory = options.memory
    if memory and memory.enabled and memory.schedule:
        return step(
            "memory_schedule",
            alignment=memory.alignment,
            in_place=memory.in_place,
            time_budget_s=memory.time_budget_s,
        )
    return None


def _pass_options(options: OptimizeOptions) -> dict[str, dict[str, Any]]:
    merged = {name: dict(values) for name, values in options.pass_options.items()}
    for name in merged:
        pass_class(name)
    if options.input_shapes:
        merged.setdefault("shape_specialization", {})["input_shapes"] = options.input_shapes
    return merged


class _Attempts:
    """Runs the pipeline on clones of the original, excluding passes found at fault."""

    def __init__(
        self,
        original: ir.Model,
        pipeline: Pipeline,
        options: OptimizeOptions,
        progress: ProgressCallback,
        excluded: frozenset[str] = frozenset(),
    ) -> None:
        self.original = original
        self.pipeline = pipeline
        self.pass_options = _pass_options(options)
        self.target = options.target
        self.progress = progress
        self.excluded: set[str] = set(excluded)
        self.lossy_failure = False
        """set when the run's check failed only because of a lossy pass (kept, on request)"""
        self.rolled_back: list[RolledBack] = []
        self.warnings: list[Diagnostic] = []
        self.details: dict[str, Any] = {}
        self._ready: tuple[ir.Model, PipelineRun] | None = None

    def prefetch(self) -> None:
        """Run the whole pipeline now; the next whole :meth:`run` returns this run."""
        self._ready = self.run()

    def run(self, max_applications: int | None = None) -> tuple[ir.Model, PipelineRun]:
        """One pipeline run on a fresh clone; passes that raise are excluded and retried."""
        if max_applications is None and self._ready is not None:
            ready, self._ready = self._ready, None
            return ready
        while True:
            candidate = self.original.clone()
            ctx = PassContext(target=self.target)
            try:
                run = run_pipeline(
                    candidate,
                    self.pipeline,
                    ctx,
                    pass_options=self.pass_options,
                    exclude=self.excluded,
                    max_applications=max_applications,
                    progress=self.progress if max_applications is None else ignore_progress,
                )
            except PassCrash as crash:
                if isinstance(crash.cause, GraphoptError):
                    raise crash.cause from None
                self.exclude(crash.pass_name, "exception", str(crash))
                continue
            if max_applications is None:
                self.warnings.extend(ctx.warnings)
                self.details = ctx.details
            return candidate, run

    def exclude(
        self,
        name: str,
        reason: Literal["mismatch", "exception"],
        error: str,
        outputs: list[OutputComparison] | None = None,
    ) -> None:
        self.excluded.add(name)
        self.rolled_back.append(
            RolledBack(name=name, reason=reason, error=error, outputs=outputs or [])
        )
        code = WarningCode.PASS_FAILED if reason == "exception" else WarningCode.PASS_ROLLED_BACK
        self.warnings.append(
            Diagnostic(
                code, f"Pass {name!r} was rolled back: {error}", {"pass": name, "reason": reason}
            )
        )


def _failure_summary(result: CheckResult) -> str:
    if result.error:
        return result.error
    bad = [o for o in result.outputs if not o.passed]
    worst = ", ".join(f"{o.name} ({_difference(o)})" for o in bad[:3])
    return f"outputs differ from the original: {worst}"


def _difference(output: OutputComparison) -> str:
    if output.dtype is None:
        return "missing on one side"
    if not (output.shape_match and output.dtype_match):
        return "shape differs" if output.dtype_match else "dtype differs"
    return f"max_abs={output.max_abs}, mismatched={output.mismatched}"


def _bisect(
    attempts: _Attempts,
    verifier: Verifier,
    applications: int,
    failing: CheckResult,
    first_lossy: int | None = None,
) -> tuple[int, CheckResult]:
    """The 1-based number of the first pass application after which the check fails, and
    the failed check of that prefix (``failing``, the full run's check, when it is the last).

    ``first_lossy`` (1-based application of the first lossy pass) is probed first, with the
    prefix just before it: two checks when the lossy pass is the culprit, as it usually is.
    """
    good, bad = 0, applications
    hints = [] if first_lossy is None else [first_lossy - 1, first_lossy]
    while bad - good > 1:
        middle = next((h for h in hints if good < h < bad), (good + bad) // 2)
        hints = [h for h in hints if h != middle]
        attempts.progress(Progress("bisect", f"checking the first {middle} pass applications"))
        candidate, _ = attempts.run(max_applications=middle)
        result = verifier.check(candidate)
        verifier.discard(result)
        if result.passed:
            good = middle
        else:
            bad, failing = middle, result
    return bad, failing


def _verify_loop(
    attempts: _Attempts, verifier: Verifier
) -> tuple[ir.Model, PipelineRun, CheckResult | None, str | None]:
    """Run, check, bisect and roll back until a candidate passes (see module contract)."""
    attempts.progress(Progress("passes", "running the pipeline", 0.0))
    candidate, run = attempts.run()
    checked_baseline = False
    while True:
        attempts.progress(Progress("verify", "comparing with the original"))
        result = verifier.check(candidate)
        if result.passed:
            return candidate, run, result, None
        summary = _failure_summary(result)
        if not checked_baseline:
            checked_baseline = True
            baseline = verifier.check(attempts.original.clone())
            verifier.discard(baseline)
            if not baseline.passed:
                reason = (
                    "the unmodified model does not reproduce its own outputs: "
                    + _failure_summary(baseline)
                )
                return candidate, run, result, reason
        if not run.records:
            return candidate, run, result, summary
        lossy = [i for i, record in enumerate(run.records, 1) if not record.lossless]
        application, failing = _bisect(
            attempts, verifier, run.applications, result, lossy[0] if lossy else None
        )
        culprit = run.records[application - 1]
        culprit_error = _failure_summary(failing)  # what the culprit alone broke
        if not culprit.lossless:  # kept: the full run's candidate and check stand
            attempts.lossy_failure = True
            return candidate, run, result, f"lossy pass {culprit.name!r}: {culprit_error}"
        verifier.discard(result)
        attempts.exclude(culprit.name, "mismatch", culprit_error, failing.outputs)
        attempts.progress(Progress("passes", f"re-running without {culprit.name}"))
        candidate, run = attempts.run()


def optimize(
    source: ModelSource | LoadedModel,
    options: OptimizeOptions | None = None,
    *,
    output: Path | None = None,
    progress: ProgressCallback = ignore_progress,
) -> OptimizeResult:
    """Optimize a model (see module contract); write it to ``output`` when given."""
    options = options or OptimizeOptions()
    started = time.perf_counter()
    timings = Timings()
    with ExitStack() as resources:
        if isinstance(source, LoadedModel):
            loaded = source
        else:
            progress(Progress("load", "loading and validating the model"))
            loaded = resources.enter_context(load_model(source))
        timings.load_ms = _ms(started)
        check_input_shapes(loaded.model, options.input_shapes)
        pipeline = resolve_pipeline(options)
        attempts = _Attempts(loaded.model, pipeline, options, progress)
        workdir = resources.enter_context(_workdir(Path(output) if output else None))
        result = _run(loaded, options, pipeline, attempts, Path(workdir), output, timings, progress)
        result.resources = resources.pop_all()
    result.report.timings.total_ms = _ms(started)
    return result


def _workdir(output: Path | None) -> tempfile.TemporaryDirectory[str]:
    """A private scratch directory, beside ``output`` so that the final move is a rename."""
    try:
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(
            prefix=".graphopt-", dir=output.parent if output is not None else None
        )
    except OSError as exc:
        raise GraphoptError(
            ErrorCode.OUTPUT_WRITE_FAILED,
            f"Cannot write beside {output}: {exc.strerror or exc}",
            path=str(output),
        ) from None


def _run(
    loaded: LoadedModel,
    options: OptimizeOptions,
    pipeline: Pipeline,
    attempts: _Attempts,
    workdir: Path,
    output: Path | None,
    timings: Timings,
    progress: ProgressCallback,
) -> OptimizeResult:
    verify = options.verify
    atol, rtol = DEFAULT_TOLERANCES["float32"]
    verification = Verification(
        status="skipped",
        passed=None,
        atol=atol if verify.atol is None else verify.atol,
        rtol=rtol if verify.rtol is None else verify.rtol,
    )
    checked: CheckResult | None = None
    selection: Selection | None = None
    verifier_inputs: list[InputSet] = []
    dropped = _dropped_outputs(loaded.model, options.keep_outputs)
    phase = time.perf_counter()
    if not verify.enabled:
        candidate, run = attempts.run()
        timings.passes_ms = _ms(phase)
    else:
        progress(Progress("verify", "running the original model"))
        verifier = _alongside_pipeline(
            attempts,
            partial(
                Verifier,
                loaded.model,
                _original_file(loaded, workdir),
                verify,
                options.input_shapes,
                workdir,
                model_name=Path(output).name if output else "model.onnx",
                dropped_outputs=dropped,
            ),
            progress,
        )
        verification.inputs = verifier.inputs_used
        verifier_inputs = verifier.inputs
        if not verifier.loadable:
            candidate, run = attempts.run()
            timings.passes_ms = _ms(phase)
        else:
            if options.select.enabled and _selection_blocker(options, verifier) is None:
                selection, chosen = _select(loaded, options, pipeline, attempts, verifier, progress)
                candidate, run, checked, failure, attempts, pipeline = chosen
            else:
                candidate, run, checked, failure = _verify_loop(attempts, verifier)
            timings.verify_ms = _ms(phase)
            verification.attempts = verifier.checks
            if checked is not None and checked.compared:
                passed = checked.passed and failure is None
                verification.status = "passed" if passed else "failed"
                verification.passed = passed
                verification.reason = failure
                verification.outputs = checked.outputs
                verification.lossy_requested = not passed and attempts.lossy_failure
        if verifier.unavailable is not None:
            verification.status, verification.reason = "unavailable", verifier.unavailable
            attempts.warnings.append(
                Diagnostic(WarningCode.VERIFICATION_UNAVAILABLE, verifier.unavailable)
            )
    verification.rolled_back = attempts.rolled_back
    if options.select.enabled and selection is None:
        selection = _skipped_selection(
            options, _selection_blocker(options, verifier if verify.enabled else None)
        )

    written: OutputFile | None = None
    if output is not None:
        progress(Progress("save", f"writing {output}"))
        phase = time.perf_counter()
        written = _place(candidate, checked, Path(output))
        timings.save_ms = _ms(phase)
    profile: ProfileReport | None = None
    if options.profile.enabled:
        progress(Progress("profile", "timing the original and the optimized model"))
        phase = time.perf_counter()
        outcome = _profile(loaded, candidate, options, workdir, written, verifier_inputs)
        timings.profile_ms = _ms(phase)
        if isinstance(outcome, Diagnostic):
            attempts.warnings.append(outcome)
        else:
            profile = outcome
    report = Report(
        graphopt_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        model=model_info(loaded),
        pipeline=PipelineInfo(
            name=pipeline.name,
            passes=pipeline.pass_names(),
            pass_options=_pass_options(options),
            input_shapes=options.input_shapes,
        ),
        original=model_stats(loaded.model, options.input_shapes),
        optimized=compute_stats(candidate),
        passes=run.records,
        verification=verification,
        warnings=[DiagnosticModel(**w.to_dict()) for w in loaded.warnings + attempts.warnings],
        timings=timings,
        output=written,
        profile=profile,
        selection=selection,
    )
    details = attempts.details.get(PRUNING_DETAILS)
    if isinstance(details, PruningDetails):
        report.pruning = pruning_report(
            details,
            loaded.model,
            candidate,
            report.original,
            report.optimized,
            verification.outputs,
            profile,
        )
    if options.memory is not None and options.memory.enabled:
        out_dir = Path(output).parent if output is not None else None
        report.memory, memory_warnings = memory_section(candidate, options.memory, out_dir)
        report.warnings += [DiagnosticModel(**w.to_dict()) for w in memory_warnings]
    return OptimizeResult(report=report, model=candidate, output=Path(output) if output else None)


def _original_file(loaded: LoadedModel, workdir: Path) -> Path:
    """The original's file for onnxruntime: the one it was loaded from, else (an upload of
    bytes) a copy saved in ``workdir`` once, for verification and profiling alike."""
    if loaded.path is not None:
        return loaded.path
    path = workdir / "original" / "model.onnx"
    if not path.exists():
        save_model(loaded.model, path)
    return path


def _alongside_pipeline(
    attempts: _Attempts, start: Callable[[], Verifier], progress: ProgressCallback
) -> Verifier:
    """``start()`` in a thread while the pipeline's first run is made (and kept for
    ``attempts.run()``): onnxruntime releases the GIL while it loads and runs the original,
    so on a large model that time is hidden behind the passes. The original is only read by
    both (the pipeline runs on a clone)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(start)
        attempts.prefetch()
        if not pending.done():
            progress(Progress("verify", "running the original model"))
        return pending.result()


def _selection_blocker(options: OptimizeOptions, verifier: Verifier | None) -> str | None:
    """Why measured selection cannot run, or None when it can."""
    if options.prune or options.keep_outputs:
        return "pruning or keep_outputs was requested: the original is not an acceptable result"
    if verifier is None:
        return "verification is off: only verified candidates may be chosen"
    if not verifier.loadable or verifier.unavailable is not None:
        return f"verification is not possible: {verifier.unavailable}"
    return None


def _skipped_selection(options: OptimizeOptions, reason: str | None) -> Selection:
    return Selection(
        status="skipped",
        reason=reason or "selection did not run",
        rule=rule_text(options.select.confidence, options.select.tie),
        budget_s=options.select.max_seconds,
        chosen=options.target,
        nothing_helped=False,
    )


_Chosen = tuple[ir.Model, PipelineRun, CheckResult | None, str | None, _Attempts, Pipeline]


def _select(
    loaded: LoadedModel,
    options: OptimizeOptions,
    pipeline: Pipeline,
    attempts: _Attempts,
    verifier: Verifier,
    progress: ProgressCallback,
) -> tuple[Selection, _Chosen]:
    """Measured selection (:mod:`graphopt.engine.selection`) with candidates built here:
    each runs through :func:`_verify_loop` against the same verifier; the requested
    pipeline and target (``attempts``) is the primary candidate."""

    def verified(variant: Variant, own: _Attempts, pipe: Pipeline) -> Built:
        model, run, check, failure = _verify_loop(own, verifier)
        passed = check is not None and check.passed and failure is None
        return Built(
            variant,
            model,
            passed,
            check.path if passed and check is not None else None,
            run=run,
            reason=failure,
            cost=_timing_cost(check),
            state=(model, run, check, failure, own, pipe),
        )

    def build(variant: Variant) -> Built:
        progress(Progress("select", f"building candidate {variant.name}"))
        scheduling = _memory_step(options)
        if variant.pipeline is None and scheduling is not None:
            # the original as received, in the node order the caller asked for
            pipe = Pipeline(name="original", steps=[step("shape_inference"), scheduling])
            return verified(variant, _Attempts(loaded.model, pipe, options, ignore_progress), pipe)
        if variant.pipeline is None:
            original = loaded.model  # only read from here on: no clone of a large model
            baseline = verifier.original_result(original)
            pipe = Pipeline(name="original", steps=[])
            own = _Attempts(loaded.model, pipe, options, ignore_progress)
            state: _Chosen = (original, PipelineRun(), baseline, None, own, pipe)
            cost = None if baseline.run_s is None else Cost(load_s=None, run_s=baseline.run_s)
            return Built(variant, original, True, baseline.path, cost=cost, state=state)
        if variant.name == options.target and not variant.excluded:
            return verified(variant, attempts, pipeline)
        variant_options = options.model_copy(
            update={"pipeline": variant.pipeline, "target": variant.target}
        )
        pipe = resolve_pipeline(variant_options)
        excluded = variant.excluded
        own = _Attempts(loaded.model, pipe, variant_options, ignore_progress, excluded=excluded)
        return verified(variant, own, pipe)

    variants = base_variants(options.pipeline, options.target, options.select)
    outcome = select(
        variants,
        build,
        verifier.inputs[0],
        options.profile.session,
        options.select,
        primary=options.target,
    )
    for candidate in outcome.built:
        check = candidate.state[2]
        if candidate is not outcome.chosen and check is not None:
            verifier.discard(check)
    return outcome.selection, outcome.chosen.state


def _timing_cost(check: CheckResult | None) -> Cost | None:
    """What timing a checked candidate costs: its ORT_ENABLE_ALL load, and one run as
    verification timed it (an estimate: verification runs with its own session options)."""
    if check is None or check.load_s is None or check.run_s is None:
        return None
    return Cost(load_s=check.load_s, run_s=check.run_s)


def _dropped_outputs(model: ir.Model, keep: list[str]) -> frozenset[str]:
    """The graph outputs ``keep_outputs`` removes (none when ``keep`` is empty);
    ``invalid_pass_options`` when ``keep`` names something that is not a graph output."""
    names = [v.name or "" for v in model.graph.outputs]
    unknown = [name for name in keep if name not in names]
    if unknown:
        raise GraphoptError(
            ErrorCode.INVALID_PASS_OPTIONS,
            f"keep_outputs names {unknown}, which are not graph outputs ({names}).",
            unknown=unknown,
        )
    return frozenset(name for name in names if keep and name not in keep)


def _profile(
    loaded: LoadedModel,
    candidate: ir.Model,
    options: OptimizeOptions,
    workdir: Path,
    written: OutputFile | None,
    verifier_inputs: list[InputSet],
) -> ProfileReport | Diagnostic:
    """Profile original against optimized; traces go beside the output (or trace_dir).

    Without an output or a trace directory the traces live in the scratch directory only,
    so the report does not name them.
    """
    try:
        feeds = (
            verifier_inputs[0]
            if verifier_inputs
            else profile_inputs(loaded.model, options.input_shapes, options.verify)
        )
    except GraphoptError as exc:
        return Diagnostic(WarningCode.PROFILING_FAILED, f"Profiling failed: {exc.message}")
    original = _original_file(loaded, workdir)
    if written is not None:
        optimized = Path(written.path)
    else:
        optimized = Path(save_model(candidate, workdir / "profile-optimized" / "model.onnx").path)
    settings = options.profile
    keep_traces = settings.trace_dir is not None or written is not None
    outcome = profile_models(original, optimized, feeds, settings)
    if isinstance(outcome, ProfileReport) and not keep_traces:
        outcome.original.trace = outcome.optimized.trace = None
    return outcome


def _place(candidate: ir.Model, checked: CheckResult | None, output: Path) -> OutputFile:
    """Move the verified candidate's files to ``output``, or write the model there.

    Candidates are saved under the output's file name, so the external-data location
    written inside the model stays right after the move.
    """
    if checked is None or checked.path is None or not checked.passed:
        return save_model(candidate, output)
    data = checked.path.parent / f"{checked.path.name}.data"
    written = OutputFile(path=str(output), size_bytes=checked.path.stat().st_size)
    if data.exists():
        written.data_path = str(output.parent / data.name)
        written.data_bytes = data.stat().st_size
        os.replace(data, written.data_path)
    os.replace(checked.path, output)
    shutil.rmtree(checked.path.parent, ignore_errors=True)
    return written


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
