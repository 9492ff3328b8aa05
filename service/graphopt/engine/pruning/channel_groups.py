"""Channel dependency groups: which channels of which tensors must be pruned together.

Contract of :func:`discover_channels` (the model is only read, never changed):

Every output channel of a *producer* (a default-domain Conv, ConvTranspose, Gemm, or a
MatMul whose second operand is a constant matrix, with constant weights) gets an integer
*channel id*. The ids are followed forward, in the topological order of the main graph's
networkx view (:func:`~graphopt.engine.graph_view.view.build_view`), through every op that
keeps channels apart: activations and other elementwise ops, BatchNormalization, pooling,
Resize, Transpose, Reshape/Flatten/Squeeze/Unsqueeze that keep the channel axis whole (or
merge it with trailing dims), reductions and Softmax over other axes, Concat (ids are
concatenated: index remapping) and Split (ids are sliced). Ids that must be pruned
together are merged with a union-find (:class:`networkx.utils.UnionFind`):

- elementwise ops with two channel-carrying operands (residual Add, Mul gates) merge the
  ids position by position, coupling all producers of the same channels;
- a depthwise or grouped Conv merges each input channel group with its output channel
  group: pruning removes whole convolution groups;
- a Conv/Gemm/MatMul reading channel-carrying data records its weight's input axis.

A merged id is a *channel class*; classes with the same set of producers form a
:class:`ChannelGroup`, the unit of pruning and of the report. A class is *blocked*, with a
reason, when any of its channels reaches something that could not stay correct with fewer
channels: a graph output (output shapes never change), an op not listed above, a
non-constant operand of channel size, a Shape op, a subgraph capture, an axis-mixing
Reshape (attention heads), a normalization over the channel axis, a grouped Conv whose
input channels cannot be pruned. A group with a blocked class is skipped as a whole.

Everything the edit needs is recorded as sites: constant operands and the axis their
channel ids index (:class:`ParamSite`), values whose shape carries the ids
(:class:`ValueSite`), and attribute/shape-operand fixes (:class:`NodeFix`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import networkx as nx
import numpy as np
import onnx_ir as ir

from graphopt.engine.graph_view.view import build_view

_DEFAULT_DOMAINS = frozenset({"", "ai.onnx"})
_PASS_THROUGH = frozenset(
    {
        "Abs", "Ceil", "Celu", "Clip", "Cos", "Elu", "Erf", "Exp", "Floor", "Gelu",
        "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Log", "Mish", "Neg",
        "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Softplus",
        "Softsign", "Sqrt", "Tanh", "ThresholdedRelu", "Cast", "Dropout",
    }
)  # fmt: skip
_ELEMENTWISE = frozenset(
    {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Where"}
)
_SPATIAL = frozenset(
    {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "Resize", "Pad"}
)
_REDUCE = frozenset(
    {
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
    }
)  # fmt: skip
_RESHAPES = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})

SiteRole = Literal["producer", "consumer", "param"]


@dataclass
class ParamSite:
    """Input ``index`` of ``node`` is a constant whose ``axis`` is indexed by channel ``ids``.

    ``producer``: the weights making the channels (their norms rank the channels);
    ``consumer``: the weights reading them; ``param``: per-channel constants (bias, BN).
    """

    node: ir.Node
    index: int
    axis: int
    ids: np.ndarray
    role: SiteRole


@dataclass
class ValueSite:
    """``value`` carries channel ``ids`` along ``axis`` (its shape shrinks with them)."""

    value: ir.Value
    axis: int
    ids: np.ndarray


@dataclass
class NodeFix:
    """An attribute or shape operand that must follow the kept channel count.

    ``group``: a grouped Conv's ``group`` = kept(ids[0]) / ``size``; ``split``: a Split's
    sizes = kept(ids[k]) per output; ``reshape``: entry ``size`` of a Reshape's constant
    target shape = kept(ids[0]).
    """

    node: ir.Node
    kind: Literal["group", "split", "reshape"]
    ids: list[np.ndarray]
    size: int = 0


@dataclass
class ChannelGroup:
    """Channel classes sharing one set of producers.

    ``classes`` are union-find roots; ``width[c]`` is how many output channels of the first
    producer class ``c`` holds (1, or a whole group of a grouped Conv); ``reasons`` is empty
    unless the group cannot be pruned.
    """

    producers: tuple[str, ...]
    classes: list[int]
    width: dict[int, int]
    reasons: list[str]

    @property
    def channels(self) -> int:
        return sum(self.width.values())


@dataclass
class ChannelAnalysis:
    """The result of :func:`discover_channels` (see module contract)."""

    root_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """The class root of every channel id (indexed by id)."""
    params: list[ParamSite] = field(default_factory=list)
    values: list[ValueSite] = field(default_factory=list)
    fixes: list[NodeFix] = field(default_factory=list)
    groups: list[ChannelGroup] = field(default_factory=list)

    def roots(self, ids: np.ndarray) -> np.ndarray:
        """The class of every id in ``ids``."""
        return self.root_of[ids]


@dataclass(frozen=True)
class _Tracked:
    axis: int
    ids: np.ndarray


def _dims(value: ir.Value | None) -> list[int | str | None] | None:
    """Dims as ints, symbol names, or None (unknown); None when the rank is unknown."""
    if value is None or value.shape is None:
        return None
    dims: list[int | str | None] = []
    for dim in value.shape.dims:
        if isinstance(dim, int):
            dims.append(dim if dim >= 0 else None)
        else:
            dims.append(dim.value)
    return dims


def constant_array(value: ir.Value | None) -> np.ndarray | None:
    """The value's constant data (initializer or Constant output), or None."""
    if value is None:
        return None
    tensor = ir.convenience.get_const_tensor(value)
    return None if tensor is None else tensor.numpy()


def node_label(node: ir.Node) -> str:
    """The node's name, or its first output's name when it has none."""
    return node.name or node.outputs[0].name or node.op_type


def _product_key(dims: Sequence[int | str | None]) -> tuple[int, tuple[str, ...]] | None:
    """Product of int dims and the sorted symbols: equal keys mean equal element counts."""
    if any(d is None for d in dims):
        return None
    ints = [d for d in dims if isinstance(d, int)]
    return math.prod(ints), tuple(sorted(d for d in dims if isinstance(d, str)))


class _Discovery:
    def __init__(self, model: ir.Model) -> None:
        self.model = model
        self.uf = nx.utils.UnionFind()
        self.next_id = 0
        self.tracked: dict[ir.Value, _Tracked] = {}
        self.origin: dict[int, str] = {}
        self.blocked: dict[int, str] = {}
        self.analysis = ChannelAnalysis()

    # ---------------------------------------------------------------- bookkeeping

    def fresh(self, count: int, origin: str | None = None) -> np.ndarray:
        ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        self.next_id += count
        for i in ids:
            self.uf[int(i)]
            if origin is not None:
                self.origin[int(i)] = origin
        return ids

    def block(self, ids: np.ndarray, reason: str) -> None:
        for i in ids:
            self.blocked.setdefault(int(i), reason)

    def block_inputs(self, node: ir.Node, reason: str) -> None:
        for value in node.inputs:
            if value is not None and value in self.tracked:
                self.block(self.tracked[value].ids, reason)

    def union(self, first: np.ndarray, second: np.ndarray) -> None:
        for a, b in zip(first, second, strict=True):
            self.uf.union(int(a), int(b))

    def track(self, value: ir.Value, axis: int, ids: np.ndarray) -> None:
        self.tracked[value] = _Tracked(axis, ids)
        self.analysis.values.append(ValueSite(value, axis, ids))

    def param(self, node: ir.Node, index: int, axis: int, ids: np.ndarray, role: SiteRole) -> None:
        self.analysis.params.append(ParamSite(node, index, axis, ids, role))

    def input_of(self, node: ir.Node, index: int = 0) -> _Tracked | None:
        value = node.inputs[index] if index < len(node.inputs) else None
        return None if value is None else self.tracked.get(value)

    # ---------------------------------------------------------------- walk

    def run(self) -> ChannelAnalysis:
        view = build_view(self.model)
        nodes = list(self.model.graph)
        ops = [n for n, attrs in view.nodes(data=True) if attrs["kind"] == "op"]
        order = [n for n in nx.topological_sort(view.subgraph(ops))]
        for node_id in order:
            self.visit(nodes[view.nodes[node_id]["index"]])
        for value, tracked in self.tracked.items():
            if value.is_graph_output():
                self.block(tracked.ids, f"reaches graph output {value.name!r}")
            for user, _ in value.uses():
                if user.graph is not self.model.graph:
                    self.block(tracked.ids, f"read inside a subgraph of {user.name!r}")
        self.analysis.groups = self.group()
        return self.analysis

    def visit(self, node: ir.Node) -> None:
        label = f"{node.op_type} {node.name!r}"
        if node.domain not in _DEFAULT_DOMAINS:
            self.block_inputs(node, f"{label} (domain {node.domain!r}) is not understood")
            return
        producer = _PRODUCERS.get(node.op_type)
        if producer is not None:
            producer(self, node)
            return
        if not any(v is not None and v in self.tracked for v in node.inputs):
            return
        handler = _HANDLERS.get(node.op_type)
        if handler is None or any(attr.type in _GRAPH_ATTRS for attr in node.attributes.values()):
            self.block_inputs(node, f"{label} is not channel-transparent")
            return
        handler(self, node)

    def group(self) -> list[ChannelGroup]:
        root_of = np.fromiter((self.uf[i] for i in range(self.next_id)), np.int64, self.next_id)
        self.analysis.root_of = root_of
        members: dict[int, list[int]] = defaultdict(list)
        for i, root in enumerate(root_of.tolist()):
            members[root].append(i)
        by_producers: dict[tuple[str, ...], ChannelGroup] = {}
        for root, ids in members.items():
            producers = tuple(sorted({self.origin[i] for i in ids if i in self.origin}))
            if not producers:
                continue  # ids standing for unprunable inputs only
            group = by_producers.setdefault(producers, ChannelGroup(producers, [], {}, []))
            group.classes.append(root)
            group.width[root] = sum(1 for i in ids if self.origin.get(i) == producers[0])
            for i in ids:
                reason = self.blocked.get(i)
                if reason is not None and reason not in group.reasons:
                    group.reasons.append(reason)
        return list(by_producers.values())


_GRAPH_ATTRS = (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)
_Handler = Callable[[_Discovery, ir.Node], None]


# -------------------------------------------------------------------- producers


def _conv(d: _Discovery, node: ir.Node) -> None:
    label = f"Conv {node.name!r}"
    weight = constant_array(node.inputs[1])
    data = d.input_of(node)
    if data is not None and data.axis != 1:
        d.block(data.ids, f"{label} reads channels on axis {data.axis}")
        data = None
    if weight is None or weight.ndim < 3:
        d.block_inputs(node, f"{label} has non-constant weights")
        return
    group = node.attributes.get_int("group", 1)
    c_out, per_group_in = weight.shape[:2]
    out_ids = d.fresh(c_out, node_label(node))
    d.param(node, 1, 0, out_ids, "producer")
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        d.param(node, 2, 0, out_ids, "param")
    if group == 1:
        if data is not None:
            d.param(node, 1, 1, data.ids, "consumer")
    else:
        in_ids = data.ids if data is not None else d.fresh(per_group_in * group)
        if data is None:
            d.block(in_ids, f"grouped {label} reads channels that cannot be pruned")
        per_group_out = c_out // group
        for j in range(group):
            chunk = np.concatenate(
                [
                    in_ids[j * per_group_in : (j + 1) * per_group_in],
                    out_ids[j * per_group_out : (j + 1) * per_group_out],
                ]
            )
            d.union(chunk[:-1], chunk[1:])
        d.analysis.fixes.append(NodeFix(node, "group", [out_ids], per_group_out))
    d.track(node.outputs[0], 1, out_ids)


def _conv_transpose(d: _Discovery, node: ir.Node) -> None:
    label = f"ConvTranspose {node.name!r}"
    weight = constant_array(node.inputs[1])
    if weight is None or weight.ndim < 3 or node.attributes.get_int("group", 1) != 1:
        d.block_inputs(node, f"{label} is grouped or has non-constant weights")
        return
    data = d.input_of(node)
    if data is not None:
        if data.axis == 1:
            d.param(node, 1, 0, data.ids, "consumer")
        else:
            d.block(data.ids, f"{label} reads channels on axis {data.axis}")
    out_ids = d.fresh(weight.shape[1], node_label(node))
    d.param(node, 1, 1, out_ids, "producer")
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        d.param(node, 2, 0, out_ids, "param")
    d.track(node.outputs[0], 1, out_ids)


def _gemm(d: _Discovery, node: ir.Node) -> None:
    label = f"Gemm {node.name!r}"
    weight = constant_array(node.inputs[1])
    trans_b = node.attributes.get_int("transB", 0)
    if weight is None or weight.ndim != 2 or node.attributes.get_int("transA", 0) != 0:
        d.block_inputs(node, f"{label} transposes A or has non-constant B")
        return
    data = d.input_of(node)
    if data is not None:
        if data.axis == 1:
            d.param(node, 1, 1 if trans_b else 0, data.ids, "consumer")
        else:
            d.block(data.ids, f"{label} reads channels on axis {data.axis}")
    n = weight.shape[0] if trans_b else weight.shape[1]
    out_ids = d.fresh(n, node_label(node))
    d.param(node, 1, 0 if trans_b else 1, out_ids, "producer")
    bias = constant_array(node.inputs[2]) if len(node.inputs) > 2 else None
    if bias is not None and bias.ndim >= 1 and bias.shape[-1] == n and n > 1:
        d.param(node, 2, bias.ndim - 1, out_ids, "param")
    d.track(node.outputs[0], 1, out_ids)


def _matmul(d: _Discovery, node: ir.Node) -> None:
    label = f"MatMul {node.name!r}"
    weight = constant_array(node.inputs[1])
    dims = _dims(node.inputs[0])
    if weight is None or weight.ndim != 2 or dims is None or len(dims) < 2:
        d.block_inputs(node, f"{label} is not data x constant matrix")
        return
    data = d.input_of(node)
    if data is not None:
        if data.axis == len(dims) - 1:
            d.param(node, 1, 0, data.ids, "consumer")
        else:
            d.block(data.ids, f"{label} reads channels on axis {data.axis}")
    out_ids = d.fresh(weight.shape[1], node_label(node))
    d.param(node, 1, 1, out_ids, "producer")
    d.track(node.outputs[0], len(dims) - 1, out_ids)


_PRODUCERS: dict[str, _Handler] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _matmul,
}


# -------------------------------------------------------------------- transparent ops


def _single_tracked(d: _Discovery, node: ir.Node) -> _Tracked | None:
    """The tracked data input; blocks and returns None when another input is tracked too."""
    data = d.input_of(node)
    others = [v for v in node.inputs[1:] if v is not None and v in d.tracked]
    if data is None or others:
        d.block_inputs(node, f"{node.op_type} {node.name!r} reads channels on a parameter input")
        return None
    return data


def _only_first_output_used(node: ir.Node) -> bool:
    return not any(out.uses() or out.is_graph_output() for out in node.outputs[1:])


def _pass_through(d: _Discovery, node: ir.Node) -> None:
    data = _single_tracked(d, node)
    if data is None:
        return
    if not _only_first_output_used(node):
        d.block(data.ids, f"{node.op_type} {node.name!r} has a second output in use")
        return
    d.track(node.outputs[0], data.axis, data.ids)


def _elementwise(d: _Discovery, node: ir.Node) -> None:
    label = f"{node.op_type} {node.name!r}"
    out_dims = _dims(node.outputs[0])
    in_dims = [_dims(v) for v in node.inputs]
    ranks = [len(x) for x in in_dims if x is not None]
    if any(x is None for v, x in zip(node.inputs, in_dims, strict=True) if v is not None):
        d.block_inputs(node, f"{label} has an operand of unknown rank")
        return
    rank = len(out_dims) if out_dims is not None else max(ranks)
    axis: int | None = None
    coupled: list[np.ndarray] = []
    for value, dims in zip(node.inputs, in_dims, strict=True):
        if value is None or value not in d.tracked:
            continue
        assert dims is not None
        tracked = d.tracked[value]
        position = tracked.axis + rank - len(dims)
        if (axis is not None and position != axis) or (
            coupled and len(coupled[0]) != len(tracked.ids)
        ):
            d.block_inputs(node, f"{label} combines channels on different axes")
            return
        axis = position
        coupled.append(tracked.ids)
    assert axis is not None
    channels = len(coupled[0])
    for index, (value, dims) in enumerate(zip(node.inputs, in_dims, strict=True)):
        if value is None or value in d.tracked:
            continue
        assert dims is not None
        local = axis - (rank - len(dims))
        if local < 0 or dims[local] == 1:
            continue
        if dims[local] == channels and constant_array(value) is not None:
            d.param(node, index, local, coupled[0], "param")
            continue
        d.block_inputs(node, f"{label} has a non-constant operand of channel size")
        return
    for other in coupled[1:]:
        d.union(coupled[0], other)
    d.track(node.outputs[0], axis, coupled[0])


def _normalization(d: _Discovery, node: ir.Node) -> None:
    """BatchNormalization / InstanceNormalization: per-channel parameters on axis 1."""
    data = _single_tracked(d, node)
    if data is None:
        return
    if data.axis != 1 or not _only_first_output_used(node):
        d.block(data.ids, f"{node.op_type} {node.name!r} normalizes another axis or trains")
        return
    for index in range(1, len(node.inputs)):
        if node.inputs[index] is not None:
            if constant_array(node.inputs[index]) is None:
                d.block(data.ids, f"{node.op_type} {node.name!r} has non-constant parameters")
                return
            d.param(node, index, 0, data.ids, "param")
    d.track(node.outputs[0], 1, data.ids)


def _spatial(d: _Discovery, node: ir.Node) -> None:
    """Pooling, Resize and Pad keep channels when the channel dim is unchanged."""
    data = _single_tracked(d, node)
    if data is None:
        return
    out_dims = _dims(node.outputs[0])
    resized = node.op_type == "Resize" and len(node.inputs) > 3 and node.inputs[3] is not None
    same = out_dims is not None and out_dims[data.axis] == len(data.ids)
    if resized or not same or not _only_first_output_used(node):
        d.block(data.ids, f"{node.op_type} {node.name!r} changes or sizes the channel axis")
        return
    d.track(node.outputs[0], data.axis, data.ids)


def _reduce_axes(node: ir.Node, rank: int) -> list[int] | None:
    if "axes" in node.attributes:
        axes = list(node.attributes.get_ints("axes", []))
    elif len(node.inputs) > 1 and node.inputs[1] is not None:
        constant = constant_array(node.inputs[1])
        if constant is None:
            return None
        axes = [int(a) for a in constant.reshape(-1)]
    else:
        axes = []
    if not axes:
        return None if node.attributes.get_int("noop_with_empty_axes", 0) == 0 else []
    return [a % rank for a in axes]


def _reduce(d: _Discovery, node: ir.Node) -> None:
    data = d.input_of(node)
    dims = _dims(node.inputs[0])
    if data is None or dims is None:
        d.block_inputs(node, f"{node.op_type} {node.name!r} has unknown axes")
        return
    axes = _reduce_axes(node, len(dims))
    if axes is None or data.axis in axes:
        d.block(data.ids, f"{node.op_type} {node.name!r} reduces over the channel axis")
        return
    keep = node.attributes.get_int("keepdims", 1)
    axis = data.axis if keep else data.axis - sum(1 for a in axes if a < data.axis)
    d.track(node.outputs[0], axis, data.ids)


def _softmax(d: _Discovery, node: ir.Node) -> None:
    data = d.input_of(node)
    dims = _dims(node.inputs[0])
    if data is None or dims is None:
        d.block_inputs(node, f"{node.op_type} {node.name!r} has unknown rank")
        return
    opset = d.model.opset_imports.get("", 1)
    axis = node.attributes.get_int("axis", -1 if opset >= 13 else 1) % len(dims)
    mixes = data.axis == axis if opset >= 13 else data.axis >= axis
    if mixes:
        d.block(data.ids, f"{node.op_type} {node.name!r} normalizes over the channel axis")
        return
    d.track(node.outputs[0], data.axis, data.ids)


def _transpose(d: _Discovery, node: ir.Node) -> None:
    data = d.input_of(node)
    dims = _dims(node.inputs[0])
    assert data is not None
    if dims is None:
        d.block(data.ids, f"Transpose {node.name!r} has unknown rank")
        return
    perm = list(node.attributes.get_ints("perm", list(range(len(dims)))[::-1]))
    d.track(node.outputs[0], perm.index(data.axis), data.ids)


def _reshape(d: _Discovery, node: ir.Node) -> None:
    """Keep the channel axis whole (same ids) or merged with trailing dims (ids repeated)."""
    label = f"{node.op_type} {node.name!r}"
    data = _single_tracked(d, node)
    if data is None:
        return
    before, after = _dims(node.inputs[0]), _dims(node.outputs[0])
    found: tuple[int, np.ndarray] | None = None
    if before is not None and after is not None:
        channels = len(data.ids)
        lead = _product_key(before[: data.axis])
        trail = before[data.axis + 1 :]
        trail_key = _product_key(trail)
        for b in range(len(after)):
            if lead is None or _product_key(after[:b]) != lead:
                continue
            if after[b] == channels and _product_key(after[b + 1 :]) == trail_key:
                found = (b, data.ids)
            elif (
                trail_key is not None
                and not trail_key[1]
                and after[b] == channels * trail_key[0]
                and _product_key(after[b + 1 :]) == (1, ())
            ):
                found = (b, np.repeat(data.ids, trail_key[0]))
            if found is not None:
                break
    if found is None:
        d.block(data.ids, f"{label} splits or mixes the channel axis")
        return
    axis, ids = found
    if node.op_type == "Reshape":
        target = constant_array(node.inputs[1])
        entry = None if target is None else int(target.reshape(-1)[axis])
        if entry == after[axis]:  # type: ignore[index]
            d.analysis.fixes.append(NodeFix(node, "reshape", [ids], axis))
        elif not (entry == -1 or (entry == 0 and axis == data.axis)):
            d.block(data.ids, f"{label} has a non-constant target shape")
            return
    d.track(node.outputs[0], axis, ids)


def _concat(d: _Discovery, node: ir.Node) -> None:
    label = f"Concat {node.name!r}"
    out_dims = _dims(node.outputs[0])
    if out_dims is None:
        d.block_inputs(node, f"{label} has unknown rank")
        return
    axis = node.attributes.get_int("axis", 0) % len(out_dims)
    tracked = [d.tracked.get(v) for v in node.inputs if v is not None]
    if any(t is not None and t.axis != axis for t in tracked):
        _elementwise_concat(d, node, label)
        return
    pieces: list[np.ndarray] = []
    for value, t in zip([v for v in node.inputs if v is not None], tracked, strict=True):
        if t is not None:
            pieces.append(t.ids)
            continue
        dims = _dims(value)
        size = None if dims is None else dims[axis]
        if not isinstance(size, int):
            d.block_inputs(node, f"{label} has an input of unknown channel count")
            return
        pieces.append(d.fresh(size))
        d.block(pieces[-1], f"{label} also concatenates channels that cannot be pruned")
    d.track(node.outputs[0], axis, np.concatenate(pieces))


def _elementwise_concat(d: _Discovery, node: ir.Node, label: str) -> None:
    """Concat along another axis: every input must carry the same channels."""
    tracked = [d.tracked.get(v) for v in node.inputs if v is not None]
    first = tracked[0]
    if any(t is None or t.axis != first.axis or len(t.ids) != len(first.ids) for t in tracked):  # type: ignore[union-attr]
        d.block_inputs(node, f"{label} joins channels along another axis with other data")
        return
    assert first is not None
    for t in tracked[1:]:
        assert t is not None
        d.union(first.ids, t.ids)
    d.track(node.outputs[0], first.axis, first.ids)


def _split(d: _Discovery, node: ir.Node) -> None:
    data = _single_tracked(d, node)
    dims = _dims(node.inputs[0])
    if data is None:
        return
    if dims is None:
        d.block(data.ids, f"Split {node.name!r} has unknown rank")
        return
    axis = node.attributes.get_int("axis", 0) % len(dims)
    if axis != data.axis:
        for out in node.outputs:
            d.track(out, data.axis, data.ids)
        return
    sizes = [(_dims(out) or [None] * len(dims))[axis] for out in node.outputs]
    if not all(isinstance(s, int) for s in sizes) or sum(sizes) != len(data.ids):  # type: ignore[arg-type]
        d.block(data.ids, f"Split {node.name!r} has unknown output sizes")
        return
    offsets = np.cumsum([0, *sizes])
    parts = [data.ids[offsets[k] : offsets[k + 1]] for k in range(len(sizes))]
    d.analysis.fixes.append(NodeFix(node, "split", parts))
    for out, part in zip(node.outputs, parts, strict=True):
        d.track(out, axis, part)


_HANDLERS: dict[str, _Handler] = {
    **dict.fromkeys(_PASS_THROUGH, _pass_through),
    **dict.fromkeys(_ELEMENTWISE, _elementwise),
    **dict.fromkeys(_SPATIAL, _spatial),
    **dict.fromkeys(_REDUCE, _reduce),
    **dict.fromkeys(_RESHAPES, _reshape),
    "BatchNormalization": _normalization,
    "InstanceNormalization": _normalization,
    "Softmax": _softmax,
    "LogSoftmax": _softmax,
    "Transpose": _transpose,
    "Concat": _concat,
    "Split": _split,
}


def discover_channels(model: ir.Model) -> ChannelAnalysis:
    """Channel classes, groups and edit sites of the main graph (see module contract).

    Needs value shapes (run shape inference first); values of unknown shape block the
    channels that reach them.
    """
    return _Discovery(model).run()
