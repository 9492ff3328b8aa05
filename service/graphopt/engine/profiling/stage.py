"""The optimizer's profiling stage: inputs, files and failure handling around ``profile_pair``.

Contract of :func:`profile_models`: both models are profiled with the options' session on
one input set (the caller's .npz when given, else random inputs for the pinned shapes at
the smallest default size, the same generator verification uses). With ``tune`` the
optimized model is then swept over session settings on the same inputs (:mod:`.tune`).
A failure never fails the optimization: it comes back as a ``profiling_failed``
diagnostic.
"""

from __future__ import annotations

from pathlib import Path

import onnx_ir as ir

from graphopt.engine.errors import Diagnostic, WarningCode
from graphopt.engine.options import ProfileOptions, VerifyOptions
from graphopt.engine.profiling.profile import ProfileReport, profile_pair
from graphopt.engine.profiling.tune import default_candidates, tune_session
from graphopt.engine.verify.inputs import InputSet, load_npz_inputs, random_inputs, resolve_shapes


def profile_inputs(
    model: ir.Model, input_shapes: dict[str, list[int]], verify: VerifyOptions
) -> InputSet:
    """The input set profiling runs on (see module docstring)."""
    if verify.inputs is not None:
        return load_npz_inputs(verify.inputs, model)[0]
    shapes = resolve_shapes(model, input_shapes)
    return random_inputs(model, shapes, 1, verify.seed)[0]


def profile_models(
    original: Path,
    optimized: Path,
    feeds: InputSet,
    options: ProfileOptions,
) -> ProfileReport | Diagnostic:
    """Profile ``original`` against ``optimized`` (see module docstring)."""
    trace_dir = options.trace_dir or optimized.parent
    try:
        report = profile_pair(
            original,
            optimized,
            feeds,
            options.session,
            trace_dir,
            warmup=options.warmup,
            runs=options.runs,
            profiled_runs=options.profiled_runs,
        )
        if options.tune:
            candidates = default_candidates(options.session.graph_optimization_level)
            report.tuning = tune_session(
                optimized, feeds, candidates, warmup=options.warmup, rounds=options.runs
            )
        return report
    except Exception as exc:  # onnxruntime raises its own exception hierarchy
        return Diagnostic(
            WarningCode.PROFILING_FAILED,
            f"Profiling failed: {exc}",
            {"original": str(original), "optimized": str(optimized)},
        )
