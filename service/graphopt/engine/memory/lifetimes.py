"""Which tensors of a graph body live in the arena, who uses them, and when they live.

Conventions (docs/memory.md):

- the arena holds the outputs of the body's nodes (*activations*); graph inputs are the
  caller's buffers and initializers and ``Constant`` outputs are weights: none of these
  is in the arena;
- a tensor lives from the step of its producer to the step of its last consumer,
  both inclusive; a use inside an If/Loop/Scan body counts as a use by the node owning
  that body; a graph output lives until the last step; an output nobody reads lives only
  at its producer's step;
- a node owning subgraphs reserves a *workspace* at its own step, as large as the largest
  arena of its bodies (each planned on its own);
- *in place* (:func:`in_place_sources`): an elementwise or reshaping node may write its
  output over an input of the same size and dtype that it reads for the last time; the two
  tensors then share one buffer, live from the input's first step to the output's last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from graphopt.engine.memory.models import TensorKind, UnplannedTensor
from graphopt.engine.memory.tensor_sizes import align, tensor_bytes
from graphopt.engine.traversal import captured_values, outputs_by_name


@dataclass(frozen=True, eq=False)
class BodyTensor:
    """An activation of one body: its aligned size (bytes), producer and consumers."""

    name: str
    size: int
    producer: ir.Node
    consumers: frozenset[ir.Node]
    graph_output: bool
    value: ir.Value


@dataclass(frozen=True)
class Lifetime:
    """An arena tensor over one order: ``size`` bytes (aligned) live on ``first..last``."""

    name: str
    size: int
    first: int
    last: int
    kind: TensorKind


def is_weight_node(node: ir.Node) -> bool:
    """A default-domain ``Constant``: its output is a weight, kept outside the arena."""
    return node.op_type == "Constant" and node.domain in ("", "ai.onnx")


def produced_values(body: ir.Graph, *, weights: bool = False) -> dict[str, ir.Value]:
    """The body's node outputs by name (``Constant`` outputs only with ``weights``)."""
    return outputs_by_name(node for node in body if weights or not is_weight_node(node))


def collect_tensors(
    body: ir.Graph, alignment: int
) -> tuple[list[BodyTensor], list[UnplannedTensor]]:
    """The body's activations with sizes and uses, and those that cannot be sized."""
    produced = produced_values(body)
    consumers: dict[ir.Value, set[ir.Node]] = {v: set() for v in produced.values()}
    for node in body:
        for value in node.inputs:
            if value is not None and value in consumers:
                consumers[value].add(node)
        for value in captured_values(node, produced):
            consumers[value].add(node)
    outputs = set(body.outputs)
    tensors: list[BodyTensor] = []
    unplanned: list[UnplannedTensor] = []
    for name, value in produced.items():
        size = tensor_bytes(value)
        if isinstance(size, str):
            unplanned.append(UnplannedTensor(name=name, reason=size))
            continue
        producer = value.producer()
        assert producer is not None
        tensors.append(
            BodyTensor(
                name=name,
                size=align(size, alignment),
                producer=producer,
                consumers=frozenset(consumers[value]),
                graph_output=value in outputs,
                value=value,
            )
        )
    return tensors, unplanned


def lifetimes(
    tensors: Sequence[BodyTensor],
    order: Sequence[ir.Node],
    workspaces: Mapping[ir.Node, int] | None = None,
) -> list[Lifetime]:
    """Lifetimes of ``tensors`` (and of the owners' workspaces, bytes) over ``order``."""
    position = {node: step for step, node in enumerate(order)}
    end = len(order) - 1
    result: list[Lifetime] = []
    for tensor in tensors:
        first = position[tensor.producer]
        if tensor.graph_output:
            last = end
        else:
            last = max((position[c] for c in tensor.consumers), default=first)
        kind: TensorKind = "output" if tensor.graph_output else "activation"
        result.append(Lifetime(tensor.name, tensor.size, first, last, kind))
    for owner, size in (workspaces or {}).items():
        step = position[owner]
        name = f"{owner.name or owner.op_type}#workspace"
        result.append(Lifetime(name, size, step, step, "workspace"))
    return result


IN_PLACE_OPS = frozenset(
    {
        # elementwise: output element i depends only on element i of each full-size input
        *("Abs", "Acos", "Asin", "Atan", "Ceil", "Celu", "Clip", "Cos", "Cosh", "Elu", "Erf"),
        *("Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "LeakyRelu", "Log", "Mish"),
        *("Neg", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Sinh"),
        *("Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu"),
        *("Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Max", "Min", "Mean", "Sum", "Where"),
        # reshaping: the same bytes under another shape
        *("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"),
    }
)
"""Default-domain ops whose output may overwrite a same-sized input they read last."""


def in_place_sources(tensors: Sequence[BodyTensor], spans: Sequence[Lifetime]) -> list[int | None]:
    """For each tensor (``spans`` parallel to ``tensors``), the index of the input tensor
    whose buffer it takes over in place, or None.

    A tensor takes over an input when its producer is in :data:`IN_PLACE_OPS`, the input is
    an activation (not a graph output) of the same aligned size and dtype, and the input's
    last step is the producer's step (nothing reads it afterwards). Each input is taken
    over at most once, the first eligible input in the node's input order.
    """
    index = {tensor.value: i for i, tensor in enumerate(tensors)}
    taken: set[int] = set()
    sources: list[int | None] = [None] * len(tensors)
    for i, tensor in enumerate(tensors):
        node = tensor.producer
        if node.op_type not in IN_PLACE_OPS or node.domain not in ("", "ai.onnx"):
            continue
        for value in node.inputs:
            j = index.get(value) if value is not None else None
            if (
                j is not None
                and j not in taken
                and not tensors[j].graph_output
                and tensors[j].size == tensor.size
                and tensors[j].value.dtype == tensor.value.dtype
                and spans[j].last == spans[i].first
            ):
                sources[i] = j
                taken.add(j)
                break
    return sources


def share_buffers(
    spans: Sequence[Lifetime], sources: Sequence[int | None]
) -> tuple[list[Lifetime], list[int]]:
    """Merge each in-place chain into one buffer span; the buffers and each span's buffer.

    ``sources`` is parallel to ``spans`` (see :func:`in_place_sources`). A buffer is named
    after its first tensor, lives from its first tensor's first step to its last tensor's
    last, and is an ``output`` when any of its tensors is one.
    """
    roots: dict[int, int] = {}

    def root(i: int) -> int:
        path = []
        while i not in roots and (source := sources[i]) is not None:
            path.append(i)
            i = source
        top = roots.get(i, i)
        roots.update(dict.fromkeys(path, top))
        return top

    members: dict[int, list[int]] = {}
    for i in range(len(spans)):
        members.setdefault(root(i), []).append(i)
    buffers: list[Lifetime] = []
    buffer_of = [0] * len(spans)
    for r, group in members.items():
        for i in group:
            buffer_of[i] = len(buffers)
        kinds = {spans[i].kind for i in group}
        buffers.append(
            Lifetime(
                name=spans[r].name,
                size=max(spans[i].size for i in group),
                first=min(spans[i].first for i in group),
                last=max(spans[i].last for i in group),
                kind="output" if "output" in kinds else spans[r].kind,
            )
        )
    return buffers, buffer_of


def live_bytes(spans: Sequence[Lifetime], steps: int) -> list[int]:
    """Bytes live at each step: the sum of sizes of the spans covering it."""
    delta = np.zeros(steps + 1, dtype=np.int64)
    for span in spans:
        delta[span.first] += span.size
        delta[span.last + 1] -= span.size
    return [int(x) for x in np.cumsum(delta[:steps])]
