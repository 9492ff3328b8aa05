"""The report's ``pruning`` section (docs/pruning.md): what pruning removed and what it cost.

The pruning passes publish their findings on the pass context (:data:`DETAILS_KEY`); the
optimizer completes them with model statistics, the verification's output deviation and,
when measured, latency.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DETAILS_KEY = "pruning"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelGroupReport(_Model):
    """One channel group of structured pruning (channels coupled across its producers).

    ``channels_*`` count output channels of the first producer. ``status``: ``pruned``
    (channels removed), ``kept`` (nothing to remove under the options), ``skipped`` (not
    prunable or excluded; ``reason`` says why).
    """

    producers: list[str]
    channels_before: int
    channels_after: int
    status: Literal["pruned", "kept", "skipped"]
    reason: str | None = None


class LayerSparsity(_Model):
    """One weight tensor after magnitude pruning: elements and zeros among them."""

    tensor: str
    node: str
    elements: int
    zeros_before: int
    zeros_after: int


class OutputDeviation(_Model):
    """One output of the pruned model against the original, worst case over input sets.

    ``top1_agreement`` is the fraction of argmax positions over the last axis that agree,
    for classifier-like outputs (float, rank 2 or 3, last dim >= 2); null otherwise.
    """

    name: str
    max_abs: float | None
    max_rel: float | None
    cosine: float | None
    top1_agreement: float | None = None


class PruningDetails(_Model):
    """What the pruning passes of one run report about themselves."""

    passes: list[str] = Field(default_factory=list)
    groups: list[ChannelGroupReport] = Field(default_factory=list)
    layers: list[LayerSparsity] = Field(default_factory=list)
    kept_outputs: list[str] = Field(default_factory=list)
    removed_outputs: list[str] = Field(default_factory=list)
    removed_inputs: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class PruningReport(PruningDetails):
    """The report's ``pruning`` section: details plus before/after measurements.

    ``params``/``macs`` come from the original's and the optimized model's statistics;
    ``file_bytes``/``gzip_bytes`` are the serialized model and its gzip-compressed size
    (what unstructured sparsity saves on disk or on the wire). ``latency_*_ms`` are mean
    latencies with the job's session options, null when not measured. ``outputs`` is the
    deviation on the verification inputs (empty when verification did not compare).
    """

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


def pruning_details(details: dict[str, object]) -> PruningDetails:
    """The pruning findings in a pass context's ``details``, created on first use."""
    found = details.setdefault(DETAILS_KEY, PruningDetails())
    assert isinstance(found, PruningDetails)
    return found
