"""Pass ``magnitude_pruning``."""

from __future__ import annotations

import fnmatch
import re
from typing import Literal

import numpy as np
import onnx_ir as ir
from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphopt.engine.passes.base import ModelPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register
from graphopt.engine.pruning.report import LayerSparsity, pruning_details
from graphopt.engine.pruning.unstructured import (
    Granularity,
    Norm,
    block_scores,
    global_threshold,
    nm_mask,
    threshold_mask,
)

SPEED_NOTE = (
    "unstructured sparsity keeps tensors dense: onnxruntime's dense CPU kernels run no "
    "faster; the gain is in compressed size"
)
_WEIGHT_OPS = {"Conv": 1, "ConvTranspose": 0, "Gemm": 0, "MatMul": 0}  # reduction axis of W


class MagnitudeOptions(BaseModel):
    """Options of unstructured magnitude pruning."""

    model_config = ConfigDict(extra="forbid")

    sparsity: float = Field(0.5, ge=0, lt=1, description="fraction of weights set to zero")
    scope: Literal["global", "layer"] = Field(
        "global", description="one threshold over all tensors, or one per tensor"
    )
    layer_sparsity: dict[str, float] = Field(
        default_factory=dict, description="sparsity by node-name pattern (fnmatch), scope=layer"
    )
    norm: Norm = "l1"
    granularity: Granularity = "element"
    nm: str | None = Field(None, description="N:M pattern such as '2:4' (overrides sparsity)")
    min_elements: int = Field(1024, ge=1, description="smaller weight tensors are left dense")
    exclude: list[str] = Field(default_factory=list, description="node-name patterns left dense")

    @field_validator("nm")
    @classmethod
    def _nm(cls, value: str | None) -> str | None:
        if value is not None:
            match = re.fullmatch(r"(\d+):(\d+)", value)
            if not match or not 0 < int(match[1]) < int(match[2]):
                raise ValueError("nm must be 'N:M' with 0 < N < M, e.g. '2:4'")
        return value


def _weights(model: ir.Model, options: MagnitudeOptions) -> list[tuple[ir.Node, ir.Value, int]]:
    """(node, weight initializer, reduction axis) of every eligible weight, each once."""
    found: dict[ir.Value, tuple[ir.Node, ir.Value, int]] = {}
    for node in model.graph:
        axis = _WEIGHT_OPS.get(node.op_type)
        if axis is None or node.domain not in ("", "ai.onnx") or len(node.inputs) < 2:
            continue
        value = node.inputs[1]
        if value is None or not value.is_initializer() or value.const_value is None:
            continue
        if value.dtype is None or not value.dtype.is_floating_point():
            continue
        if value.const_value.size < options.min_elements:
            continue
        if any(fnmatch.fnmatchcase(node.name or "", p) for p in options.exclude):
            continue
        if node.op_type == "Gemm" and node.attributes.get_int("transB", 0) != 0:
            axis = 1
        elif node.op_type == "MatMul":
            axis = max(len(value.const_value.shape) - 2, 0)  # K of a batched [..., K, N]
        found.setdefault(value, (node, value, axis))
    return list(found.values())


@register
class MagnitudePruning(ModelPass):
    """Zero the smallest-magnitude weights of Conv/ConvTranspose/Gemm/MatMul (lossy).

    Matches: float weight initializers (input 1) of those ops with at least
    ``min_elements`` elements, not excluded by name. Zeroes the ``sparsity`` fraction with
    the lowest L1/L2 score, under one global threshold or per tensor (``layer_sparsity``
    overrides), per element or per Conv kernel; or, with ``nm='N:M'``, keeps exactly N of
    every M consecutive weights along the reduction axis (tensors whose axis is not a
    multiple of M are left dense and noted). Guarantees: shapes, nodes and the graph
    interface are unchanged; only weight values become zero. Leaves alone: biases,
    subgraphs, functions. Dense CPU kernels run no faster (the report says so).
    """

    name = "magnitude_pruning"
    family = PassFamily.PRUNING
    lossless = False
    Options = MagnitudeOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        options = self.options
        assert isinstance(options, MagnitudeOptions)
        outcome = PassOutcome()
        weights = _weights(model, options)
        arrays = [value.const_value.numpy() for _, value, _ in weights]  # type: ignore[union-attr]
        masks: list[np.ndarray | None]
        if options.nm is not None:
            n, m = (int(x) for x in options.nm.split(":"))
            masks = [
                nm_mask(a, n, m, axis) for a, (_, _, axis) in zip(arrays, weights, strict=True)
            ]
            skipped = [
                v.name for (_, v, _), mask in zip(weights, masks, strict=True) if mask is None
            ]
            if skipped:
                outcome.notes.append(
                    f"{len(skipped)} tensors left dense: axis not a multiple of {m}"
                )
        else:
            scores = [block_scores(a, options.norm, options.granularity) for a in arrays]
            if options.scope == "global":
                cut = global_threshold(scores, options.sparsity)
                masks = [s > cut for s in scores]
            else:
                masks = [
                    threshold_mask(s, self._layer_sparsity(node.name or ""))
                    for s, (node, _, _) in zip(scores, weights, strict=True)
                ]
        details = pruning_details(ctx.details)
        details.passes.append(self.name)
        for (node, value, _), array, mask in zip(weights, arrays, masks, strict=True):
            if mask is None:
                continue
            pruned = np.where(mask, array, np.zeros_like(array))
            before = int(array.size - np.count_nonzero(array))
            after = int(pruned.size - np.count_nonzero(pruned))
            details.layers.append(
                LayerSparsity(
                    tensor=value.name or "",
                    node=node.name or "",
                    elements=int(array.size),
                    zeros_before=before,
                    zeros_after=after,
                )
            )
            if after != before:
                value.const_value = ir.tensor(pruned, name=value.name)
                outcome.counts["weight tensors pruned"] += 1
                outcome.counts["weights zeroed"] += after - before
        if SPEED_NOTE not in details.notes:
            details.notes.append(SPEED_NOTE)
        outcome.changed = outcome.counts["weight tensors pruned"] > 0
        return outcome

    def _layer_sparsity(self, name: str) -> float:
        assert isinstance(self.options, MagnitudeOptions)
        for pattern, sparsity in self.options.layer_sparsity.items():
            if fnmatch.fnmatchcase(name, pattern):
                return sparsity
        return self.options.sparsity
