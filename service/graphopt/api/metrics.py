"""Prometheus metrics: job counts and durations read from the database at scrape time (so
they cover every worker process), queue depth, and upload bytes counted by this process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from graphopt.jobs.queue import JobQueue
from graphopt.store.db import Database
from graphopt.store.jobs import STATUSES
from graphopt.store.models import JobRow

DURATION_BUCKETS_S = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

REGISTRY = CollectorRegistry()
UPLOAD_BYTES = Counter(
    "graphopt_upload_bytes", "Bytes received in model uploads.", registry=REGISTRY
)


class JobCollector(Collector):
    """Jobs by status, finished-job durations, and queue depth."""

    def __init__(self, db: Database, queue: JobQueue) -> None:
        self.db = db
        self.queue = queue

    def collect(
        self,
    ) -> Iterator[GaugeMetricFamily | HistogramMetricFamily | CounterMetricFamily]:
        with self.db.session() as session:
            counts = dict(
                session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
            )
            pass_ms = list(
                session.scalars(
                    select(JobRow.summary["pass_ms"]).where(JobRow.status == "succeeded")
                )
            )
            durations = [
                ms
                for ms in session.scalars(
                    select(JobRow.duration_ms).where(JobRow.duration_ms.is_not(None))
                )
                if ms is not None
            ]
        jobs = GaugeMetricFamily("graphopt_jobs", "Jobs by status.", labels=["status"])
        for status in STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        seconds = [ms / 1000 for ms in durations]
        buckets = [(str(b), sum(1 for s in seconds if s <= b)) for b in DURATION_BUCKETS_S]
        buckets.append(("+Inf", len(seconds)))
        yield HistogramMetricFamily(
            "graphopt_job_duration_seconds",
            "Wall time of finished jobs, from start to end.",
            buckets=buckets,
            sum_value=sum(seconds),
        )
        yield from _pass_metrics(pass_ms)
        depth = GaugeMetricFamily("graphopt_queue_depth", "Messages waiting in the job queue.")
        depth.add_metric([], self.queue.depth())
        yield depth


def _pass_metrics(per_job: list[Any]) -> Iterator[CounterMetricFamily]:
    """Seconds spent in each pass, and its runs, over all succeeded jobs."""
    seconds = CounterMetricFamily(
        "graphopt_pass_seconds", "Time spent in each pass by succeeded jobs.", labels=["name"]
    )
    runs = CounterMetricFamily(
        "graphopt_pass_jobs", "Succeeded jobs that ran each pass.", labels=["name"]
    )
    totals: dict[str, tuple[float, int]] = {}
    for passes in per_job:
        for name, ms in (passes or {}).items():
            total, count = totals.get(name, (0.0, 0))
            totals[name] = (total + ms / 1000, count + 1)
    for name, (total, count) in sorted(totals.items()):
        seconds.add_metric([name], total)
        runs.add_metric([name], count)
    yield seconds
    yield runs


def install_job_collector(db: Database, queue: JobQueue) -> JobCollector:
    collector = JobCollector(db, queue)
    REGISTRY.register(collector)
    return collector


def render() -> bytes:
    return generate_latest(REGISTRY)
