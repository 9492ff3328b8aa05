"""Before/after profiling of an optimized model against its original.

Contract of :func:`profile_pair`: both models run with the same :class:`SessionConfig` and
the same inputs. Latency is timed interleaved (:mod:`.timing`) after a warm-up; per-op
breakdowns come from separate profiling sessions (profiling slows kernels, so it never
shares runs with timing) and their Chrome traces are kept; peak memory is measured in a
fresh process per model (:mod:`.memory`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from graphopt.engine.profiling.memory import MemoryUsage, peak_memory
from graphopt.engine.profiling.session_config import SessionConfig, bound_run, open_session
from graphopt.engine.profiling.timing import LatencyStats, time_interleaved
from graphopt.engine.profiling.trace import OpBreakdown, op_breakdown
from graphopt.engine.profiling.tune import TuneReport


class ModelProfile(BaseModel):
    """One model's latency, per-op breakdown and memory."""

    latency: LatencyStats
    ops: OpBreakdown
    memory: MemoryUsage
    trace: str | None = None


class ProfileReport(BaseModel):
    """Original vs optimized under one session configuration."""

    session: SessionConfig
    warmup: int
    runs: int
    original: ModelProfile
    optimized: ModelProfile
    latency_ratio: float
    """optimized p50 / original p50 (below 1 is faster)"""
    tuning: TuneReport | None = None
    """the session sweep on the optimized model, when ``tune`` was asked for"""


def _trace(
    path: Path, config: SessionConfig, feeds: dict[str, np.ndarray], runs: int, dest: Path
) -> OpBreakdown:
    with tempfile.TemporaryDirectory() as scratch:
        session = open_session(path, config, profile_prefix=Path(scratch) / "trace")
        run = bound_run(session, feeds)
        for _ in range(runs):
            run()
        produced = Path(session.end_profiling())
        shutil.move(produced, dest)
    return op_breakdown(dest, runs)


def profile_pair(
    original: Path,
    optimized: Path,
    feeds: dict[str, np.ndarray],
    config: SessionConfig,
    trace_dir: Path,
    *,
    warmup: int = 5,
    runs: int = 50,
    profiled_runs: int = 10,
) -> ProfileReport:
    """Profile both models (see module docstring); traces go to ``trace_dir``."""
    trace_dir.mkdir(parents=True, exist_ok=True)
    calls = {
        name: bound_run(open_session(path, config), feeds)
        for name, path in (("original", original), ("optimized", optimized))
    }
    latency = time_interleaved(calls, warmup=warmup, rounds=runs)
    del calls
    profiles = {}
    for name, path in (("original", original), ("optimized", optimized)):
        trace_path = trace_dir / f"ort_profile_{name}.json"
        profiles[name] = ModelProfile(
            latency=latency[name],
            ops=_trace(path, config, feeds, profiled_runs, trace_path),
            memory=peak_memory(path, config, feeds),
            trace=str(trace_path),
        )
    ratio = (
        latency["optimized"].p50_ms / latency["original"].p50_ms
        if latency["original"].p50_ms
        else 1.0
    )
    return ProfileReport(
        session=config,
        warmup=warmup,
        runs=runs,
        original=profiles["original"],
        optimized=profiles["optimized"],
        latency_ratio=round(ratio, 4),
    )
