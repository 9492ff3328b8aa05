"""Verification inputs: generated at random, or read from a user's .npz file.

Generated inputs: floats from a standard normal, booleans at random, integers uniform in
``[0, bound)`` where ``bound`` is the smallest axis size of a constant table the input
indexes (Gather, GatherElements, GatherND) or 2 otherwise, so that ids, masks and type ids
stay valid. Unknown dimensions come from the pinned shapes, else 1 for the first axis and
``default_dim`` for others (callers try each of :data:`DEFAULT_DIMS` until onnxruntime
accepts the inputs); a symbolic name gets one size everywhere it appears.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_ir as ir

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.passes.constants import static_shape
from graphopt.engine.shapes import symbol_name

DEFAULT_DIMS = (32, 128, 512)
DEFAULT_INT_BOUND = 2
InputSet = dict[str, np.ndarray]


def model_inputs(model: ir.Model) -> list[ir.Value]:
    """The inputs a caller must feed: graph inputs that are not initializers."""
    return [v for v in model.graph.inputs if not v.is_initializer()]


def has_free_dims(model: ir.Model, pinned: dict[str, list[int]]) -> bool:
    """Whether some input dimension beyond the first axis is neither static nor pinned."""
    for value in model_inputs(model):
        if value.name in pinned or value.shape is None:
            continue
        if any(not (isinstance(d, int) and d >= 0) for d in value.shape.dims[1:]):
            return True
    return False


def resolve_shapes(
    model: ir.Model, pinned: dict[str, list[int]], default_dim: int = DEFAULT_DIMS[0]
) -> dict[str, list[int]]:
    """A concrete shape for every model input (see module docstring)."""
    symbols: dict[str, int] = {}
    shapes: dict[str, list[int]] = {}
    for value in model_inputs(model):
        assert value.name is not None
        if value.name in pinned:
            shapes[value.name] = list(pinned[value.name])
            if value.shape is not None:
                for dim, size in zip(value.shape.dims, pinned[value.name], strict=False):
                    if (symbol := symbol_name(dim)) is not None:
                        symbols.setdefault(symbol, size)
    for value in model_inputs(model):
        assert value.name is not None
        if value.name in shapes:
            continue
        if value.shape is None:
            raise GraphoptError(
                ErrorCode.INVALID_INPUT_SHAPE,
                f"Input {value.name!r} has no declared rank: pin its shape with --input-shape.",
                input=value.name,
            )
        dims = []
        for axis, dim in enumerate(value.shape.dims):
            if isinstance(dim, int) and dim >= 0:
                dims.append(dim)
                continue
            fallback = 1 if axis == 0 else default_dim
            name = symbol_name(dim)
            dims.append(symbols.setdefault(name, fallback) if name else fallback)
        shapes[value.name] = dims
    return shapes


def _int_bound(value: ir.Value) -> int:
    bounds = []
    for node, index in value.uses():
        if node.op_type in ("Gather", "GatherElements", "GatherND") and index == 1:
            table = static_shape(node.inputs[0]) if node.inputs[0] is not None else None
            if table and node.inputs[0] is not None and node.inputs[0].const_value is not None:
                axis = node.attributes["axis"].as_int() if "axis" in node.attributes else 0
                bounds.append(table[axis] if node.op_type != "GatherND" else min(table))
    return max(1, min(bounds)) if bounds else DEFAULT_INT_BOUND


def random_inputs(
    model: ir.Model, shapes: dict[str, list[int]], sets: int, seed: int
) -> list[InputSet]:
    """``sets`` input dictionaries for ``model`` (see module docstring)."""
    rng = np.random.default_rng(seed)
    result: list[InputSet] = []
    for _ in range(sets):
        feeds: InputSet = {}
        for value in model_inputs(model):
            assert value.name is not None
            dtype = value.dtype
            if dtype is None:
                raise GraphoptError(
                    ErrorCode.INVALID_INPUTS,
                    f"Input {value.name!r} is not a tensor of known type; give --inputs.",
                    input=value.name,
                )
            shape = shapes[value.name]
            if dtype == ir.DataType.BOOL:
                array = rng.integers(0, 2, size=shape).astype(np.bool_)
            elif dtype.is_floating_point():
                array = rng.standard_normal(size=shape).astype(dtype.numpy())
            elif dtype.is_integer():
                array = rng.integers(0, _int_bound(value), size=shape).astype(dtype.numpy())
            else:
                raise GraphoptError(
                    ErrorCode.INVALID_INPUTS,
                    f"Input {value.name!r} has type {dtype.name}, which graphopt cannot "
                    "generate: give --inputs.",
                    input=value.name,
                )
            feeds[value.name] = array
        result.append(feeds)
    return result


def load_npz_inputs(path: Path, model: ir.Model) -> list[InputSet]:
    """Input sets from an .npz keyed by input name.

    A key ``NAME`` gives one set; keys ``NAME/0``, ``NAME/1``... give several sets. Every
    model input must be present in every set, with the input's dtype (any numpy string
    type for string inputs), its rank and its static dimensions; unknown keys are refused.
    """
    declared = {v.name or "": v for v in model_inputs(model)}
    names = set(declared)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise GraphoptError(
            ErrorCode.INVALID_INPUTS, f"{path} is not a readable .npz file: {exc}", path=str(path)
        ) from None
    sets: dict[int, InputSet] = {}
    for key, array in arrays.items():
        name, _, index = key.rpartition("/") if "/" in key else (key, "", "0")
        if name not in names or not index.isdigit():
            raise GraphoptError(
                ErrorCode.INVALID_INPUTS,
                f"{path} holds {key!r}, which is not an input of the model ({sorted(names)}).",
                key=key,
            )
        sets.setdefault(int(index), {})[name] = array
    ordered = [sets[i] for i in sorted(sets)]
    for i, feeds in enumerate(ordered):
        missing = names - feeds.keys()
        if missing:
            raise GraphoptError(
                ErrorCode.INVALID_INPUTS,
                f"Input set {i} of {path} lacks {sorted(missing)}.",
                missing=sorted(missing),
            )
        for name, array in feeds.items():
            _check_array(path, i, declared[name], array)
    if not ordered:
        raise GraphoptError(ErrorCode.INVALID_INPUTS, f"{path} holds no arrays.")
    return ordered


def _check_array(path: Path, index: int, value: ir.Value, array: np.ndarray) -> None:
    """Refuse an array whose dtype, rank or static dimensions differ from ``value``'s."""
    problem = None
    if value.dtype == ir.DataType.STRING:
        if array.dtype.kind not in "OUS":
            problem = f"has dtype {array.dtype}, the input is a string tensor"
    elif value.dtype is not None and array.dtype != value.dtype.numpy():
        problem = f"has dtype {array.dtype}, the input is {value.dtype.numpy()}"
    if problem is None and value.shape is not None:
        dims = value.shape.dims
        if array.ndim != len(dims) or any(
            isinstance(d, int) and 0 <= d != size for d, size in zip(dims, array.shape, strict=True)
        ):
            declared = [d if isinstance(d, int) else symbol_name(d) for d in dims]
            problem = f"has shape {list(array.shape)}, the input is declared {declared}"
    if problem is not None:
        raise GraphoptError(
            ErrorCode.INVALID_INPUTS,
            f"Input {value.name!r} in set {index} of {path} {problem}.",
            input=value.name,
            set=index,
        )
