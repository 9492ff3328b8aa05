"""The optimization report (``report.json``, schema 1.x; docs/report.md).

These mirror the engine's report without importing it (the client installs without the
engine). Readers ignore what they do not know: every object keeps unknown fields, so a
report from a newer 1.x server still loads. Units: bytes, milliseconds.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from graphopt_client.types._base import APIObject

Dim = int | str | None


class TensorSpec(APIObject):
    """A graph input or output: ``shape`` holds ints, symbolic names, or null (unknown)."""

    name: str
    dtype: str | None = None
    shape: list[Dim] | None = None


class ModelInfo(APIObject):
    """The original model as received."""

    name: str
    sha256: str
    size_bytes: int
    data_bytes: int = 0
    ir_version: int
    opset: dict[str, int]
    producer: str = ""
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class GraphStats(APIObject):
    """Statistics of one model (nodes of every body, parameters, MACs, depth, parallelism)."""

    nodes: int
    main_graph_nodes: int = 0
    subgraphs: int = 0
    functions: int = 0
    initializers: int = 0
    op_histogram: dict[str, int] = Field(default_factory=dict)
    params: int = 0
    param_bytes: int = 0
    macs: int = 0
    macs_unknown_nodes: int = 0
    depth: int = 0
    total_cost: float = 0.0
    critical_path_cost: float = 0.0
    parallelism: float = 0.0
    critical_path: list[str] = Field(default_factory=list)


class PassRecord(APIObject):
    """One application of one pass."""

    name: str
    family: str
    lossless: bool
    iteration: int | None = None
    changed: bool
    ms: float
    nodes_before: int
    nodes_after: int
    node_delta: int
    nodes_removed: int
    nodes_added: int
    nodes_rewritten: int = 0
    params_delta: int = 0
    bytes_delta: int = 0
    notes: list[str] = Field(default_factory=list)


class OutputComparison(APIObject):
    """One output compared over all input sets (worst case)."""

    name: str
    dtype: str | None = None
    shape_match: bool
    dtype_match: bool
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    mismatched: int = 0
    compared: bool = True
    passed: bool


class InputsUsed(APIObject):
    """Where the verification inputs came from and their shapes."""

    source: str
    sets: int
    seed: int | None = None
    shapes: dict[str, list[int]] = Field(default_factory=dict)


class RolledBack(APIObject):
    """A pass removed from the pipeline because it broke equivalence or raised."""

    name: str
    reason: str
    error: str
    outputs: list[OutputComparison] = Field(default_factory=list)


class Verification(APIObject):
    """``status``: passed, failed, skipped or unavailable; ``passed`` null unless compared."""

    status: str
    passed: bool | None = None
    reason: str | None = None
    atol: float
    rtol: float
    inputs: InputsUsed | None = None
    outputs: list[OutputComparison] = Field(default_factory=list)
    rolled_back: list[RolledBack] = Field(default_factory=list)
    attempts: int = 0


class Diagnostic(APIObject):
    """A warning: stable code, message, detail."""

    code: str
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


class PipelineInfo(APIObject):
    """What was asked for: the pipeline's name, its passes, per-pass options, shapes."""

    name: str
    passes: list[str]
    pass_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    input_shapes: dict[str, list[int]] = Field(default_factory=dict)


class OutputFile(APIObject):
    """The written optimized model (paths as written by whoever ran the engine)."""

    path: str
    size_bytes: int
    data_path: str | None = None
    data_bytes: int = 0


class Timings(APIObject):
    """Wall time of each stage, in milliseconds."""

    load_ms: float = 0.0
    passes_ms: float = 0.0
    verify_ms: float = 0.0
    save_ms: float = 0.0
    profile_ms: float = 0.0
    total_ms: float = 0.0


class SessionConfig(APIObject):
    """onnxruntime session options used for profiling."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    execution_mode: str = "sequential"
    graph_optimization_level: str = "all"

    def label(self) -> str:
        """A short human label, e.g. ``1x1 sequential all``."""
        return (
            f"{self.intra_op_threads}x{self.inter_op_threads} {self.execution_mode} "
            f"{self.graph_optimization_level}"
        )


class LatencyStats(APIObject):
    """Latency over ``runs`` timed runs (ms)."""

    runs: int
    mean_ms: float
    stddev_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput_per_s: float


class OpTime(APIObject):
    """Kernel time of one op type per run (ms), its share and kernel count."""

    op_type: str
    ms: float
    share: float
    count: int


class NodeTime(APIObject):
    """Kernel time of one node per run (ms)."""

    name: str
    op_type: str
    ms: float


class OpBreakdown(APIObject):
    """Kernel time per op type (descending) and the slowest nodes, per run (ms)."""

    total_ms: float
    by_op_type: list[OpTime] = Field(default_factory=list)
    top_nodes: list[NodeTime] = Field(default_factory=list)


class MemoryUsage(APIObject):
    """Resident memory of the measuring process (bytes)."""

    baseline_rss_bytes: int
    peak_rss_bytes: int

    @property
    def model_bytes(self) -> int:
        """Peak RSS added by loading and running the model once."""
        return self.peak_rss_bytes - self.baseline_rss_bytes


class ModelProfile(APIObject):
    """One model's latency, per-op breakdown, memory, and Chrome-trace path."""

    latency: LatencyStats
    ops: OpBreakdown
    memory: MemoryUsage
    trace: str | None = None


class TuneTrial(APIObject):
    """One session configuration of the tuning sweep and its latency (ms)."""

    session: SessionConfig
    latency: LatencyStats


class TuneReport(APIObject):
    """The session sweep on the optimized model: trials fastest first, the recommendation."""

    warmup: int
    rounds: int
    cpu_count: int
    trials: list[TuneTrial] = Field(default_factory=list)
    recommended: SessionConfig
    speedup: float = 1.0


class ProfileReport(APIObject):
    """Original vs optimized under one session configuration."""

    session: SessionConfig
    warmup: int
    runs: int
    original: ModelProfile
    optimized: ModelProfile
    latency_ratio: float
    tuning: TuneReport | None = None


class OutputDeviation(APIObject):
    """How far a lossy (pruned) output moved from the original."""

    name: str
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None


class PruningReport(APIObject):
    """The ``pruning`` section: before/after parameters, MACs, file and gzip bytes."""

    passes: list[str] = Field(default_factory=list)
    groups: list[dict[str, Any]] = Field(default_factory=list)
    layers: list[dict[str, Any]] = Field(default_factory=list)
    kept_outputs: list[str] = Field(default_factory=list)
    removed_outputs: list[str] = Field(default_factory=list)
    removed_inputs: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    file_bytes_before: int
    file_bytes_after: int
    gzip_bytes_before: int
    gzip_bytes_after: int
    latency_before_ms: float | None = None
    latency_after_ms: float | None = None
    outputs: list[OutputDeviation] = Field(default_factory=list)


class ScheduleSummary(APIObject):
    """What memory-aware scheduling did: peak live bytes before/after, method."""

    method: str
    peak_before: int
    peak_after: int
    segments: int = 0
    exact_segments: int = 0
    ms: float = 0.0


class MemoryReport(APIObject):
    """The ``memory`` section: the arena plan's headline numbers (bytes)."""

    alignment: int
    arena_bytes: int
    lower_bound_bytes: int
    naive_bytes: int
    algorithm: str
    tensors_planned: int
    in_place: int = 0
    schedule: ScheduleSummary
    unplanned: list[dict[str, Any]] = Field(default_factory=list)
    steps: int
    planning_ms: float


class Report(APIObject):
    """The whole report; ``pruning``/``memory``/``profile`` are present when they ran."""

    schema_version: str
    graphopt_version: str
    created: str
    model: ModelInfo
    pipeline: PipelineInfo
    original: GraphStats
    optimized: GraphStats
    passes: list[PassRecord]
    verification: Verification
    warnings: list[Diagnostic] = Field(default_factory=list)
    timings: Timings
    output: OutputFile | None = None
    profile: ProfileReport | None = None
    pruning: PruningReport | None = None
    memory: MemoryReport | None = None
