"""Verification: output comparison, generated and user-supplied inputs, the verifier.

Comparison is checked on hand-made arrays at and just past each tolerance; inputs on tiny
models whose declared dims and dtypes the generated arrays must follow; the verifier on
tiny models run for real in onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import onnx_ir as ir
import pytest
from graphs import BOOL, DOUBLE, FLOAT, INT32, INT64, STRING, graph, init, make_model, node, vi
from onnx import TensorProto

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.model_io import save_model
from graphopt.engine.options import VerifyOptions
from graphopt.engine.verify.compare import DEFAULT_TOLERANCES, compare_arrays, worst_of
from graphopt.engine.verify.inputs import (
    DEFAULT_DIMS,
    has_free_dims,
    load_npz_inputs,
    random_inputs,
    resolve_shapes,
)
from graphopt.engine.verify.runner import flatten_output
from graphopt.engine.verify.verifier import Verifier

# --------------------------------------------------------------------------- compare


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_float_tolerances_depend_on_the_dtype(dtype: str) -> None:
    atol, rtol = DEFAULT_TOLERANCES[dtype]
    expected = np.array([0.0, 1.0, 100.0], dtype=dtype)
    bound = (atol + rtol * np.abs(expected.astype(np.float64))).astype(dtype)
    inside = (expected.astype(np.float64) + 0.5 * bound.astype(np.float64)).astype(dtype)
    outside = (expected.astype(np.float64) + 3.0 * bound.astype(np.float64)).astype(dtype)
    ok = compare_arrays("y", inside, expected)
    assert ok.passed and ok.mismatched == 0
    assert ok.dtype == dtype and ok.shape_match and ok.dtype_match and ok.compared
    bad = compare_arrays("y", outside, expected)
    assert not bad.passed and bad.mismatched == 3
    assert bad.max_abs == pytest.approx(3.0 * float(bound[2]), rel=1e-2)


def test_tolerances_are_ordered_by_precision_and_can_be_overridden() -> None:
    order = ["float64", "float32", "float16", "bfloat16"]
    atols = [DEFAULT_TOLERANCES[d][0] for d in order]
    assert atols == sorted(atols)
    expected = np.zeros(4, np.float32)
    actual = np.full(4, 0.005, np.float32)
    assert not compare_arrays("y", actual, expected).passed  # float32 default atol 1e-4
    assert compare_arrays("y", actual, expected, atol=0.01).passed
    assert not compare_arrays("y", actual.astype(np.float64), expected.astype(np.float64)).passed
    assert compare_arrays("y", actual.astype(np.float16), expected.astype(np.float16)).passed


def test_bfloat16_is_compared_as_a_float() -> None:
    expected = np.array([1.0, 2.0, 3.0], dtype=ml_dtypes.bfloat16)
    close = np.array([1.0, 2.0, 3.015625], dtype=ml_dtypes.bfloat16)  # one bfloat16 step
    result = compare_arrays("y", close, expected)
    assert result.passed and result.dtype == "bfloat16"
    assert result.max_abs == pytest.approx(0.015625)
    assert not compare_arrays("y", expected + 1, expected).passed


def test_max_abs_max_rel_and_cosine() -> None:
    expected = np.array([1.0, -2.0, 4.0, 0.0], np.float64)
    actual = np.array([1.0, -2.0, 4.5, 0.0], np.float64)
    result = compare_arrays("y", actual, expected)
    assert result.max_abs == pytest.approx(0.5)
    assert result.max_rel == pytest.approx(0.5 / 4.0)
    cosine = float(actual @ expected / (np.linalg.norm(actual) * np.linalg.norm(expected)))
    assert result.cosine == pytest.approx(cosine)
    assert result.mismatched == 1 and not result.passed
    scaled = compare_arrays("y", expected * 2, expected)
    assert scaled.cosine == pytest.approx(1.0)
    opposite = compare_arrays("y", -expected, expected)
    assert opposite.cosine == pytest.approx(-1.0)
    zeros = np.zeros(3, np.float32)
    assert compare_arrays("y", zeros, zeros).cosine == 1.0
    assert (
        compare_arrays("y", zeros + 1, zeros).cosine is None
    )  # undefined: only one side is all zero


def test_nan_and_inf_must_coincide() -> None:
    expected = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    same = compare_arrays("y", expected.copy(), expected)
    assert same.passed and same.mismatched == 0
    assert same.max_abs == 0.0 and same.cosine == pytest.approx(1.0)  # over finite elements
    for position, value in [(0, 1.0), (1, -np.inf), (2, np.nan), (3, np.nan), (3, np.inf)]:
        actual = expected.copy()
        actual[position] = value
        result = compare_arrays("y", actual, expected)
        assert not result.passed, (position, value)
        assert result.mismatched == 1, (position, value)
    all_special = np.array([np.nan, np.inf], np.float32)
    result = compare_arrays("y", all_special.copy(), all_special)
    assert result.passed and result.max_abs == 0.0 and result.max_rel == 0.0


def test_shape_and_dtype_must_match_exactly() -> None:
    expected = np.zeros([2, 3], np.float32)
    reshaped = compare_arrays("y", np.zeros([3, 2], np.float32), expected)
    assert not reshaped.passed and not reshaped.shape_match and reshaped.dtype_match
    assert reshaped.max_abs is None and reshaped.cosine is None
    broadcastable = compare_arrays("y", np.zeros([1, 3], np.float32), expected)
    assert not broadcastable.passed
    retyped = compare_arrays("y", np.zeros([2, 3], np.float64), expected)
    assert not retyped.passed and retyped.shape_match and not retyped.dtype_match
    assert retyped.dtype == "float32"  # the original's dtype


def test_integers_booleans_and_strings_are_exact() -> None:
    ints = np.array([1, 2, 3], np.int64)
    assert compare_arrays("y", ints.copy(), ints).passed
    off = compare_arrays("y", np.array([1, 2, 7], np.int64), ints, atol=10.0, rtol=10.0)
    assert not off.passed and off.mismatched == 1 and off.max_abs == 4.0
    assert off.cosine is None
    small = np.array([250, 3], np.uint8)
    wrapped = compare_arrays("y", np.array([4, 3], np.uint8), small)
    assert wrapped.max_abs == 246.0  # no unsigned wrap-around in the difference
    flags = np.array([True, False])
    assert compare_arrays("y", flags.copy(), flags).passed
    assert compare_arrays("y", ~flags, flags).mismatched == 2
    words = np.array(["a", "bc"])
    assert compare_arrays("y", words.copy(), words).passed
    result = compare_arrays("y", np.array(["a", "bd"]), words)
    assert not result.passed and result.mismatched == 1
    objects = np.array(["a", "bc"], dtype=object)
    assert compare_arrays("y", objects.copy(), objects).passed


def test_shape_only_comparison_ignores_values() -> None:
    expected = np.zeros([2, 2], np.float32)
    result = compare_arrays("r", np.ones([2, 2], np.float32), expected, values=False)
    assert result.passed and not result.compared and result.max_abs is None
    assert not compare_arrays("r", np.ones([2, 1], np.float32), expected, values=False).passed


def test_worst_case_over_input_sets() -> None:
    expected = np.array([1.0, 2.0], np.float32)
    good = compare_arrays("y", expected.copy(), expected)
    bad = compare_arrays("y", np.array([1.0, 3.0], np.float32), expected)
    worst = worst_of([good, bad])
    assert not worst.passed
    assert worst.max_abs == 1.0 and worst.mismatched == 1
    assert worst.cosine == bad.cosine
    assert worst_of([good, good]).passed


def test_flatten_output_names_sequences_maps_and_missing_optionals() -> None:
    flat = flatten_output("s", [np.zeros(2), [np.ones(1)]])
    assert sorted(flat) == ["s#len", "s[0]", "s[1]#len", "s[1][0]"]
    assert int(flat["s#len"]) == 2
    assert sorted(flatten_output("m", {2: 0.5, 1: 0.25})) == ["m{1}", "m{2}"]
    assert list(flatten_output("o", None)) == ["o#none"]


# --------------------------------------------------------------------------- random inputs


def _typed_model() -> ir.Model:
    """One input per dtype, all combined into ``y`` so that every input is used."""
    return make_model(
        [
            node("Cast", ["i32"], ["a"], to=FLOAT),
            node("Cast", ["i64"], ["b"], to=FLOAT),
            node("Cast", ["flag"], ["c"], to=FLOAT),
            node("Cast", ["d"], ["e"], to=FLOAT),
            node("Cast", ["h"], ["k"], to=FLOAT),
            node("Cast", ["u8"], ["u"], to=FLOAT),
            node("Sum", ["f", "a", "b", "c", "e", "k", "u"], ["y"]),
        ],
        [
            vi("f", ["N", "T"]),
            vi("i32", ["N", "T"], INT32),
            vi("i64", [2, 3], INT64),
            vi("flag", ["N", "T"], BOOL),
            vi("d", ["N", "T"], DOUBLE),
            vi("h", [1, "T"], TensorProto.FLOAT16),
            vi("u8", [1, 1], TensorProto.UINT8),
        ],
        [vi("y", ["N", "T"])],
    )


def test_resolve_shapes_keeps_static_dims_and_shares_symbols() -> None:
    model = _typed_model()
    assert has_free_dims(model, {})
    shapes = resolve_shapes(model, {}, default_dim=7)
    assert shapes["i64"] == [2, 3]
    assert shapes["f"] == shapes["i32"] == shapes["flag"] == [1, 7]
    assert shapes["h"] == [1, 7]
    assert resolve_shapes(model, {"f": [2, 3]})["d"] == [2, 3]  # N=2, T=3 from the pin
    assert resolve_shapes(model, {})["f"] == [1, DEFAULT_DIMS[0]]


def test_has_free_dims_ignores_the_first_axis_and_pins() -> None:
    model = make_model([node("Relu", ["x"], ["y"])], [vi("x", ["N", 4])], [vi("y", ["N", 4])])
    assert not has_free_dims(model, {})
    assert resolve_shapes(model, {})["x"] == [1, 4]
    free = make_model([node("Relu", ["x"], ["y"])], [vi("x", [1, "T"])], [vi("y", [1, "T"])])
    assert has_free_dims(free, {})
    assert not has_free_dims(free, {"x": [1, 5]})


def test_an_input_without_rank_needs_a_pin() -> None:
    model = make_model([node("Relu", ["x"], ["y"])], [vi("x", None)], [vi("y", None)])
    with pytest.raises(GraphoptError) as info:
        resolve_shapes(model, {})
    assert info.value.code == ErrorCode.INVALID_INPUT_SHAPE
    assert resolve_shapes(model, {"x": [3, 2]}) == {"x": [3, 2]}


def test_random_inputs_follow_dims_and_dtypes() -> None:
    model = _typed_model()
    shapes = resolve_shapes(model, {"f": [2, 5]})
    sets = random_inputs(model, shapes, sets=2, seed=3)
    assert len(sets) == 2
    expected_dtypes = {
        "f": np.float32,
        "i32": np.int32,
        "i64": np.int64,
        "flag": np.bool_,
        "d": np.float64,
        "h": np.float16,
        "u8": np.uint8,
    }
    for feeds in sets:
        assert set(feeds) == set(expected_dtypes)
        for name, dtype in expected_dtypes.items():
            assert feeds[name].dtype == dtype, name
            assert list(feeds[name].shape) == shapes[name], name
        for name in ("i32", "i64", "u8"):
            assert feeds[name].min() >= 0 and feeds[name].max() < 2
    assert not np.array_equal(sets[0]["f"], sets[1]["f"])
    again = random_inputs(model, shapes, sets=2, seed=3)
    for first, second in zip(sets, again, strict=True):
        for name in first:
            np.testing.assert_array_equal(first[name], second[name])
    other = random_inputs(model, shapes, sets=1, seed=4)
    assert not np.array_equal(other[0]["f"], sets[0]["f"])


def test_random_integer_ids_stay_inside_the_table_they_index() -> None:
    model = make_model(
        [node("Gather", ["table", "ids"], ["y"], axis=0)],
        [vi("ids", [1, 64], INT64)],
        [vi("y", [1, 64, 4])],
        [init("table", np.zeros([10, 4], np.float32))],
    )
    (feeds,) = random_inputs(model, resolve_shapes(model, {}), sets=1, seed=0)
    ids = feeds["ids"]
    assert ids.min() >= 0 and ids.max() < 10
    assert len(np.unique(ids)) > 2  # the whole table, not just {0, 1}


def test_string_inputs_cannot_be_generated() -> None:
    model = make_model(
        [node("Identity", ["s"], ["y"])], [vi("s", [2], STRING)], [vi("y", [2], STRING)]
    )
    with pytest.raises(GraphoptError) as info:
        random_inputs(model, resolve_shapes(model, {}), sets=1, seed=0)
    assert info.value.code == ErrorCode.INVALID_INPUTS
    assert "--inputs" in info.value.message


# --------------------------------------------------------------------------- npz inputs


def _xy_model() -> ir.Model:
    return make_model(
        [node("Add", ["x", "w"], ["y"])],
        [vi("x", ["N", 3], INT64), vi("w", [3], INT64)],
        [vi("y", ["N", 3], INT64)],
    )


def test_npz_single_and_several_sets(tmp_path: Path) -> None:
    model = _xy_model()
    one = tmp_path / "one.npz"
    np.savez(one, x=np.ones([2, 3], np.int64), w=np.arange(3, dtype=np.int64))
    (feeds,) = load_npz_inputs(one, model)
    assert feeds["x"].shape == (2, 3)
    several = tmp_path / "several.npz"
    arrays = {f"x/{i}": np.full([i + 1, 3], i, np.int64) for i in range(3)}
    arrays |= {f"w/{i}": np.zeros(3, np.int64) for i in range(3)}
    np.savez(several, **arrays)
    sets = load_npz_inputs(several, model)
    assert [s["x"].shape[0] for s in sets] == [1, 2, 3]


def test_initializer_inputs_need_not_be_fed(tmp_path: Path) -> None:
    model = make_model(
        [node("Add", ["x", "w"], ["y"])],
        [vi("x", [3]), vi("w", [3])],
        [vi("y", [3])],
        [init("w", np.zeros(3, np.float32))],
    )
    path = tmp_path / "x.npz"
    np.savez(path, x=np.zeros(3, np.float32))
    assert list(load_npz_inputs(path, model)[0]) == ["x"]


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [
        ({"x": np.ones([2, 3], np.int64)}, "lacks ['w']"),
        ({"x/0": np.ones([2, 3], np.int64), "w/1": np.ones(3, np.int64)}, "lacks"),
        (
            {"x": np.ones([2, 3], np.int64), "w": np.ones(3, np.int64), "z": np.ones(1)},
            "'z', which is not an input",
        ),
        ({"x/a": np.ones([2, 3], np.int64), "w": np.ones(3, np.int64)}, "not an input"),
        ({"x": np.ones([2, 3], np.int32), "w": np.ones(3, np.int64)}, "has dtype int32"),
        ({"x": np.ones([2, 3], np.int64), "w": np.ones(4, np.int64)}, "has shape [4]"),
        ({"x": np.ones([2, 3, 1], np.int64), "w": np.ones(3, np.int64)}, "has shape [2, 3, 1]"),
        ({}, "holds no arrays"),
    ],
    ids=[
        "missing",
        "missing-in-a-set",
        "unknown-key",
        "bad-index",
        "wrong-dtype",
        "wrong-dim",
        "wrong-rank",
        "empty",
    ],
)
def test_bad_npz_is_refused(tmp_path: Path, arrays: dict[str, np.ndarray], fragment: str) -> None:
    path = tmp_path / "inputs.npz"
    np.savez(path, **arrays)
    with pytest.raises(GraphoptError) as info:
        load_npz_inputs(path, _xy_model())
    assert info.value.code == ErrorCode.INVALID_INPUTS
    assert fragment in info.value.message


def test_unreadable_npz_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inputs.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(GraphoptError) as info:
        load_npz_inputs(path, _xy_model())
    assert info.value.code == ErrorCode.INVALID_INPUTS
    with pytest.raises(GraphoptError) as info:
        load_npz_inputs(tmp_path / "absent.npz", _xy_model())
    assert info.value.code == ErrorCode.INVALID_INPUTS


def test_npz_strings_for_string_inputs(tmp_path: Path) -> None:
    model = make_model(
        [node("Identity", ["s"], ["y"])], [vi("s", [2], STRING)], [vi("y", [2], STRING)]
    )
    path = tmp_path / "s.npz"
    np.savez(path, s=np.array(["a", "b"]))
    assert load_npz_inputs(path, model)[0]["s"].tolist() == ["a", "b"]
    np.savez(path, s=np.array([1, 2]))
    with pytest.raises(GraphoptError) as info:
        load_npz_inputs(path, model)
    assert info.value.code == ErrorCode.INVALID_INPUTS


# --------------------------------------------------------------------------- the verifier


def _verifier(model: ir.Model, tmp_path: Path, **options: object) -> Verifier:
    original = Path(save_model(model, tmp_path / "original" / "model.onnx").path)
    return Verifier(model, original, VerifyOptions(**options), {}, tmp_path)


def _relu_model() -> ir.Model:
    return make_model(
        [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])],
        [vi("x", ["N", "C"])],
        [vi("y", ["N", "C"])],
    )


def test_verifier_accepts_the_original_and_rejects_a_changed_model(tmp_path: Path) -> None:
    model = _relu_model()
    verifier = _verifier(model, tmp_path, sets=2, seed=5)
    assert verifier.loadable and verifier.unavailable is None
    assert verifier.inputs_used is not None
    assert verifier.inputs_used.source == "random"
    assert (verifier.inputs_used.sets, verifier.inputs_used.seed) == (2, 5)
    assert verifier.inputs_used.shapes == {"x": [1, DEFAULT_DIMS[0]]}
    same = verifier.check(model.clone())
    assert same.passed and same.compared and same.path is not None and same.path.exists()
    assert [o.name for o in same.outputs] == ["y"]
    changed = model.clone()
    changed.graph.node(0).op_type = "Sigmoid"
    result = verifier.check(changed)
    assert not result.passed
    assert result.outputs[0].mismatched > 0
    assert verifier.checks == 2
    verifier.discard(result)
    assert result.path is not None and not result.path.parent.exists()


def test_checks_measure_what_timing_a_candidate_costs(tmp_path: Path) -> None:
    model = _relu_model()
    verifier = _verifier(model, tmp_path)
    assert verifier.reference_run_s is not None and verifier.reference_run_s > 0
    result = verifier.check(model.clone())
    assert result.load_s is not None and result.load_s > 0  # at ORT_ENABLE_ALL
    assert result.run_s is not None and result.run_s > 0


def test_the_original_is_accepted_without_running_it_again(tmp_path: Path) -> None:
    model = _relu_model()
    verifier = _verifier(model, tmp_path, sets=2)
    result = verifier.original_result(model.clone())
    assert result.passed and result.compared and verifier.checks == 0
    assert [(o.name, o.max_abs) for o in result.outputs] == [("y", 0.0)]
    assert result.path is not None and ir.load(result.path).graph.node(0).op_type == "Relu"
    assert result.run_s == verifier.reference_run_s and result.load_s is None


def test_verifier_fails_a_candidate_onnxruntime_cannot_load(tmp_path: Path) -> None:
    model = _relu_model()
    verifier = _verifier(model, tmp_path)
    broken = model.clone()
    broken.graph.node(0).op_type = "NoSuchOp"
    result = verifier.check(broken)
    assert not result.passed
    assert result.error is not None and "cannot load or run the optimized model" in result.error


def test_verifier_reports_an_original_onnxruntime_cannot_load(tmp_path: Path) -> None:
    model = make_model(
        [node("Mystery", ["x"], ["y"], domain="com.example")],
        [vi("x", [2])],
        [vi("y", [2])],
        extra_opsets={"com.example": 1},
    )
    verifier = _verifier(model, tmp_path)
    assert not verifier.loadable
    assert verifier.unavailable is not None
    assert verifier.unavailable.startswith("onnxruntime cannot load the original model")


def test_verifier_compares_random_outputs_by_shape_only(tmp_path: Path) -> None:
    model = make_model(
        [node("RandomNormalLike", ["x"], ["r"]), node("Relu", ["x"], ["y"])],
        [vi("x", [2, 3])],
        [vi("r", [2, 3]), vi("y", [2, 3])],
    )
    verifier = _verifier(model, tmp_path)
    result = verifier.check(model.clone())
    assert result.passed
    by_name = {o.name: o for o in result.outputs}
    assert not by_name["r"].compared and by_name["y"].compared


def test_verifier_uses_and_validates_npz_inputs(tmp_path: Path) -> None:
    model = _relu_model()
    good = tmp_path / "good.npz"
    np.savez(good, **{"x/0": np.ones([3, 4], np.float32), "x/1": -np.ones([3, 4], np.float32)})
    verifier = _verifier(model, tmp_path, inputs=good)
    assert verifier.inputs_used is not None
    assert verifier.inputs_used.source == "file" and verifier.inputs_used.seed is None
    assert (verifier.inputs_used.sets, verifier.inputs_used.shapes) == (2, {"x": [3, 4]})
    np.testing.assert_array_equal(verifier.reference[0]["y"], -np.ones([3, 4], np.float32))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.ones([3, 4], np.float64))
    with pytest.raises(GraphoptError) as info:
        _verifier(model, tmp_path, inputs=wrong)
    assert info.value.code == ErrorCode.INVALID_INPUTS
    assert info.value.detail["input"] == "x"


def test_verifier_tries_larger_dims_until_the_original_runs(tmp_path: Path) -> None:
    """``Reshape(x, [-1, 64])`` runs only when x's free dim is a multiple of 64."""
    model = make_model(
        [node("Reshape", ["x", "shape"], ["y"])],
        [vi("x", [1, "T"], FLOAT)],
        [vi("y", None)],
        [init("shape", np.array([-1, 64], np.int64))],
    )
    verifier = _verifier(model, tmp_path)
    assert verifier.unavailable is None
    assert verifier.inputs_used is not None
    assert verifier.inputs_used.shapes == {"x": [1, DEFAULT_DIMS[1]]}


def _if_lstm_model(x_dims: list, masked_rank: bool) -> ir.Model:
    """``out = If(c)``: the then branch runs an LSTM on ``Unsqueeze(Squeeze(X), [0, 1])``;
    the never-taken else branch feeds it ``Unsqueeze(Squeeze(X), [0, 1, 2])`` and a Gelu
    chain (something onnxruntime's optimizers rewrite). With ``X`` static ([1, 4]) that
    LSTM input has rank 4, which LSTM rejects; ``masked_rank`` annotates it as rank 3, which
    onnxruntime accepts at load with optimizations off, and rejects once its optimizers
    re-run type inference (what shape specialization once did to silero-vad)."""
    hidden = 2
    rng = np.random.default_rng(0)
    weights = [
        init("W", rng.random((1, 4 * hidden, 4)), np.float32),
        init("R", rng.random((1, 4 * hidden, hidden)), np.float32),
    ]

    def branch(name: str, axes: list[int], gelu: bool) -> onnx.GraphProto:
        nodes = [
            node("Squeeze", ["X"], [f"{name}_s"]),
            node("Unsqueeze", [f"{name}_s", f"{name}_axes"], [f"{name}_u"]),
            node("LSTM", [f"{name}_u", "W", "R"], [f"{name}_y"], hidden_size=hidden),
            node("ReduceSum", [f"{name}_y"], [f"{name}_out"], keepdims=0),
        ]
        inits = [init(f"{name}_axes", axes, np.int64)]
        if gelu:
            nodes[-1] = node("ReduceSum", [f"{name}_y"], [f"{name}_r"], keepdims=0)
            nodes += [
                node("Div", ["X", f"{name}_sqrt2"], [f"{name}_d"]),
                node("Erf", [f"{name}_d"], [f"{name}_e"]),
                node("Add", [f"{name}_e", f"{name}_one"], [f"{name}_a"]),
                node("Mul", ["X", f"{name}_a"], [f"{name}_m"]),
                node("Mul", [f"{name}_m", f"{name}_half"], [f"{name}_g"]),
                node("ReduceSum", [f"{name}_g"], [f"{name}_gs"], keepdims=0),
                node("Add", [f"{name}_r", f"{name}_gs"], [f"{name}_out"]),
            ]
            inits += [
                init(f"{name}_sqrt2", np.sqrt(2.0), np.float32),
                init(f"{name}_one", 1.0, np.float32),
                init(f"{name}_half", 0.5, np.float32),
            ]
        masked = [vi(f"{name}_u", [1, 1, 4])] if gelu and masked_rank else []
        return graph(nodes, [], [vi(f"{name}_out", None)], inits, name=name, value_info=masked)

    switch = node(
        "If",
        ["c"],
        ["out"],
        then_branch=branch("t", [0, 1], False),
        else_branch=branch("e", [0, 1, 2], True),
    )
    return make_model([switch], [vi("X", x_dims), vi("c", [], BOOL)], [vi("out", None)], weights)


def test_a_candidate_must_load_at_ort_enable_all_when_the_original_does(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, X=np.ones((1, 4), np.float32), c=np.array(True))
    original = _if_lstm_model(["n", 4], masked_rank=False)
    verifier = _verifier(original, tmp_path / "work", inputs=inputs)
    assert verifier.unavailable is None
    assert verifier.check(_if_lstm_model([1, 4], masked_rank=False)).passed is False  # rank 4
    masked = verifier.check(_if_lstm_model([1, 4], masked_rank=True))
    assert masked.passed is False
    assert masked.error is not None and "ORT_ENABLE_ALL" in masked.error
