"""Structured channel pruning: choose channels per group, then remove them physically.

:func:`plan_pruning` decides, group by group (:class:`~.channel_groups.ChannelGroup`), which
channel classes go: the ``ratio`` lowest-importance classes (per-layer ratio when a pattern
names one of the group's producers), capped by ``max_ratio``, keeping at least
``min_channels`` and a multiple of ``round_to`` channels (or all of them): the kept count
is rounded to the nearest multiple (``round_mode="nearest"``, falling back to rounding up
where rounding down would break ``max_ratio`` or ``min_channels``) or up. Groups whose
channels are blocked, or whose producers match ``exclude``, are skipped with the reason.

:func:`remove_channels` slices every recorded constant along its channel axis (a sliced
copy replaces the operand, so shared constants stay intact for their other readers),
shrinks the shapes of the values carrying the channels, and rewrites Conv ``group``, Split
sizes and Reshape targets. Graph inputs and outputs are never touched: channels reaching
them are blocked during discovery.
"""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np
import onnx_ir as ir
from pydantic import BaseModel, ConfigDict, Field

from graphopt.engine.pruning.channel_groups import (
    ChannelAnalysis,
    ChannelGroup,
    NodeFix,
    constant_array,
)
from graphopt.engine.pruning.importance import Importance
from graphopt.engine.pruning.report import ChannelGroupReport


class StructuredOptions(BaseModel):
    """Options of structured channel pruning."""

    model_config = ConfigDict(extra="forbid")

    ratio: float = Field(0.3, ge=0, lt=1, description="fraction of each group's channels to remove")
    layer_ratios: dict[str, float] = Field(
        default_factory=dict,
        description="ratio by producer-name pattern (fnmatch); the first match wins",
    )
    min_channels: int = Field(1, ge=1, description="channels every group keeps at least")
    max_ratio: float = Field(0.9, ge=0, lt=1, description="largest fraction removed per group")
    exclude: list[str] = Field(
        default_factory=list, description="producer-name patterns (fnmatch) never pruned"
    )
    round_to: int = Field(
        8, ge=1, description="kept channels per group are a multiple of this (8: AVX2 blocks)"
    )
    round_mode: Literal["nearest", "up"] = Field(
        "nearest", description="round the kept channels to the nearest multiple, or up"
    )
    importance: Importance = "l1"
    calibration: Path | None = Field(None, description=".npz inputs for importance=activation")


def _match(patterns: list[str] | dict[str, float], names: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(name, pattern) for name in names):
            return pattern
    return None


def _kept_classes(group: ChannelGroup, ratio: float, options: StructuredOptions) -> int:
    """How many classes the group keeps under ``ratio``, min/max and round_to."""
    count = len(group.classes)
    width = max(group.channels // count, 1)
    lowest = max(
        count - math.floor(count * options.max_ratio), math.ceil(options.min_channels / width)
    )
    keep = max(count - math.floor(count * ratio), lowest)
    step = options.round_to // math.gcd(options.round_to, width)
    rounded = math.ceil(keep / step) * step
    if options.round_mode == "nearest":
        nearest = math.floor(keep / step + 0.5) * step
        rounded = nearest if nearest >= lowest else rounded
    return min(count, rounded)


def plan_pruning(
    analysis: ChannelAnalysis, scores: dict[int, float], options: StructuredOptions
) -> tuple[set[int], list[ChannelGroupReport]]:
    """The class roots to remove, and one report entry per group (see module contract)."""
    pruned: set[int] = set()
    reports: list[ChannelGroupReport] = []
    for group in analysis.groups:
        entry = ChannelGroupReport(
            producers=list(group.producers),
            channels_before=group.channels,
            channels_after=group.channels,
            status="skipped",
        )
        reports.append(entry)
        excluded = _match(options.exclude, group.producers)
        if group.reasons:
            entry.reason = "; ".join(group.reasons[:3])
            continue
        if excluded is not None:
            entry.reason = f"excluded by {excluded!r}"
            continue
        layer = _match(options.layer_ratios, group.producers)
        ratio = options.ratio if layer is None else options.layer_ratios[layer]
        keep = _kept_classes(group, ratio, options)
        if keep == len(group.classes):
            entry.status, entry.reason = "kept", "nothing to remove under ratio, min and round_to"
            continue
        ranked = sorted(group.classes, key=lambda root: (scores.get(root, 0.0), root))
        removed = ranked[: len(group.classes) - keep]
        pruned.update(removed)
        entry.status = "pruned"
        entry.channels_after = group.channels - sum(group.width[root] for root in removed)
    return pruned, reports


class _Editor:
    def __init__(self, model: ir.Model, analysis: ChannelAnalysis, pruned: set[int]) -> None:
        self.graph = model.graph
        self.opset = model.opset_imports.get("", 1)
        self.analysis = analysis
        self.pruned = np.fromiter(pruned, dtype=np.int64, count=len(pruned))
        self.replaced: list[ir.Value] = []

    def keep(self, ids: np.ndarray) -> np.ndarray:
        return ~np.isin(self.analysis.roots(ids), self.pruned)

    def constant(self, like: ir.Value | None, array: np.ndarray, hint: str) -> ir.Value:
        base = f"{like.name if like is not None and like.name else hint}.pruned"
        name, n = base, 0
        while name in self.graph.initializers:
            n += 1
            name = f"{base}.{n}"
        tensor = ir.tensor(array, name=name)
        value = ir.Value(
            name=name,
            type=ir.TensorType(tensor.dtype),
            shape=ir.Shape(array.shape),
            const_value=tensor,
        )
        self.graph.register_initializer(value)
        return value

    def replace_input(self, node: ir.Node, index: int, array: np.ndarray, hint: str) -> None:
        old = node.inputs[index] if index < len(node.inputs) else None
        new = self.constant(old, array, hint)
        if index >= len(node.inputs):
            node.resize_inputs(index + 1)
        node.replace_input_with(index, new)
        if old is not None:
            self.replaced.append(old)

    def params(self) -> int:
        sites: dict[tuple[ir.Node, int], list[tuple[int, np.ndarray]]] = defaultdict(list)
        for site in self.analysis.params:
            mask = self.keep(site.ids)
            if not mask.all():
                sites[(site.node, site.index)].append((site.axis, mask))
        for (node, index), cuts in sites.items():
            array = constant_array(node.inputs[index])
            assert array is not None
            for axis, mask in cuts:
                array = np.compress(mask, array, axis=axis)
            self.replace_input(node, index, array, f"{node.name}.{index}")
        return len(sites)

    def values(self) -> None:
        for site in self.analysis.values:
            if site.value.shape is None:
                continue
            kept = int(self.keep(site.ids).sum())
            dims = list(site.value.shape.dims)
            if dims[site.axis] != kept:
                dims[site.axis] = kept
                site.value.shape = ir.Shape(dims)

    def fix(self, fix: NodeFix) -> None:
        kept = [int(self.keep(ids).sum()) for ids in fix.ids]
        if kept == [len(ids) for ids in fix.ids]:
            return
        node = fix.node
        if fix.kind == "group":
            node.attributes["group"] = ir.AttrInt64("group", kept[0] // fix.size)
        elif fix.kind == "reshape":
            target = constant_array(node.inputs[1])
            assert target is not None
            target = target.copy()
            target.reshape(-1)[fix.size] = kept[0]
            self.replace_input(node, 1, target, f"{node.name}.shape")
        elif self.opset >= 13:
            node.attributes.pop("num_outputs", None)
            self.replace_input(node, 1, np.array(kept, dtype=np.int64), f"{node.name}.split")
        else:
            node.attributes["split"] = ir.AttrInt64s("split", kept)

    def drop_orphans(self) -> None:
        for old in self.replaced:
            if old.uses() or old.is_graph_input() or old.is_graph_output():
                continue
            if old.name and self.graph.initializers.get(old.name) is old:
                del self.graph.initializers[old.name]
            producer = old.producer()
            if (
                producer is not None
                and producer.op_type == "Constant"
                and producer.graph is self.graph
            ):
                self.graph.remove(producer, safe=True)


def remove_channels(model: ir.Model, analysis: ChannelAnalysis, pruned: set[int]) -> int:
    """Remove the channels of the ``pruned`` classes (see module contract); operands sliced."""
    if not pruned:
        return 0
    editor = _Editor(model, analysis, pruned)
    sliced = editor.params()
    editor.values()
    for fix in analysis.fixes:
        editor.fix(fix)
    editor.drop_orphans()
    return sliced
