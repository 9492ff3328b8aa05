"""Session tuning: which thread counts and execution mode run a model fastest here.

:func:`tune_session` times the model under each candidate :class:`SessionConfig`
(interleaved, same inputs) and recommends the one with the lowest median latency. The
default candidates are 1, 2, 4, ... up to the CPU count intra-op threads, sequential, plus
the parallel execution mode with 2 inter-op threads at the largest intra-op count.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from graphopt.engine.profiling.session_config import SessionConfig, bound_run, open_session
from graphopt.engine.profiling.timing import LatencyStats, time_interleaved


class TuneTrial(BaseModel):
    """One configuration and its latency."""

    session: SessionConfig
    latency: LatencyStats


class TuneReport(BaseModel):
    """All trials, fastest first, and the recommended configuration."""

    trials: list[TuneTrial]
    recommended: SessionConfig


def default_candidates(level: str = "all") -> list[SessionConfig]:
    """Thread counts 1, 2, 4 ... cpu_count (sequential) and one parallel-mode configuration."""
    cpus = os.cpu_count() or 1
    counts = sorted({1, cpus} | {2**i for i in range(1, cpus.bit_length()) if 2**i <= cpus})
    candidates = [SessionConfig(intra_op_threads=n, graph_optimization_level=level) for n in counts]
    candidates.append(
        SessionConfig(
            intra_op_threads=counts[-1],
            inter_op_threads=2,
            execution_mode="parallel",
            graph_optimization_level=level,
        )
    )
    return candidates


def tune_session(
    path: Path,
    feeds: dict[str, np.ndarray],
    candidates: list[SessionConfig] | None = None,
    *,
    warmup: int = 3,
    rounds: int = 20,
) -> TuneReport:
    """Time ``path`` under each candidate configuration (see module docstring)."""
    candidates = candidates or default_candidates()
    calls = {
        str(index): bound_run(open_session(path, config), feeds)
        for index, config in enumerate(candidates)
    }
    latency = time_interleaved(calls, warmup=warmup, rounds=rounds)
    trials = sorted(
        (TuneTrial(session=c, latency=latency[str(i)]) for i, c in enumerate(candidates)),
        key=lambda t: t.latency.p50_ms,
    )
    return TuneReport(trials=trials, recommended=trials[0].session)
