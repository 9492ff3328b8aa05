"""Pass ``initializer_deduplication``."""

from __future__ import annotations

import onnx_ir as ir
from onnx_ir.passes.common import DeduplicateHashedInitializersPass
from pydantic import Field

from graphopt.engine.passes.base import ModelPass, NoOptions, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register


class InitializerDeduplicationOptions(NoOptions):
    max_elements: int = Field(
        1 << 24,
        ge=0,
        description="initializers larger than this are not compared (comparing reads their data)",
    )


@register
class InitializerDeduplication(ModelPass):
    """Make initializers with identical dtype, shape and bytes share one tensor.

    Matches: initializers of the same graph body equal in dtype, shape and content (hashed
    with SHA-512, then compared byte for byte), up to ``max_elements`` elements. Leaves
    alone: initializers that are graph inputs or outputs. Guarantees: every reader sees the
    same values as before; unused copies are dropped. Uses onnx-ir's hashed deduplication.
    Lossless.
    """

    name = "initializer_deduplication"
    family = PassFamily.CLEANUP
    lossless = True
    Options = InitializerDeduplicationOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, InitializerDeduplicationOptions)
        before = sum(len(g.initializers) for g in model.graphs())
        result = DeduplicateHashedInitializersPass(size_limit=self.options.max_elements)(model)
        removed = before - sum(len(g.initializers) for g in model.graphs())
        outcome = PassOutcome(changed=result.modified)
        if removed:
            outcome.counts["duplicate initializers merged"] = removed
        return outcome
