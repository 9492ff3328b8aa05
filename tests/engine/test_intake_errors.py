"""Intake errors: every malformed model is refused with its stable code and a human message.

Each broken model is loaded twice, from a file path and from bytes; both must give the same
code. Non-fatal findings (unsorted nodes, custom domains) load with a warning instead.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from graphs import (
    BOOL,
    FLOAT,
    INT64,
    assert_human_error,
    const,
    external_tensor,
    function,
    graph,
    init,
    model_proto,
    node,
    op_types,
    vi,
)
from onnx import helper

from graphopt.engine import (
    ErrorCode,
    GraphoptError,
    LoadedModel,
    WarningCode,
    load_model,
)

Source = Callable[[bytes], "Path | bytes"]


@pytest.fixture(params=["path", "bytes"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Source:
    """Turns model bytes into what ``load_model`` is given: a file path, or the bytes."""

    def make(data: bytes) -> Path | bytes:
        if request.param == "bytes":
            return data
        path = tmp_path / "model.onnx"
        path.write_bytes(data)
        return path

    return make


def refused(data: bytes, source: Source, code: ErrorCode) -> GraphoptError:
    with pytest.raises(GraphoptError) as caught:
        load_model(source(data)).close()
    assert_human_error(caught.value, code)
    return caught.value


def loaded(data: bytes, source: Source) -> LoadedModel:
    return load_model(source(data))


def relu_model() -> onnx.ModelProto:
    """x -> Relu -> Add(w) -> y, with a 64-element initializer so the file has some body."""
    return model_proto(
        [node("Relu", ["x"], ["r"]), node("Add", ["r", "w"], ["y"])],
        [vi("x", [8, 8])],
        [vi("y", [8, 8])],
        [init("w", np.arange(64, dtype=np.float32).reshape(8, 8))],
    )


# --------------------------------------------------------------------------- the file itself


def test_empty_file(source: Source) -> None:
    refused(b"", source, ErrorCode.EMPTY_FILE)


def test_random_bytes(source: Source) -> None:
    data = np.random.default_rng(7).bytes(4096)
    refused(data, source, ErrorCode.NOT_ONNX)


def test_text_file(source: Source) -> None:
    text = b"# graphopt\nThis is a README, not a model.\n\nweights: 1.0, 2.0\n"
    refused(text, source, ErrorCode.NOT_ONNX)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_protobuf(source: Source, fraction: float) -> None:
    data = relu_model().SerializeToString()
    error = refused(data[: int(len(data) * fraction)], source, ErrorCode.TRUNCATED_PROTOBUF)
    assert "truncated" in error.message


@pytest.mark.parametrize(
    "message",
    [
        init("w", np.ones((3, 4), np.float32)),
        relu_model().graph,
        relu_model().graph.node[0],
    ],
    ids=["TensorProto", "GraphProto", "NodeProto"],
)
def test_valid_protobuf_that_is_not_a_model(source: Source, message: object) -> None:
    assert hasattr(message, "SerializeToString")
    refused(message.SerializeToString(), source, ErrorCode.NOT_A_MODEL)


# --------------------------------------------------------------------------- onnx checker


def test_checker_failure_bad_ir_version(source: Source) -> None:
    proto = relu_model()
    proto.ir_version = 0
    error = refused(proto.SerializeToString(), source, ErrorCode.CHECKER_FAILED)
    assert "ir_version" in error.message


def test_checker_failure_unknown_attribute(source: Source) -> None:
    proto = model_proto([node("Relu", ["x"], ["y"], alpha=0.5)], [vi("x", [2])], [vi("y", [2])])
    error = refused(proto.SerializeToString(), source, ErrorCode.CHECKER_FAILED)
    assert "alpha" in error.message
    assert "Relu" in error.detail["checker"]


def test_unknown_operator_in_default_domain(source: Source) -> None:
    proto = model_proto([node("FrobnicateV2", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    error = refused(proto.SerializeToString(), source, ErrorCode.UNKNOWN_OPERATOR)
    assert "FrobnicateV2" in error.message


@pytest.mark.parametrize("domain", ["", "ai.onnx"])
def test_opset_newer_than_supported(source: Source, domain: str) -> None:
    proto = model_proto([node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    del proto.opset_import[:]
    newest = onnx.defs.onnx_opset_version()
    proto.opset_import.append(helper.make_opsetid(domain, newest + 1))
    error = refused(proto.SerializeToString(), source, ErrorCode.UNSUPPORTED_OPSET)
    assert error.detail == {"domain": domain, "version": newest + 1, "supported": newest}


# --------------------------------------------------------------------------- structure


def test_graph_cycle(source: Source) -> None:
    proto = model_proto(
        [
            node("Add", ["x", "c"], ["a"], name="first"),
            node("Relu", ["a"], ["b"], name="second"),
            node("Neg", ["b"], ["c"], name="third"),
            node("Identity", ["a"], ["y"], name="out"),
        ],
        [vi("x", [2])],
        [vi("y", [2])],
    )
    error = refused(proto.SerializeToString(), source, ErrorCode.GRAPH_CYCLE)
    assert sorted(error.detail["cycle"]) == ["first", "second", "third"]


def test_graph_cycle_inside_if_branch(source: Source) -> None:
    body = graph(
        [node("Relu", ["q"], ["p"], name="p"), node("Neg", ["p"], ["q"], name="q")],
        [],
        [vi("q", [2])],
        name="then",
    )
    other = graph([node("Identity", ["x"], ["e"])], [], [vi("e", [2])], name="else")
    proto = model_proto(
        [node("If", ["c"], ["y"], then_branch=body, else_branch=other)],
        [vi("c", [], BOOL), vi("x", [2])],
        [vi("y", [2])],
    )
    error = refused(proto.SerializeToString(), source, ErrorCode.GRAPH_CYCLE)
    assert "then" in error.detail["graph"]


def test_undefined_tensor(source: Source) -> None:
    proto = model_proto([node("Add", ["x", "ghost"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    error = refused(proto.SerializeToString(), source, ErrorCode.UNDEFINED_TENSOR)
    assert error.detail["tensor"] == "ghost"


def test_undefined_graph_output(source: Source) -> None:
    proto = model_proto([node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2]), vi("z", [2])])
    error = refused(proto.SerializeToString(), source, ErrorCode.UNDEFINED_TENSOR)
    assert error.detail["tensor"] == "z"


def test_undefined_tensor_read_by_a_subgraph(source: Source) -> None:
    then = graph([node("Add", ["x", "nowhere"], ["t"])], [], [vi("t", [2])], name="then")
    other = graph([node("Identity", ["x"], ["e"])], [], [vi("e", [2])], name="else")
    proto = model_proto(
        [node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        [vi("c", [], BOOL), vi("x", [2])],
        [vi("y", [2])],
    )
    error = refused(proto.SerializeToString(), source, ErrorCode.UNDEFINED_TENSOR)
    assert error.detail["tensor"] == "nowhere"


@pytest.mark.parametrize(
    "proto",
    [
        model_proto(
            [node("Relu", ["x"], ["y"], name="a"), node("Neg", ["x"], ["y"], name="b")],
            [vi("x", [2])],
            [vi("y", [2])],
        ),
        model_proto(
            [node("Relu", ["x"], ["w"]), node("Add", ["w", "x"], ["y"])],
            [vi("x", [2])],
            [vi("y", [2])],
            [init("w", np.ones(2, np.float32))],
        ),
        model_proto([node("Relu", ["x"], ["y"])], [vi("x", [2]), vi("x", [2])], [vi("y", [2])]),
        model_proto([node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2]), vi("y", [2])]),
        model_proto(
            [node("Split", ["x"], ["y", "y"], num_outputs=2)], [vi("x", [2])], [vi("y", [1])]
        ),
    ],
    ids=["two-producers", "initializer-and-node", "graph-inputs", "graph-outputs", "one-node"],
)
def test_duplicate_tensor_names(source: Source, proto: onnx.ModelProto) -> None:
    error = refused(proto.SerializeToString(), source, ErrorCode.DUPLICATE_TENSOR_NAME)
    assert error.detail["tensor"] in {"x", "y", "w"}


# --------------------------------------------------------------------------- accepted, with warnings


def test_unsorted_graph_is_reordered_with_a_warning(source: Source) -> None:
    proto = model_proto(
        [
            node("Neg", ["r"], ["y"]),
            node("Sigmoid", ["x"], ["s"]),
            node("Relu", ["s"], ["r"]),
        ],
        [vi("x", [2])],
        [vi("y", [2])],
    )
    with loaded(proto.SerializeToString(), source) as model:
        assert op_types(model.model) == ["Sigmoid", "Relu", "Neg"]
        assert [w.code for w in model.warnings] == [WarningCode.NODES_NOT_SORTED]


def test_strict_shape_inference_disagreeing_is_a_warning(source: Source) -> None:
    proto = model_proto([node("Relu", ["x"], ["y"])], [vi("x", [2, 3])], [vi("y", [4])])
    with loaded(proto.SerializeToString(), source) as model:
        (warning,) = model.warnings
        assert warning.code == WarningCode.SHAPE_INFERENCE_INCONSISTENT
        assert "strict shape inference disagrees" in warning.message
        assert op_types(model.model) == ["Relu"]


def test_unknown_custom_domain_is_kept_with_a_warning(source: Source) -> None:
    proto = model_proto(
        [
            helper.make_node("Fancy", ["x"], ["f"], domain="com.acme", name="fancy"),
            node("Relu", ["f"], ["y"]),
        ],
        [vi("x", [2])],
        [vi("y", [2])],
        extra_opsets={"com.acme": 3},
    )
    with loaded(proto.SerializeToString(), source) as model:
        fancy = model.model.graph.node(0)
        assert (fancy.domain, fancy.op_type) == ("com.acme", "Fancy")
        assert model.model.opset_imports["com.acme"] == 3
        (warning,) = model.warnings
        assert warning.code == WarningCode.UNKNOWN_DOMAIN
        assert warning.detail == {"domain": "com.acme", "version": 3}


def test_huge_declared_dims_load_without_allocating(source: Source) -> None:
    """Dims of 2**40 are only numbers in a shape: intake keeps them and allocates nothing."""
    huge = 2**40
    proto = model_proto(
        [node("Relu", ["x"], ["r"]), node("Shape", ["r"], ["y"])],
        [vi("x", [huge, huge])],
        [vi("y", [2], INT64)],
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with loaded(proto.SerializeToString(), source) as model:
        assert model.warnings == []
        x = model.model.graph.inputs[0]
        assert x.shape is not None and list(x.shape.dims) == [huge, huge]
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024


@pytest.mark.parametrize(
    ("tensor", "code"),
    [
        (
            onnx.TensorProto(name="w", data_type=FLOAT, dims=[2**40], raw_data=b"\0" * 4),
            ErrorCode.CHECKER_FAILED,
        ),
        (
            onnx.TensorProto(name="w", data_type=FLOAT, dims=[2**20, 2**20]),
            ErrorCode.CHECKER_FAILED,
        ),
        (external_tensor("w", FLOAT, [2**40], "w.bin"), ErrorCode.EXTERNAL_DATA_MISSING),
    ],
    ids=["raw-data-too-short", "no-data", "external-without-bundle"],
)
def test_huge_declared_initializer_is_refused_without_allocating(
    source: Source, tensor: onnx.TensorProto, code: ErrorCode
) -> None:
    proto = model_proto([node("Shape", ["w"], ["y"])], [], [vi("y", [1], INT64)], [tensor])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(proto.SerializeToString(), source, code)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024


def test_model_with_if_subgraphs_loads(source: Source) -> None:
    then = graph([node("Add", ["x", "one"], ["t"])], [], [vi("t", [2])], name="then")
    other = graph([node("Neg", ["x"], ["e"])], [], [vi("e", [2])], name="else")
    proto = model_proto(
        [
            const("one", np.ones(2, np.float32)),
            node("If", ["c"], ["y"], then_branch=then, else_branch=other),
        ],
        [vi("c", [], BOOL), vi("x", [2])],
        [vi("y", [2])],
    )
    with loaded(proto.SerializeToString(), source) as model:
        assert model.warnings == []
        branch = model.model.graph.node(1).attributes["then_branch"].as_graph()
        assert op_types(branch) == ["Add"]


def test_model_local_functions_load_and_their_domain_is_known(source: Source) -> None:
    double = function(
        "Double",
        ["a"],
        ["b"],
        # out of order on purpose: function bodies are sorted like graphs
        [node("Add", ["a", "h"], ["b"]), node("Identity", ["a"], ["h"])],
    )
    proto = model_proto(
        [helper.make_node("Double", ["x"], ["y"], domain="local")],
        [vi("x", [2])],
        [vi("y", [2])],
        functions=[double],
        extra_opsets={"local": 1},
    )
    with loaded(proto.SerializeToString(), source) as model:
        assert [w.code for w in model.warnings] == [WarningCode.NODES_NOT_SORTED]
        (fn,) = model.model.functions.values()
        assert op_types(fn) == ["Identity", "Add"]
