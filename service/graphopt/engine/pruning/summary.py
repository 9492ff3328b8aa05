"""Assembles the report's ``pruning`` section from the passes' findings and measurements."""

from __future__ import annotations

import gzip

import onnx_ir as ir

from graphopt.engine.profiling.profile import ProfileReport
from graphopt.engine.pruning.report import (
    OutputDeviation,
    PruningDetails,
    PruningReport,
)
from graphopt.engine.report import GraphStats, OutputComparison


def _sizes(model: ir.Model) -> tuple[int, int]:
    """Serialized size and gzip-compressed size (level 6) in bytes."""
    data = ir.serde.serialize_model(model).SerializeToString()
    return len(data), len(gzip.compress(data, compresslevel=6))


def pruning_report(
    details: PruningDetails,
    original: ir.Model,
    candidate: ir.Model,
    original_stats: GraphStats,
    optimized_stats: GraphStats,
    outputs: list[OutputComparison],
    profile: ProfileReport | None,
) -> PruningReport:
    """The ``pruning`` section: ``details`` plus params, MACs, sizes, deviation, latency."""
    file_before, gzip_before = _sizes(original)
    file_after, gzip_after = _sizes(candidate)
    return PruningReport(
        **details.model_dump(),
        params_before=original_stats.params,
        params_after=optimized_stats.params,
        macs_before=original_stats.macs,
        macs_after=optimized_stats.macs,
        file_bytes_before=file_before,
        file_bytes_after=file_after,
        gzip_bytes_before=gzip_before,
        gzip_bytes_after=gzip_after,
        latency_before_ms=None if profile is None else profile.original.latency.mean_ms,
        latency_after_ms=None if profile is None else profile.optimized.latency.mean_ms,
        outputs=[
            OutputDeviation(
                name=o.name,
                max_abs=o.max_abs,
                max_rel=o.max_rel,
                cosine=o.cosine,
                top1_agreement=o.top1_agreement,
            )
            for o in outputs
            if o.compared
        ],
    )
