"""The optimization report: one JSON document with a versioned schema (docs/report.md).

Compatibility rule: within a major ``schema_version`` fields are only added, never removed
or retyped; readers must ignore fields they do not know.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphopt.engine.memory.models import MemoryReport
from graphopt.engine.profiling.profile import ProfileReport
from graphopt.engine.profiling.session_config import SessionConfig
from graphopt.engine.profiling.timing import LatencyStats
from graphopt.engine.pruning.report import PruningReport

SCHEMA_VERSION = "1.0"

Dim = int | str | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TensorSpec(_Model):
    """A graph input or output: ``shape`` holds ints, symbolic names, or null (unknown)."""

    name: str
    dtype: str | None
    shape: list[Dim] | None


class ModelInfo(_Model):
    """The original model as received."""

    name: str
    sha256: str = Field(description="sha256 of the .onnx protobuf file")
    size_bytes: int
    data_bytes: int = Field(description="total size of the external-data files it references")
    ir_version: int
    opset: dict[str, int]
    producer: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class GraphStats(_Model):
    """Statistics of one model, computed from its networkx view.

    ``nodes`` counts every node of every body (main graph, subgraphs, functions);
    ``params`` counts the elements of initializers and of tensors held by nodes
    (Constant values), ``param_bytes`` their storage. ``macs`` sums multiply-accumulates
    of Conv/ConvTranspose/Gemm/MatMul nodes whose shapes are known; the others are counted
    in ``macs_unknown_nodes``. ``depth`` is the number of ops on the longest path;
    ``parallelism`` is total cost / critical-path cost under the cost model of
    docs/architecture.md.
    """

    nodes: int
    main_graph_nodes: int
    subgraphs: int
    functions: int
    initializers: int
    op_histogram: dict[str, int]
    params: int
    param_bytes: int
    macs: int
    macs_unknown_nodes: int
    depth: int
    total_cost: float
    critical_path_cost: float
    parallelism: float
    critical_path: list[str]


class PassRecord(_Model):
    """One application of one pass (fixed-point groups give one record per iteration)."""

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
    nodes_rewritten: int
    params_delta: int
    bytes_delta: int
    notes: list[str] = Field(default_factory=list)


class OutputComparison(_Model):
    """One output compared over all input sets (worst case over the sets)."""

    name: str
    dtype: str | None
    shape_match: bool
    dtype_match: bool
    max_abs: float | None
    max_rel: float | None
    cosine: float | None
    mismatched: int = Field(0, description="elements outside atol + rtol*|expected|")
    compared: bool = Field(True, description="false for outputs of nondeterministic ops")
    passed: bool
    top1_agreement: float | None = Field(
        None,
        description="fraction of argmax positions over the last axis that agree, for "
        "classifier-like float outputs (rank 2 or 3, last dim >= 2); else null",
    )


class InputsUsed(_Model):
    """Where the verification inputs came from and their shapes."""

    source: Literal["random", "file"]
    sets: int
    seed: int | None
    shapes: dict[str, list[int]]


class RolledBack(_Model):
    """A pass removed from the pipeline because it broke equivalence or raised."""

    name: str
    reason: Literal["mismatch", "exception"]
    error: str
    outputs: list[OutputComparison] = Field(default_factory=list)


class Verification(_Model):
    """Original vs optimized on the same inputs with onnxruntime (CPU EP, same options).

    ``status``: ``passed``/``failed``, or ``skipped`` (the caller turned it off) or
    ``unavailable`` (onnxruntime cannot run the original; ``reason`` says why). ``passed``
    is null unless a comparison ran.
    """

    status: Literal["passed", "failed", "skipped", "unavailable"]
    passed: bool | None
    reason: str | None = None
    atol: float
    rtol: float
    inputs: InputsUsed | None = None
    outputs: list[OutputComparison] = Field(default_factory=list)
    rolled_back: list[RolledBack] = Field(default_factory=list)
    attempts: int = 0
    lossy_requested: bool = Field(
        False,
        description="failed only because a lossy pass the caller asked for (pruning) "
        "changed the outputs: the first pass application that changes them is that pass",
    )


class DiagnosticModel(_Model):
    """A warning: stable code, message, detail."""

    code: str
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


class PipelineInfo(_Model):
    """What was asked for: the pipeline's name, its passes, and the per-pass options."""

    name: str
    passes: list[str]
    pass_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    input_shapes: dict[str, list[int]] = Field(default_factory=dict)


class OutputFile(_Model):
    """The written optimized model."""

    path: str
    size_bytes: int
    data_path: str | None = None
    data_bytes: int = 0


class Timings(_Model):
    """Wall time of each stage, in milliseconds."""

    load_ms: float = 0.0
    passes_ms: float = 0.0
    verify_ms: float = 0.0
    save_ms: float = 0.0
    profile_ms: float = 0.0
    total_ms: float = 0.0


class SelectionCandidate(_Model):
    """One candidate of measured selection and how it did (latencies in ms)."""

    name: str = Field(description="original, lossless, a target, or TARGET-without-PASS")
    target: str | None = Field(None, description="the target its pipeline ran for")
    pipeline: str | None = Field(None, description="pipeline name (null: the original)")
    excluded: list[str] = Field(default_factory=list, description="passes dropped on purpose")
    status: Literal["timed", "unverified", "failed", "not_timed"]
    reason: str | None = None
    verified: bool = Field(description="outputs match the original's (true for the original)")
    nodes: int | None = None
    latency: LatencyStats | None = None
    spread: float | None = Field(
        None, description="(p90 - min) / median of its timed runs: the run-to-run noise"
    )
    ratio: float | None = Field(None, description="median / the original's median")
    wins: int | None = Field(None, description="rounds in which it ran faster than the original")
    p_value: float | None = Field(
        None, description="one-sided sign-test p-value of 'faster than the original'"
    )


class Selection(_Model):
    """Measured selection ("do no harm"): which candidate was kept, and why."""

    status: Literal["done", "skipped"]
    reason: str
    rule: str
    session: SessionConfig | None = None
    warmup: int = 0
    rounds: int = 0
    budget_s: float
    candidates: list[SelectionCandidate] = Field(default_factory=list)
    chosen: str
    nothing_helped: bool = Field(
        description="no candidate was faster than the original beyond measurement noise"
    )
    ms: float = 0.0


class Report(_Model):
    """The whole report (schema version :data:`SCHEMA_VERSION`)."""

    schema_version: str = SCHEMA_VERSION
    graphopt_version: str
    created: str
    model: ModelInfo
    pipeline: PipelineInfo
    original: GraphStats
    optimized: GraphStats
    passes: list[PassRecord]
    verification: Verification
    warnings: list[DiagnosticModel] = Field(default_factory=list)
    timings: Timings
    output: OutputFile | None = None
    profile: ProfileReport | None = Field(
        None, description="before/after onnxruntime profiling, when asked for"
    )
    pruning: PruningReport | None = Field(
        None, description="what pruning removed and what it cost, when a pruning pass ran"
    )
    memory: MemoryReport | None = Field(
        None, description="activation memory plan of the optimized model, when asked for"
    )
    selection: Selection | None = Field(
        None, description="measured selection among candidate pipelines, when asked for"
    )
