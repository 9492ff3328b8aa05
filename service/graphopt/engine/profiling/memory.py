"""Peak resident memory of running a model, measured in a fresh process.

Each measurement spawns a process (``spawn`` start method: nothing inherited) that imports
onnxruntime, records its resident set size, loads the model, runs it once on the given
inputs, and reports ``ru_maxrss``. ``peak_rss_bytes - baseline_rss_bytes`` is what the
model's session and its run added on top of an idle onnxruntime process.
"""

from __future__ import annotations

import multiprocessing
import resource
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from graphopt.engine.profiling.session_config import SessionConfig, bound_run, open_session


class MemoryUsage(BaseModel):
    """Resident memory of the measuring process, in bytes."""

    baseline_rss_bytes: int
    peak_rss_bytes: int

    @property
    def model_bytes(self) -> int:
        return self.peak_rss_bytes - self.baseline_rss_bytes


def _current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _measure(path: Path, config: SessionConfig, feeds: dict[str, np.ndarray]) -> tuple[int, int]:
    baseline = _current_rss()
    bound_run(open_session(path, config), feeds)()
    return baseline, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_memory(path: Path, config: SessionConfig, feeds: dict[str, np.ndarray]) -> MemoryUsage:
    """Measure one model in a fresh process (see module docstring)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        baseline, peak = pool.apply(_measure, (path, config, feeds))
    return MemoryUsage(baseline_rss_bytes=baseline, peak_rss_bytes=peak)
