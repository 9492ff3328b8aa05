"""What a caller can ask of :func:`graphopt.engine.optimize` (shared by CLI, API, workers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphopt.engine.memory.models import MemoryOptions
from graphopt.engine.profiling.session_config import SessionConfig
from graphopt.engine.pruning.specs import parse_prune_spec


class VerifyOptions(BaseModel):
    """How the optimized model is checked against the original."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    sets: int = Field(3, ge=1, le=100, description="random input sets (ignored with inputs)")
    seed: int = 0
    inputs: Path | None = Field(None, description=".npz of inputs keyed by input name")
    atol: float | None = Field(None, ge=0, description="absolute tolerance; default by dtype")
    rtol: float | None = Field(None, ge=0, description="relative tolerance; default by dtype")
    session: SessionConfig = Field(
        default_factory=lambda: SessionConfig(
            intra_op_threads=0, inter_op_threads=0, graph_optimization_level="disable_all"
        ),
        description="onnxruntime session for verification; its own graph optimizations are "
        "off by default so that only graphopt's changes are compared",
    )


class ProfileOptions(BaseModel):
    """Before/after profiling with onnxruntime (latency, per-op breakdown, peak memory).

    Both models run with ``session`` on the first verification input set; the Chrome-trace
    files ``ort_profile_original.json`` and ``ort_profile_optimized.json`` are written into
    ``trace_dir`` (default: the output model's directory).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    session: SessionConfig = Field(
        default_factory=SessionConfig,
        description="session options for timing (default: 1 thread, ORT_ENABLE_ALL)",
    )
    warmup: int = Field(5, ge=0, le=1000)
    runs: int = Field(50, ge=1, le=100_000, description="timed runs per model, interleaved")
    profiled_runs: int = Field(10, ge=1, le=10_000, description="runs under the op profiler")
    trace_dir: Path | None = None
    tune: bool = Field(
        False,
        description="also sweep intra-op threads and sequential/parallel execution on the "
        "optimized model and recommend the fastest session settings (implies enabled)",
    )

    @model_validator(mode="after")
    def _tune_profiles(self) -> ProfileOptions:
        if self.tune:
            self.enabled = True
        return self


class SelectOptions(BaseModel):
    """Measured selection ("do no harm"): time candidate pipelines, keep the fastest verified.

    Candidates are the original model, its lossless clean-up, the pipeline for each target
    in ``targets`` (default: the requested target, plus ``portable`` when ``onnxruntime`` is
    requested) and variants that drop one fusion pass that fired. They are timed with the
    profiling session (``profile.session``), interleaved round-robin. See
    :mod:`graphopt.engine.selection` for the rule and docs/report.md for the report section.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    targets: list[Literal["portable", "onnxruntime"]] | None = Field(
        None, description="targets to try (default: see above)"
    )
    drop_fusions: bool = Field(True, description="try variants without one fired fusion pass")
    max_candidates: int = Field(8, ge=2, le=64, description="candidates built, original included")
    max_seconds: float = Field(
        10.0, gt=0, le=3600, description="budget for building and timing candidates (s)"
    )
    warmup: int = Field(2, ge=0, le=100, description="untimed rounds before timing")
    min_runs: int = Field(
        9, ge=5, le=1000, description="timed rounds at least (budget permitting candidates)"
    )
    max_runs: int = Field(200, ge=5, le=10_000, description="timed rounds at most")
    confidence: float = Field(
        0.95, gt=0.5, lt=1, description="one-sided sign-test confidence a winner needs"
    )
    tie: float = Field(
        0.02,
        ge=0,
        le=0.5,
        description="winners whose median is within this fraction of the fastest tie; the "
        "one with the fewest nodes is kept",
    )


class OptimizeOptions(BaseModel):
    """A pipeline (preset name or list of pass names) and its settings."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str | list[str] = "default"
    pass_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    input_shapes: dict[str, list[int]] = Field(default_factory=dict)
    target: Literal["portable", "onnxruntime"] = "portable"
    verify: VerifyOptions = Field(default_factory=VerifyOptions)
    profile: ProfileOptions = Field(default_factory=ProfileOptions)
    prune: list[str] = Field(
        default_factory=list,
        description="pruning specs run after the pipeline: 'structured:0.3', "
        "'unstructured:0.5', 'nm:2:4' (docs/pruning.md)",
    )
    keep_outputs: list[str] = Field(
        default_factory=list,
        description="graph outputs to keep; the others, and all that only they need, go",
    )
    memory: MemoryOptions | None = Field(
        default_factory=MemoryOptions.automatic,
        description="plan activation memory of the result (and schedule it unless "
        "memory.schedule is false); by default planned, not scheduled, whenever every "
        "activation has a static size; None: off. docs/memory.md",
    )
    select: SelectOptions = Field(
        default_factory=SelectOptions,
        description="measured selection among candidate pipelines (off by default here; "
        "on by default in the CLI and for jobs)",
    )

    @field_validator("prune")
    @classmethod
    def _prune_specs(cls, specs: list[str]) -> list[str]:
        for spec in specs:
            parse_prune_spec(spec)
        return specs
