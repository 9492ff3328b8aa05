"""Request and response bodies of the v1 API (sizes in bytes, durations in ms)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from graphopt.engine import ProfileOptions, SelectOptions, VerifyOptions
from graphopt.engine.memory.models import MemoryOptions
from graphopt.engine.report import GraphStats, TensorSpec
from graphopt.store.jobs import JobView
from graphopt.store.models import ModelRow

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ErrorInfo(BaseModel):
    code: str = Field(examples=["truncated_protobuf"])
    message: str = Field(examples=["The protobuf ends in the middle of a field."])
    detail: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorInfo


class ModelResource(BaseModel):
    """An uploaded, validated model. ``sha256`` and ``size_bytes`` are of the uploaded file."""

    id: str = Field(examples=["mdl_5b1f0c2a9d3e4f6a7b8c9d0e"])
    sha256: str
    size_bytes: int
    filename: str = Field(examples=["resnet18.onnx"])
    kind: Literal["onnx", "zip", "tar"]
    created_at: datetime
    ir_version: int
    opset: dict[str, int] = Field(examples=[{"": 17}])
    producer: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    node_count: int
    op_histogram: dict[str, int] = Field(examples=[{"Conv": 20, "Relu": 17}])
    data_bytes: int = Field(description="external data referenced by a bundle's model")
    stats: GraphStats
    warnings: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def from_row(cls, row: ModelRow) -> ModelResource:
        info, stats = row.info, row.stats
        return cls(
            id=row.id,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
            filename=row.filename,
            kind=row.kind,
            created_at=row.created_at,
            ir_version=info["ir_version"],
            opset=info["opset"],
            producer=info["producer"],
            inputs=info["inputs"],
            outputs=info["outputs"],
            node_count=stats["nodes"],
            op_histogram=stats["op_histogram"],
            data_bytes=info["data_bytes"],
            stats=GraphStats.model_validate(stats),
            warnings=info.get("warnings", []),
        )


class ModelList(BaseModel):
    data: list[ModelResource]


class VerifyRequest(VerifyOptions):
    """The engine's verification options, with random inputs only (no server paths)."""

    inputs: SkipJsonSchema[None] = None


class ProfileRequest(ProfileOptions):
    """The engine's profiling options; traces become job artifacts (no server paths)."""

    enabled: bool = True
    trace_dir: SkipJsonSchema[None] = None


class MemoryRequest(MemoryOptions):
    """The engine's memory-planning options; the plan and timeline become job artifacts."""

    plot: SkipJsonSchema[None] = None


class SelectRequest(SelectOptions):
    """The engine's measured-selection options (an object turns selection on)."""

    enabled: bool = True


class JobOptions(BaseModel):
    """The engine's ``OptimizeOptions`` less the pipeline (a field of the job) and any
    option naming a server path. ``true``/``false`` turn verify, profile or memory planning
    on or off with their defaults."""

    model_config = ConfigDict(extra="forbid")

    input_shapes: dict[str, list[int]] = Field(
        default_factory=dict, examples=[{"x": [1, 3, 224, 224]}]
    )
    target: Literal["portable", "onnxruntime"] = "portable"
    verify: bool | VerifyRequest = True
    profile: bool | ProfileRequest = False
    pass_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, examples=[{"constant_folding": {"output_size_limit": 1048576}}]
    )
    prune: list[str] = Field(
        default_factory=list,
        description="pruning specs run after the pipeline (lossy)",
        examples=[["structured:0.3"]],
    )
    keep_outputs: list[str] = Field(
        default_factory=list, description="graph outputs to keep; the rest is pruned away"
    )
    memory: bool | MemoryRequest | None = Field(
        None,
        description="plan activation memory (needs static shapes); default (null): planned, "
        "without artifacts, whenever every activation has a static size; false: off",
    )
    select: bool | SelectRequest = Field(
        False,
        description="measured selection: time candidate pipelines (the original included) "
        "and keep the fastest verified one; off unless asked for (`graphopt optimize` "
        "turns it on)",
        examples=[{"max_seconds": 10}],
    )

    def engine_data(self, pipeline: str | list[str]) -> dict[str, Any]:
        """The engine's ``OptimizeOptions`` as plain data (validated by the caller)."""
        verify = self.verify if not isinstance(self.verify, bool) else {"enabled": self.verify}
        profile = self.profile if not isinstance(self.profile, bool) else {"enabled": self.profile}
        memory = MemoryRequest() if self.memory is True else (self.memory or None)
        select = self.select if not isinstance(self.select, bool) else {"enabled": self.select}
        data = {
            **self.model_dump(exclude={"verify", "profile", "memory", "select"}),
            "pipeline": pipeline,
            "verify": _plain(verify),
            "profile": _plain(profile),
            "select": _plain(select),
        }
        if self.memory is not None:  # else the engine's default (planned when static)
            data["memory"] = _plain(memory) if memory is not None else None
        return data


def _plain(value: BaseModel | dict[str, Any]) -> dict[str, Any]:
    return value.model_dump() if isinstance(value, BaseModel) else value


class JobLimits(BaseModel):
    """Tighter limits for this job's sandboxed process than the server's (never looser)."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float | None = Field(None, gt=0, description="wall-clock limit, seconds")
    memory_bytes: int | None = Field(
        None, ge=64 << 20, description="address-space limit (RLIMIT_AS), bytes"
    )


class JobCreate(BaseModel):
    """A job: which model, which pipeline (a preset name or a list of pass names), options."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model_id": "mdl_5b1f0c2a9d3e4f6a7b8c9d0e",
                    "pipeline": "default",
                    "options": {"input_shapes": {"x": [1, 3, 224, 224]}, "profile": True},
                }
            ]
        },
    )

    model_id: str
    pipeline: str | list[str] = "default"
    options: JobOptions = Field(default_factory=JobOptions)
    limits: JobLimits = Field(default_factory=JobLimits)


class JobProgress(BaseModel):
    stage: str = Field(examples=["passes"])
    message: str = ""
    fraction: float | None = None
    current_pass: str | None = Field(None, examples=["constant_folding"])


class ArtifactInfo(BaseModel):
    name: str = Field(examples=["optimized.onnx"])
    size: int = Field(description="bytes")
    url: str


class WorkerRef(BaseModel):
    host: str = Field(description="the worker's machine (GRAPHOPT_NODE_NAME or hostname)")
    pid: int | None = Field(description="the worker's process id on that machine")


class JobAttempt(BaseModel):
    """One run of the job by a worker; a lost worker's job is run again by another."""

    worker: WorkerRef
    started: datetime
    finished: datetime | None
    outcome: Literal["succeeded", "failed", "cancelled", "lost"] | None = Field(
        description="null while the attempt runs; `lost`: the worker vanished mid-job"
    )


class JobResource(BaseModel):
    """A job and, once it ended, its outcome."""

    id: str = Field(examples=["job_9a8b7c6d5e4f3a2b1c0d9e8f"])
    model_id: str
    status: JobStatus
    pipeline: str | list[str]
    options: dict[str, Any] = Field(description="the engine's OptimizeOptions of this job")
    limits: JobLimits
    progress: JobProgress | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    attempts: list[JobAttempt] = Field(description="every run of the job, oldest first")
    cancel_requested: bool
    error: ErrorInfo | None
    artifacts: list[ArtifactInfo]
    summary: dict[str, Any] | None = Field(
        None,
        examples=[
            {
                "nodes_before": 120,
                "nodes_after": 97,
                "verification": "passed",
                "latency_p50_ms_before": 4.1,
                "latency_p50_ms_after": 3.6,
            }
        ],
    )

    @classmethod
    def from_view(cls, view: JobView) -> JobResource:
        row = view.job
        return cls(
            id=row.id,
            model_id=row.model_id,
            status=row.status,
            pipeline=row.pipeline["value"],
            options=row.options,
            limits=JobLimits.model_validate(row.limits),
            progress=JobProgress.model_validate(row.progress) if row.progress else None,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_ms=row.duration_ms,
            attempts=[
                JobAttempt(
                    worker=WorkerRef(host=a.worker_host, pid=a.worker_pid),
                    started=a.started_at,
                    finished=a.finished_at,
                    outcome=a.outcome,
                )
                for a in view.attempts
            ],
            cancel_requested=row.cancel_requested,
            error=ErrorInfo.model_validate(row.error) if row.error else None,
            artifacts=[
                ArtifactInfo(
                    name=a.name, size=a.size_bytes, url=f"/v1/jobs/{row.id}/artifacts/{a.name}"
                )
                for a in view.artifacts
            ],
            summary=row.summary,
        )


class JobList(BaseModel):
    data: list[JobResource]
