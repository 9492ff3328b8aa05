"""Pass ``channel_pruning``."""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine.passes.base import ModelPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register
from graphopt.engine.pruning.channel_groups import discover_channels
from graphopt.engine.pruning.importance import class_importance
from graphopt.engine.pruning.report import pruning_details
from graphopt.engine.pruning.structured import StructuredOptions, plan_pruning, remove_channels
from graphopt.engine.shapes import infer_shapes


@register
class ChannelPruning(ModelPass):
    """Remove the least important channels of every prunable channel group (lossy).

    Matches: channel groups of the main graph (:mod:`graphopt.engine.pruning.channel_groups`):
    Conv/ConvTranspose/Gemm/MatMul output channels followed through BatchNormalization,
    activations, residual Add/Mul (coupling all producers), Concat/Split (index remapping),
    depthwise/grouped Conv (coupling input and output channels) and MLP hidden dims.
    Guarantees: weights, biases and per-channel constants are physically sliced, so params
    and MACs drop; graph input and output shapes never change; a group that cannot be
    pruned safely is left whole and reported with the reason. Leaves alone: subgraphs and
    functions, and every channel reaching an op it does not understand. Lossy: outputs
    change; the optimizer reports the deviation. Runs shape inference first.
    """

    name = "channel_pruning"
    family = PassFamily.PRUNING
    lossless = False
    Options = StructuredOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, StructuredOptions)
        outcome = PassOutcome()
        infer_shapes(model)
        analysis = discover_channels(model)
        scores, notes = class_importance(
            analysis, model, self.options.importance, self.options.calibration
        )
        pruned, groups = plan_pruning(analysis, scores, self.options)
        outcome.counts["operands sliced"] = remove_channels(model, analysis, pruned)
        for status in ("pruned", "kept", "skipped"):
            outcome.counts[f"channel groups {status}"] = sum(g.status == status for g in groups)
        outcome.counts["channels removed"] = sum(
            g.channels_before - g.channels_after for g in groups
        )
        outcome.changed = bool(pruned)
        outcome.notes.extend(notes)
        details = pruning_details(ctx.details)
        details.passes.append(self.name)
        details.groups.extend(groups)
        details.notes.extend(notes)
        return outcome
