"""Typed response objects (pydantic); unknown fields from newer servers are kept."""

from graphopt_client.types.event import Event
from graphopt_client.types.job import (
    Artifact,
    AsyncJob,
    ErrorInfo,
    Job,
    JobAttempt,
    JobData,
    JobProgress,
    JobStatus,
    JobSummary,
    WorkerRef,
)
from graphopt_client.types.model import Model
from graphopt_client.types.report import Report

__all__ = [
    "Artifact",
    "AsyncJob",
    "ErrorInfo",
    "Event",
    "Job",
    "JobAttempt",
    "JobData",
    "JobProgress",
    "JobStatus",
    "JobSummary",
    "Model",
    "Report",
    "WorkerRef",
]
