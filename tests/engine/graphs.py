"""Tiny-graph builders and onnxruntime helpers shared by the engine tests.

Imported as a sibling module (``from graphs import ...``): pytest's default ``prepend``
import mode puts this directory on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from graphopt.engine.passes import PassContext, Pipeline, PipelineRun, run_pipeline
from graphopt.engine.passes.pipeline import FixedPointGroup, PassStep, step

FLOAT = TensorProto.FLOAT
DOUBLE = TensorProto.DOUBLE
INT64 = TensorProto.INT64
INT32 = TensorProto.INT32
BOOL = TensorProto.BOOL
STRING = TensorProto.STRING
INT64_MAX = np.iinfo(np.int64).max

Dims = Sequence[int | str | None] | None


# --------------------------------------------------------------------------- building


def vi(name: str, shape: Dims, elem: int = FLOAT) -> onnx.ValueInfoProto:
    """A tensor value info (``shape=None``: unknown rank)."""
    return helper.make_tensor_value_info(name, elem, shape)


def init(name: str, array: Any, dtype: Any = None) -> onnx.TensorProto:
    """An initializer from anything numpy can turn into an array."""
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def const(output: str, array: Any, dtype: Any = None) -> onnx.NodeProto:
    """A Constant node holding ``array``."""
    tensor = numpy_helper.from_array(np.asarray(array, dtype=dtype), f"{output}_value")
    return helper.make_node("Constant", [], [output], value=tensor, name=f"const_{output}")


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: Any) -> onnx.NodeProto:
    """A node named after its first output (names keep failures readable)."""
    name = attrs.pop("name", f"{op}_{outputs[0] if outputs else 'none'}")
    return helper.make_node(op, list(inputs), list(outputs), name=name, **attrs)


def graph(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    name: str = "g",
    value_info: Sequence[onnx.ValueInfoProto] = (),
) -> onnx.GraphProto:
    return helper.make_graph(
        list(nodes),
        name,
        list(inputs),
        list(outputs),
        initializer=list(initializers),
        value_info=list(value_info),
    )


def model_proto(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    *,
    opset: int = 17,
    functions: Sequence[onnx.FunctionProto] = (),
    extra_opsets: Mapping[str, int] | None = None,
    value_info: Sequence[onnx.ValueInfoProto] = (),
) -> onnx.ModelProto:
    """A ModelProto (IR version 8, runnable by onnxruntime) over one graph."""
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    proto = helper.make_model(
        graph(nodes, inputs, outputs, initializers, value_info=value_info),
        opset_imports=opsets,
        functions=list(functions),
        producer_name="graphopt-tests",
    )
    proto.ir_version = 8
    return proto


def make_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    **kwargs: Any,
) -> ir.Model:
    """An onnx-ir model (see :func:`model_proto`)."""
    return ir.serde.deserialize_model(model_proto(nodes, inputs, outputs, initializers, **kwargs))


def function(
    name: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    nodes: Sequence[onnx.NodeProto],
    domain: str = "local",
    opset: int = 17,
) -> onnx.FunctionProto:
    """A model-local function in ``domain`` importing the default opset ``opset``."""
    return helper.make_function(
        domain, name, list(inputs), list(outputs), list(nodes), [helper.make_opsetid("", opset)]
    )


# --------------------------------------------------------------------------- inspecting


def op_types(body: ir.Graph | ir.Function | ir.Model) -> list[str]:
    """Op types of the nodes of one body, in order (a model: its main graph)."""
    if isinstance(body, ir.Model):
        body = body.graph
    return [n.op_type for n in body]


def output_names(model: ir.Model) -> list[str | None]:
    return [v.name for v in model.graph.outputs]


def input_names(model: ir.Model) -> list[str | None]:
    return [v.name for v in model.graph.inputs]


def branch(model: ir.Model, node_index: int, attr: str) -> ir.Graph:
    """A graph attribute (``then_branch``, ``body``...) of a main-graph node."""
    return model.graph.node(node_index).attributes[attr].as_graph()


# --------------------------------------------------------------------------- running


def to_bytes(model: ir.Model | onnx.ModelProto) -> bytes:
    proto = model if isinstance(model, onnx.ModelProto) else ir.serde.serialize_model(model)
    return proto.SerializeToString()


def session(model: ir.Model | onnx.ModelProto) -> ort.InferenceSession:
    """A CPU session with onnxruntime's own graph optimizations off."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    return ort.InferenceSession(to_bytes(model), options, providers=["CPUExecutionProvider"])


def run(model: ir.Model | onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Outputs by name."""
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    # initializers listed as graph inputs are overridable: onnxruntime lists them apart
    wanted = {i.name for i in [*sess.get_inputs(), *sess.get_overridable_initializers()]}
    values = sess.run(None, {k: v for k, v in feeds.items() if k in wanted})
    return dict(zip(names, values, strict=True))


_NP = {
    FLOAT: np.float32,
    DOUBLE: np.float64,
    INT64: np.int64,
    INT32: np.int32,
    BOOL: np.bool_,
}


def random_feeds(
    model: ir.Model, seed: int = 0, dims: Mapping[str, int] | None = None, int_high: int = 5
) -> dict[str, np.ndarray]:
    """Random values for every graph input that is not an initializer.

    Symbolic dimensions take their size from ``dims`` (default 2).
    """
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for value in model.graph.inputs:
        if value.is_initializer():
            continue
        assert value.shape is not None and value.dtype is not None, value
        shape = [
            d if isinstance(d, int) else (dims or {}).get(d.value or "", 2)
            for d in value.shape.dims
        ]
        np_type = value.dtype.numpy()
        if value.dtype == ir.DataType.BOOL:
            feeds[value.name or ""] = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif value.dtype.is_floating_point():
            feeds[value.name or ""] = rng.standard_normal(shape).astype(np_type)
        else:
            feeds[value.name or ""] = rng.integers(-int_high, int_high, size=shape).astype(np_type)
    return feeds


def assert_equivalent(
    original: ir.Model | onnx.ModelProto,
    transformed: ir.Model | onnx.ModelProto,
    feeds: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]] | None = None,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    seeds: Sequence[int] = (0, 1),
) -> dict[str, Any]:
    """Run both models in onnxruntime and compare every output by name.

    Exact by default (NaN equals NaN); ``rtol``/``atol`` for float ops whose order changed.
    Both models must have the same output names. Returns the last set of outputs.
    """
    base = original if isinstance(original, ir.Model) else ir.serde.deserialize_model(original)
    if feeds is None:
        feed_sets = [random_feeds(base, seed) for seed in seeds]
    elif isinstance(feeds, Mapping):
        feed_sets = [feeds]
    else:
        feed_sets = list(feeds)
    expected: dict[str, Any] = {}
    for one in feed_sets:
        expected = run(original, one)
        actual = run(transformed, one)
        assert list(actual) == list(expected), "graph output names differ"
        for name, want in expected.items():
            got = actual[name]
            assert np.asarray(got).dtype == np.asarray(want).dtype, name
            assert np.shape(got) == np.shape(want), name
            if rtol or atol:
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)
            else:
                np.testing.assert_array_equal(got, want, err_msg=name, strict=True)
    return expected


# --------------------------------------------------------------------------- passes


def apply(
    model: ir.Model,
    *steps: str | PassStep | FixedPointGroup,
    **pipeline_kwargs: Any,
) -> tuple[ir.Model, PipelineRun]:
    """Run passes (names, steps or fixed-point groups) on a clone of ``model``; return the
    clone and the run."""
    candidate = model.clone()
    pipeline = Pipeline(name="test", steps=[step(s) if isinstance(s, str) else s for s in steps])
    result = run_pipeline(candidate, pipeline, PassContext(), **pipeline_kwargs)
    return candidate, result


def apply_one(model: ir.Model, name: str, **options: Any) -> tuple[ir.Model, Any]:
    """Run one pass once on a clone; return the clone and its single ``PassRecord``."""
    candidate, result = apply(model, step(name, **options))
    assert len(result.records) == 1
    return candidate, result.records[0]


def counts(record: Any) -> dict[str, int]:
    """The ``kind: n`` lines of a record's notes, as a dict."""
    out: dict[str, int] = {}
    for line in record.notes:
        kind, sep, n = line.rpartition(": ")
        if sep and n.isdigit():
            out[kind] = int(n)
    return out


def roundtrip(model: ir.Model) -> ir.Model:
    """Serialize and deserialize (what saving and loading does)."""
    return ir.serde.deserialize_model(ir.serde.serialize_model(model))


def check(model: ir.Model) -> None:
    """The onnx checker with full shape inference must accept ``model``."""
    onnx.checker.check_model(ir.serde.serialize_model(model), full_check=True)


def external_tensor(
    name: str, elem: int, dims: Sequence[int], location: str, offset: int = 0, length: int = -1
) -> onnx.TensorProto:
    """A tensor whose data lives in ``location`` at ``offset`` (``length=-1``: left out)."""
    tensor = onnx.TensorProto(name=name, data_type=elem, dims=list(dims))
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entries = {"location": location, "offset": str(offset)}
    if length >= 0:
        entries["length"] = str(length)
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def assert_human_error(error: Exception, code: str) -> None:
    """``error`` is a GraphoptError with ``code`` and a one-line message, no traceback."""
    from graphopt.engine.errors import GraphoptError

    assert isinstance(error, GraphoptError), repr(error)
    assert error.code == code, f"{error.code}: {error.message}"
    message = error.message
    assert message.strip() and "\n" not in message
    assert "Traceback" not in message and 'File "' not in message
    assert str(error) == f"{code}: {message}"
    assert error.to_dict()["code"] == str(code)
