"""Shape inference on onnx-ir models and parsing of pinned input shapes.

:func:`infer_shapes` runs onnx's shape inference (with data propagation, non-strict: a node
it cannot infer is skipped, not fatal) on a skeleton of the model (initializers over 1 KiB
are passed as typed inputs, so no weight is serialized or read) and merges the result into
the model's values: an unknown dimension may become a symbolic name or an integer, a
symbolic one may become an integer, an integer is never changed. Symbolic dimension names
(``batch``, ``seq``) flow through the ops onnx knows how to propagate them through.

onnxruntime's symbolic shape inference (tools/symbolic_shape_infer.py) was evaluated and is
not used: it failed on 4 of the 9 OCR/VAD models tried, took 5.9 s on PP-OCRv4 det, and
writes ``sym_shape_infer_temp.onnx`` into the working directory when it gives up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator

import onnx
import onnx_ir as ir

from graphopt.engine.errors import ErrorCode, GraphoptError

log = logging.getLogger(__name__)

SKELETON_MAX_BYTES = 1024
# dim_param values that name nothing: onnx's fresh unknowns, Paddle's "?", empty strings
_ANONYMOUS = re.compile(r"^(unk__\d+|\?|\s*)$")


def symbol_name(dim: int | ir.SymbolicDim) -> str | None:
    """The dimension's symbol when it names one (``batch``), else None (ints, anonymous)."""
    if (
        isinstance(dim, ir.SymbolicDim)
        and dim.value is not None
        and not _ANONYMOUS.match(dim.value)
    ):
        return dim.value
    return None


def _proto_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and its subgraphs, in the order of :meth:`onnx_ir.Model.graphs` (preorder:
    nodes in order, graph attributes in order)."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _proto_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _proto_graphs(sub)


def _value_infos(graph: onnx.GraphProto) -> Iterator[onnx.ValueInfoProto]:
    yield from graph.input
    yield from graph.output
    yield from graph.value_info


def _forget_negative_dims(proto: onnx.ModelProto) -> None:
    """Turn ``-1`` dims (written by some exporters for "unknown") into unknown dims.

    onnx's inference would otherwise see them as conflicting with what it infers.
    """
    for graph in _proto_graphs(proto.graph):
        for info in _value_infos(graph):
            if not info.type.HasField("tensor_type"):
                continue
            for dim in info.type.tensor_type.shape.dim:
                if dim.HasField("dim_value") and dim.dim_value < 0:
                    dim.ClearField("dim_value")


def skeleton_proto(model: ir.Model) -> onnx.ModelProto:
    """The model as a proto in which every main-graph initializer over 1 KiB is a typed input.

    The weights are left out by detaching them from ``model`` while it is serialized (and
    re-attaching them, in their order, afterwards): no copy of the model or its weights.
    """
    graph = model.graph
    initializers = list(graph.initializers.values())
    inputs = list(graph.inputs)
    big = [
        v
        for v in initializers
        if v.const_value is not None and v.const_value.nbytes > SKELETON_MAX_BYTES
    ]
    try:
        for value in big:
            tensor = value.const_value
            assert tensor is not None and value.name is not None
            value.shape = value.shape or ir.Shape(tensor.shape.numpy())
            value.dtype = value.dtype or tensor.dtype
            del graph.initializers[value.name]
            if value not in inputs:
                graph.inputs.append(value)
        proto = ir.serde.serialize_model(model)
    finally:
        if big:
            graph.inputs.clear()
            graph.inputs.extend(inputs)
            graph.initializers.clear()
            for value in initializers:
                graph.register_initializer(value)
    _forget_negative_dims(proto)
    return proto


def _merge_dim(
    current: int | ir.SymbolicDim, inferred: int | ir.SymbolicDim
) -> int | ir.SymbolicDim:
    # some exporters (Paddle) write -1 for unknown dims: a negative int is no knowledge
    if isinstance(current, int) and current >= 0:
        return current
    if isinstance(inferred, int):
        return inferred if inferred >= 0 or not isinstance(current, int) else current
    if isinstance(current, int):
        return current
    if symbol_name(current) is None:
        return inferred if inferred.value is not None else current
    return current


def merge_shape(current: ir.Shape | None, inferred: ir.Shape | None) -> ir.Shape | None:
    """``current`` completed with what ``inferred`` knows (ranks must agree, ints win)."""
    if inferred is None:
        return current
    if current is None:
        return inferred
    if len(current) != len(inferred):
        return current
    return ir.Shape([_merge_dim(c, i) for c, i in zip(current.dims, inferred.dims, strict=False)])


def _same_shape(a: ir.Shape | None, b: ir.Shape | None) -> bool:
    """``a == b`` without ``ir.Shape.__eq__``'s slow protocol check against None."""
    if a is None or b is None:
        return a is b
    return a.dims == b.dims


def _type_and_shape(proto: onnx.TypeProto) -> tuple[ir.TypeProtocol | None, ir.Shape | None]:
    """What ``proto`` says, as onnx-ir's deserializer reads it; a plain tensor type is read
    here directly (the deserializer's generic path costs seconds on 50,000 values)."""
    if proto.WhichOneof("value") == "tensor_type" and not proto.denotation:
        tensor = proto.tensor_type
        kind = (
            ir.TensorType(ir.DataType(tensor.elem_type)) if tensor.HasField("elem_type") else None
        )
        if not tensor.HasField("shape"):
            return kind, None
        dims: list[int | ir.SymbolicDim] = []
        for dim in tensor.shape.dim:
            which = dim.WhichOneof("value")
            if dim.denotation:
                break
            if which == "dim_value":
                dims.append(dim.dim_value)
            else:
                dims.append(ir.SymbolicDim(dim.dim_param if which == "dim_param" else None))
        else:
            return kind, ir.Shape(dims)
    value = ir.serde.deserialize_value_info_proto(onnx.ValueInfoProto(type=proto), None)
    return value.type, value.shape


def _merge_into(model: ir.Model, inferred: onnx.ModelProto) -> int:
    """Merge inferred types/shapes by graph position and value name; count improved values."""
    improved = 0
    for graph, mirror in zip(model.graphs(), _proto_graphs(inferred.graph), strict=False):
        known = {info.name: info for info in _value_infos(mirror)}
        for name, value in ir.convenience.create_value_mapping(graph).items():
            if value.type is not None and _static(value.shape):
                continue  # nothing left to learn: known integers are never changed
            info = known.get(name)
            if info is None or not info.HasField("type"):
                continue
            other_type, other_shape = _type_and_shape(info.type)
            shape = merge_shape(value.shape, other_shape)
            kind = value.type or other_type
            if not _same_shape(shape, value.shape) or kind != value.type:
                value.shape, value.type = shape, kind
                improved += 1
    return improved


def _static(shape: ir.Shape | None) -> bool:
    return shape is not None and all(isinstance(d, int) and d >= 0 for d in shape.dims)


def all_values(model: ir.Model) -> Iterator[ir.Value]:
    """Every value of the model's graphs (main graph and subgraphs)."""
    for graph in model.graphs():
        yield from ir.convenience.create_value_mapping(graph).values()


def known_shape_count(values: Iterable[ir.Value]) -> int:
    """How many of ``values`` carry a fully static shape."""
    return sum(_static(value.shape) for value in values)


def fully_known(value: ir.Value) -> bool:
    """Whether ``value`` has a type and a fully static shape: inference cannot add to it."""
    return value.type is not None and _static(value.shape)


def infer_shapes(model: ir.Model, *, data_prop: bool = True) -> tuple[int, list[str]]:
    """Infer shapes in place (see module docstring); return how many values' annotations
    changed, and notes on what happened."""
    skeleton = skeleton_proto(model)
    try:
        result = onnx.shape_inference.infer_shapes(
            skeleton, check_type=False, strict_mode=False, data_prop=data_prop
        )
    except Exception as exc:  # onnx raises several unrelated types here
        reason = str(exc).splitlines()[0] if str(exc) else exc
        return 0, [f"onnx shape inference failed: {reason}"]
    improved = _merge_into(model, result)
    return improved, [f"onnx shape inference improved {improved} values"]


def parse_input_shape(spec: str) -> tuple[str, list[int]]:
    """Parse ``NAME=D1xD2x...`` (``NAME=`` for a scalar) into a name and integer dims."""
    name, sep, dims = spec.rpartition("=")
    if not sep or not name:
        raise GraphoptError(
            ErrorCode.INVALID_INPUT_SHAPE,
            f"Input shape {spec!r} is not of the form NAME=D1xD2x... (e.g. x=1x3x224x224).",
            spec=spec,
        )
    try:
        values = [int(d) for d in dims.lower().split("x")] if dims.strip() else []
    except ValueError:
        raise GraphoptError(
            ErrorCode.INVALID_INPUT_SHAPE,
            f"Input shape {spec!r} has a dimension that is not an integer.",
            spec=spec,
        ) from None
    if any(v < 0 for v in values):
        raise GraphoptError(
            ErrorCode.INVALID_INPUT_SHAPE,
            f"Input shape {spec!r} has a negative dimension.",
            spec=spec,
        )
    return name, values


def check_input_shapes(model: ir.Model, shapes: dict[str, list[int]]) -> dict[str, int]:
    """Validate pinned shapes against the graph inputs; return the symbol bindings they imply.

    Raises ``invalid_input_shape`` for an unknown input name, a rank mismatch, a pinned dim
    that contradicts a static one, or one symbol pinned to two different values.
    """
    inputs = {v.name or "": v for v in model.graph.inputs if not v.is_initializer()}
    bindings: dict[str, int] = {}
    for name, dims in shapes.items():
        value = inputs.get(name)
        if value is None:
            raise GraphoptError(
                ErrorCode.INVALID_INPUT_SHAPE,
                f"The model has no input named {name!r}; its inputs are {sorted(inputs)}.",
                input=name,
                inputs=sorted(inputs),
            )
        declared = value.shape
        if declared is None:
            continue
        if len(declared) != len(dims):
            raise GraphoptError(
                ErrorCode.INVALID_INPUT_SHAPE,
                f"Input {name!r} has rank {len(declared)} but {len(dims)} dims were given.",
                input=name,
                declared=[str(d) for d in declared.dims],
                given=dims,
            )
        for axis, (have, want) in enumerate(zip(declared.dims, dims, strict=False)):
            if isinstance(have, int) and have >= 0 and have != want:
                raise GraphoptError(
                    ErrorCode.INVALID_INPUT_SHAPE,
                    f"Input {name!r} has dim {axis} fixed to {have}; {want} was given.",
                    input=name,
                    axis=axis,
                )
            symbol = symbol_name(have)
            if symbol is not None and bindings.setdefault(symbol, want) != want:
                raise GraphoptError(
                    ErrorCode.INVALID_INPUT_SHAPE,
                    f"Symbol {symbol!r} is pinned to both {bindings[symbol]} and {want}.",
                    symbol=symbol,
                )
    return bindings
