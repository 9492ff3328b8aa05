"""``shape_inference``, ``shape_specialization``, ``parse_input_shape`` and pin validation."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest
from graphs import (
    INT64,
    apply,
    apply_one,
    assert_equivalent,
    init,
    input_names,
    make_model,
    node,
    op_types,
    output_names,
    vi,
)

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.passes import PassContext, PassCrash, create_pass
from graphopt.engine.passes.pipeline import step
from graphopt.engine.shapes import check_input_shapes, parse_input_shape


def _dims(value: ir.Value) -> list[int | str | None] | None:
    if value.shape is None:
        return None
    return [d if isinstance(d, int) else d.value for d in value.shape.dims]


def _values(model: ir.Model) -> dict[str, ir.Value]:
    return {out.name or "": out for n in model.graph for out in n.outputs}


def _symbolic_model() -> ir.Model:
    """``y = Concat(MatMul(Relu(x), w), z)`` with x: [N, 3], z: [N, 2]; no annotations."""
    return make_model(
        [
            node("Relu", ["x"], ["a"]),
            node("MatMul", ["a", "w"], ["b"]),
            node("Concat", ["b", "z"], ["y"], axis=1),
        ],
        [vi("x", ["N", 3]), vi("z", ["N", 2])],
        [vi("y", None)],
        [init("w", np.arange(12, dtype=np.float32).reshape(3, 4))],
    )


# --------------------------------------------------------------------------- shape_inference


def test_shape_inference_propagates_symbolic_dims() -> None:
    model = _symbolic_model()
    assert all(v.shape is None for v in _values(model).values())
    result, record = apply_one(model, "shape_inference")
    values = _values(result)
    assert _dims(values["a"]) == ["N", 3]
    assert _dims(values["b"]) == ["N", 4]
    assert _dims(values["y"]) == ["N", 6]
    assert _dims(result.graph.outputs[0]) == ["N", 6]
    assert values["y"].dtype == ir.DataType.FLOAT
    # annotations only: names, nodes and the computed values are unchanged
    assert op_types(result) == op_types(model)
    assert input_names(result) == input_names(model)
    assert output_names(result) == output_names(model)
    assert (record.nodes_removed, record.nodes_added) == (0, 0)
    assert any(note.startswith("onnx shape inference improved 3 values") for note in record.notes)
    # the values' shapes changed (symbolic dims are shapes too): the record says so
    assert record.changed
    assert_equivalent(model, result)


def test_shape_inference_is_idempotent() -> None:
    _, run = apply(_symbolic_model(), "shape_inference", "shape_inference")
    first, second = run.records
    assert first.changed and not second.changed
    assert "onnx shape inference improved 0 values" in second.notes


def test_shape_inference_counts_static_shapes() -> None:
    model = make_model(
        [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])],
        [vi("x", [2, 3])],
        [vi("y", None)],
    )
    result, record = apply_one(model, "shape_inference")
    assert _dims(_values(result)["a"]) == [2, 3]
    assert _dims(result.graph.outputs[0]) == [2, 3]
    # x, a, y: 1 static shape before, 3 after
    assert "static shapes: 1 -> 3" in record.notes
    assert record.changed


def test_shape_inference_never_changes_a_known_integer_dim() -> None:
    """An annotated integer dimension wins over what inference would say."""
    model = make_model(
        [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])],
        [vi("x", ["N", 3])],
        [vi("y", None)],
        value_info=[vi("a", [7, "M"])],
    )
    result, _ = apply_one(model, "shape_inference")
    assert _dims(_values(result)["a"]) == [7, 3]


# --------------------------------------------------------------------------- shape_specialization


def test_specialization_pins_and_binds_a_shared_symbol() -> None:
    model = _symbolic_model()
    result, record = apply_one(model, "shape_specialization", input_shapes={"x": [5, 3]})
    inputs = {v.name: v for v in result.graph.inputs}
    assert _dims(inputs["x"]) == [5, 3]
    assert _dims(inputs["z"]) == [5, 2]  # z shares N with x
    values = _values(result)
    assert _dims(values["a"]) == [5, 3]
    assert _dims(values["b"]) == [5, 4]
    assert _dims(values["y"]) == [5, 6]
    assert record.changed
    assert "pinned x to 5x3" in record.notes
    assert "bound symbol N=5" in record.notes
    # names, dtypes and ranks unchanged; same values for inputs of the pinned shapes
    assert input_names(result) == ["x", "z"]
    assert [v.dtype for v in result.graph.inputs] == [v.dtype for v in model.graph.inputs]
    rng = np.random.default_rng(0)
    feeds = {
        "x": rng.standard_normal([5, 3]).astype(np.float32),
        "z": rng.standard_normal([5, 2]).astype(np.float32),
    }
    assert_equivalent(model, result, feeds)


def test_specialization_replaces_symbols_in_existing_annotations() -> None:
    model = _symbolic_model()
    annotated, _ = apply_one(model, "shape_inference")
    assert _dims(annotated.graph.outputs[0]) == ["N", 6]
    result, _ = apply_one(annotated, "shape_specialization", input_shapes={"z": [4, 2]})
    assert _dims(result.graph.outputs[0]) == [4, 6]
    assert _dims(result.graph.inputs[0]) == [4, 3]


def test_specialization_of_a_scalar_input() -> None:
    model = make_model(
        [node("Mul", ["x", "sr"], ["y"])], [vi("x", ["N"]), vi("sr", None)], [vi("y", None)]
    )
    result, record = apply_one(model, "shape_specialization", input_shapes={"sr": []})
    assert _dims(result.graph.inputs[1]) == []
    assert "pinned sr to a scalar" in record.notes


def test_specialization_without_pins_does_nothing() -> None:
    model = _symbolic_model()
    result, record = apply_one(model, "shape_specialization")
    assert not record.changed
    assert record.notes == []
    assert _dims(result.graph.inputs[0]) == ["N", 3]
    assert _values(result)["a"].shape is None


def test_specialization_lets_folding_remove_shape_arithmetic() -> None:
    model = make_model(
        [
            node("Shape", ["x"], ["s"]),
            node("Gather", ["s", "zero"], ["n"], axis=0),
            node("Unsqueeze", ["n", "axes"], ["n1"]),
            node("Concat", ["n1", "minus_one"], ["target"], axis=0),
            node("Reshape", ["x", "target"], ["y"]),
        ],
        [vi("x", ["N", 3, 4])],
        [vi("y", None)],
        [
            init("zero", np.array(0, np.int64)),
            init("axes", [0], np.int64),
            init("minus_one", [-1], np.int64),
        ],
    )
    unpinned, _ = apply(model, "constant_folding", "dead_code_elimination")
    assert op_types(unpinned) == op_types(model)
    pinned, _ = apply(
        model,
        step("shape_specialization", input_shapes={"x": [2, 3, 4]}),
        "constant_folding",
        "dead_code_elimination",
    )
    assert op_types(pinned) == ["Reshape"]
    target = pinned.graph.node(0).inputs[1]
    assert target is not None and target.const_value is not None
    assert target.const_value.numpy().tolist() == [2, -1]
    x = np.random.default_rng(0).standard_normal([2, 3, 4]).astype(np.float32)
    assert_equivalent(model, pinned, {"x": x})


@pytest.mark.parametrize(
    ("pins", "fragment"),
    [
        ({"nope": [1, 3]}, "no input named 'nope'"),
        ({"w": [3, 4]}, "no input named 'w'"),  # an initializer is not an input to pin
        ({"x": [1, 3, 1]}, "rank 2 but 3 dims"),
        ({"x": [2, 4]}, "dim 1 fixed to 3; 4 was given"),
        ({"x": [2, 3], "z": [5, 2]}, "'N' is pinned to both 2 and 5"),
    ],
)
def test_invalid_pins_raise(pins: dict[str, list[int]], fragment: str) -> None:
    model = _symbolic_model()
    model.graph.inputs.append(model.graph.initializers["w"])  # w: initializer and input
    with pytest.raises(GraphoptError) as info:
        check_input_shapes(model, pins)
    assert info.value.code == ErrorCode.INVALID_INPUT_SHAPE
    assert fragment in info.value.message
    # the pass itself raises the same error (the manager wraps it in PassCrash)
    with pytest.raises(GraphoptError) as direct:
        create_pass("shape_specialization", {"input_shapes": pins}).run(model, PassContext())
    assert direct.value.code == ErrorCode.INVALID_INPUT_SHAPE
    with pytest.raises(PassCrash) as crash:
        apply(model, step("shape_specialization", input_shapes=pins))
    assert isinstance(crash.value.cause, GraphoptError)
    assert crash.value.cause.code == ErrorCode.INVALID_INPUT_SHAPE


def test_consistent_pins_return_bindings() -> None:
    model = _symbolic_model()
    assert check_input_shapes(model, {"x": [2, 3], "z": [2, 2]}) == {"N": 2}
    assert check_input_shapes(model, {}) == {}


def test_pin_of_an_input_without_declared_shape_is_accepted() -> None:
    model = make_model([node("Neg", ["x"], ["y"])], [vi("x", None)], [vi("y", None)])
    assert check_input_shapes(model, {"x": [2, 2]}) == {}
    result, _ = apply_one(model, "shape_specialization", input_shapes={"x": [2, 2]})
    assert _dims(result.graph.inputs[0]) == [2, 2]
    assert _dims(result.graph.outputs[0]) == [2, 2]


def test_anonymous_dims_are_not_symbols() -> None:
    """onnx's ``unk__N`` and Paddle's ``?`` name nothing: pinning one binds no other input."""
    model = make_model(
        [node("Add", ["x", "z"], ["y"])],
        [vi("x", ["?", 3]), vi("z", ["?", 3])],
        [vi("y", None)],
    )
    assert check_input_shapes(model, {"x": [2, 3], "z": [1, 3]}) == {}
    result, _ = apply_one(model, "shape_specialization", input_shapes={"x": [2, 3]})
    assert _dims(result.graph.inputs[1]) == ["?", 3]


# --------------------------------------------------------------------------- parse_input_shape


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("x=1x3x224x224", ("x", [1, 3, 224, 224])),
        ("sr=", ("sr", [])),
        ("ids=7", ("ids", [7])),
        ("x=1X3", ("x", [1, 3])),
        ("x=0x3", ("x", [0, 3])),
        ("input:0=2x5", ("input:0", [2, 5])),
        ("a=b=2x3", ("a=b", [2, 3])),
    ],
)
def test_parse_input_shape(spec: str, expected: tuple[str, list[int]]) -> None:
    assert parse_input_shape(spec) == expected


@pytest.mark.parametrize(
    "spec", ["x", "=1x3", "x=1xa", "x=-1x3", "x=1x", "x=1,3", "x=1x3.5", "", "x=?x3"]
)
def test_parse_input_shape_rejects(spec: str) -> None:
    with pytest.raises(GraphoptError) as info:
        parse_input_shape(spec)
    assert info.value.code == ErrorCode.INVALID_INPUT_SHAPE
    assert info.value.detail == {"spec": spec}


def test_shape_passes_keep_int64_inputs_untouched() -> None:
    model = make_model(
        [node("Gather", ["table", "ids"], ["y"], axis=0)],
        [vi("ids", ["B", "T"], INT64)],
        [vi("y", None)],
        [init("table", np.arange(20, dtype=np.float32).reshape(10, 2))],
    )
    result, _ = apply(
        model, step("shape_specialization", input_shapes={"ids": [2, 5]}), "shape_inference"
    )
    assert _dims(result.graph.outputs[0]) == [2, 5, 2]
    assert result.graph.inputs[0].dtype == ir.DataType.INT64
    ids = np.random.default_rng(0).integers(0, 10, size=[2, 5]).astype(np.int64)
    assert_equivalent(model, result, {"ids": ids})


def test_negative_dims_written_by_exporters_count_as_unknown() -> None:
    """Paddle-style ``-1`` dims in value_info must not block inference of the real sizes."""
    model = make_model(
        [node("Relu", ["x"], ["a"]), node("Relu", ["a"], ["y"])],
        [vi("x", [-1, 3])],
        [vi("y", [-1, 3])],
        value_info=[vi("a", [-1, 3])],
    )
    result, _ = apply(
        model, step("shape_specialization", input_shapes={"x": [2, 3]}), "shape_inference"
    )
    values = _values(result)
    assert _dims(values["a"]) == [2, 3]
    assert _dims(values["y"]) == [2, 3]
