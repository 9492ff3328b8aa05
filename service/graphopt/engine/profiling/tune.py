"""Session tuning: which intra-op thread count and execution mode run a model fastest here.

Contract of :func:`tune_session`: the model is timed under every candidate
:class:`SessionConfig` in one process, on the same inputs, interleaved round by round
(:func:`.timing.time_interleaved`), after a warm-up of each; the recommendation is the
candidate with the lowest median latency. The default candidates
(:func:`default_candidates`) are intra-op thread counts 1, 2, 4, ... and the CPU count,
each in sequential mode (1 inter-op thread) and in parallel mode (2 inter-op threads, or
1 on a single CPU). During the sweep onnxruntime's thread pools do not spin-wait between
runs (``session.intra_op.allow_spinning = 0``, same for inter-op): an idle pool spinning
after its turn would otherwise steal CPU from the next candidate and bias the comparison.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, Field

from graphopt.engine.profiling.session_config import SessionConfig, bound_run
from graphopt.engine.profiling.timing import LatencyStats, time_interleaved

NO_SPINNING = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")


class TuneTrial(BaseModel):
    """One configuration and its latency."""

    session: SessionConfig
    latency: LatencyStats


class TuneReport(BaseModel):
    """Every trial, fastest (lowest p50) first, and the recommended configuration."""

    warmup: int
    rounds: int
    cpu_count: int
    trials: list[TuneTrial]
    recommended: SessionConfig
    speedup: float = Field(
        description="p50 of the slowest trial / p50 of the recommended one (1 or more)"
    )


def thread_counts(cpus: int) -> list[int]:
    """1, 2, 4, ... (powers of two below ``cpus``) and ``cpus`` itself, ascending."""
    cpus = max(cpus, 1)
    return sorted({1, cpus} | {2**i for i in range(1, cpus.bit_length()) if 2**i < cpus})


def default_candidates(level: str = "all", cpus: int | None = None) -> list[SessionConfig]:
    """The sweep described in the module docstring, for ``cpus`` (default: this machine)."""
    cpus = cpus or os.cpu_count() or 1
    inter = min(2, cpus)
    candidates: list[SessionConfig] = []
    for threads in thread_counts(cpus):
        candidates.append(SessionConfig(intra_op_threads=threads, graph_optimization_level=level))
        candidates.append(
            SessionConfig(
                intra_op_threads=threads,
                inter_op_threads=inter,
                execution_mode="parallel",
                graph_optimization_level=level,
            )
        )
    return candidates


def _quiet_session(path: Path, config: SessionConfig) -> ort.InferenceSession:
    options = config.options()
    for key in NO_SPINNING:
        options.add_session_config_entry(key, "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def tune_session(
    path: Path,
    feeds: dict[str, np.ndarray],
    candidates: list[SessionConfig] | None = None,
    *,
    warmup: int = 3,
    rounds: int = 20,
) -> TuneReport:
    """Time ``path`` under each candidate configuration (see module docstring)."""
    candidates = list(candidates or default_candidates())
    if len(set(candidates)) != len(candidates):
        raise ValueError("tune_session candidates must be distinct")
    calls = {
        str(index): bound_run(_quiet_session(path, config), feeds)
        for index, config in enumerate(candidates)
    }
    latency = time_interleaved(calls, warmup=warmup, rounds=rounds)
    del calls
    trials = sorted(
        (TuneTrial(session=c, latency=latency[str(i)]) for i, c in enumerate(candidates)),
        key=lambda t: t.latency.p50_ms,
    )
    fastest, slowest = trials[0].latency.p50_ms, trials[-1].latency.p50_ms
    return TuneReport(
        warmup=warmup,
        rounds=rounds,
        cpu_count=os.cpu_count() or 1,
        trials=trials,
        recommended=trials[0].session,
        speedup=round(slowest / fastest, 4) if fastest > 0 else 1.0,
    )
