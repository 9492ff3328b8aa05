"""Latency measurement, interleaved so that machine noise hits every candidate alike.

:func:`time_interleaved` warms every candidate up, then runs ``rounds`` rounds; in each
round every candidate runs once, in an order rotated round by round, so that slow periods
of a shared machine are spread over all candidates instead of biasing one.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from pydantic import BaseModel


class LatencyStats(BaseModel):
    """Latency of one candidate over ``runs`` timed runs, in milliseconds."""

    runs: int
    mean_ms: float
    stddev_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput_per_s: float


def _percentile(ordered: list[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples_ms: list[float]) -> LatencyStats:
    """Statistics of a list of latencies (ms)."""
    ordered = sorted(samples_ms)
    mean = statistics.fmean(ordered)
    return LatencyStats(
        runs=len(ordered),
        mean_ms=round(mean, 4),
        stddev_ms=round(statistics.pstdev(ordered), 4),
        min_ms=round(ordered[0], 4),
        p50_ms=round(_percentile(ordered, 0.5), 4),
        p90_ms=round(_percentile(ordered, 0.9), 4),
        p99_ms=round(_percentile(ordered, 0.99), 4),
        throughput_per_s=round(1000.0 / mean, 3) if mean > 0 else 0.0,
    )


def time_interleaved(
    candidates: dict[str, Callable[[], object]], *, warmup: int, rounds: int
) -> dict[str, LatencyStats]:
    """Time each candidate callable (see module docstring); stats by candidate name."""
    samples = interleaved_samples(candidates, warmup=warmup, rounds=rounds)
    return {name: summarize(values) for name, values in samples.items()}


def interleaved_samples(
    candidates: dict[str, Callable[[], object]],
    *,
    warmup: int,
    rounds: int,
    stop: Callable[[dict[str, list[float]]], bool] | None = None,
) -> dict[str, list[float]]:
    """The raw latencies (ms) of :func:`time_interleaved`: ``samples[name][r]`` is round r's.

    ``stop``, when given, is asked after every round whether the samples so far suffice;
    it ends the timing before ``rounds`` when it answers True.
    """
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            candidates[name]()
            samples[name].append((time.perf_counter() - started) * 1000)
        if stop is not None and stop(samples):
            break
    return samples
