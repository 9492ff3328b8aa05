"""The optimization driver: verification verdicts, bisection and rollback, what it writes.

Faulty passes are registered for the test only (``faulty_passes`` fixture): one that turns
Relu into Sigmoid while claiming to be lossless, one that raises, and a lossy one. Models
are tiny files written to ``tmp_path`` and optimized end to end (onnxruntime included).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from graphs import (
    BOOL,
    FLOAT,
    INT64,
    init,
    model_proto,
    node,
    op_types,
    run,
    vi,
)
from onnx import external_data_helper

from graphopt.engine import OptimizeOptions, VerifyOptions, optimize
from graphopt.engine.errors import ErrorCode, GraphoptError, WarningCode
from graphopt.engine.passes import (
    PRESETS,
    GraphPass,
    ModelPass,
    PassContext,
    PassFamily,
    PassOutcome,
    Pipeline,
)
from graphopt.engine.passes.pipeline import fixed_point, step
from graphopt.engine.passes.registry import register, unregister
from graphopt.engine.report import Report
from graphopt.engine.traversal import GraphBody

SIGMOID = "test_relu_to_sigmoid"
RAISES = "test_raises"
LOSSY = "test_lossy_leaky_relu"
FLATTEN = "test_flatten_outputs"
BREAK = "test_unknown_op"


class _ReluToSigmoid(GraphPass):
    """Test pass: turns every Relu into a Sigmoid while claiming to be lossless."""

    name = SIGMOID
    family = PassFamily.CLEANUP
    lossless = True

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        for n in body:
            if n.op_type == "Relu":
                n.op_type = "Sigmoid"
                outcome.rewritten += 1
        return outcome


class _Raises(ModelPass):
    """Test pass: deletes the first node, then raises (the model is left half-edited)."""

    name = RAISES
    family = PassFamily.CLEANUP
    lossless = True

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        model.graph.remove(model.graph.node(0))
        raise RuntimeError("kaboom")


class _LossyLeakyRelu(GraphPass):
    """Test pass: approximates Relu by LeakyRelu(alpha=0.01); declared lossy."""

    name = LOSSY
    family = PassFamily.PRUNING
    lossless = False

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        for n in body:
            if n.op_type == "Relu":
                n.op_type = "LeakyRelu"
                n.attributes["alpha"] = ir.AttrFloat32("alpha", 0.01)
                outcome.rewritten += 1
        return outcome


class _FlattenOutputs(ModelPass):
    """Test pass: reshapes every main-graph output to (elements, 1): same values, other shape.

    Needs outputs of known rank.
    """

    name = FLATTEN
    family = PassFamily.CLEANUP
    lossless = True

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        graph = model.graph
        for index, old in enumerate(list(graph.outputs)):
            assert old.shape is not None
            flat = ir.node("Flatten", [old], attributes={"axis": len(old.shape)})
            graph.append(flat)
            new = flat.outputs[0]
            new.dtype, new.name, old.name = old.dtype, old.name, f"{old.name}_unflattened"
            graph.outputs[index] = new
        return PassOutcome(changed=True)


class _UnknownOp(GraphPass):
    """Test pass: renames Relu to an operator onnxruntime does not have."""

    name = BREAK
    family = PassFamily.CLEANUP
    lossless = True

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        for n in body:
            if n.op_type == "Relu":
                n.op_type = "NoSuchOp"
                outcome.rewritten += 1
        return outcome


_TEST_PASSES = (_ReluToSigmoid, _Raises, _LossyLeakyRelu, _FlattenOutputs, _UnknownOp)


@pytest.fixture
def faulty_passes() -> Iterator[None]:
    for cls in _TEST_PASSES:
        register(cls)
    yield
    for cls in _TEST_PASSES:
        unregister(cls.name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save(proto: onnx.ModelProto, path: Path) -> Path:
    onnx.save(proto, path)
    return path


@pytest.fixture
def relu_model(tmp_path: Path) -> Path:
    """``y = Relu(x * 1) + 0`` and a dead branch: noop and dead-code passes have work."""
    return _save(
        model_proto(
            [
                node("Mul", ["x", "one"], ["m"]),
                node("Relu", ["m"], ["r"]),
                node("Add", ["r", "zero"], ["y"]),
                node("Exp", ["x"], ["dead"]),
            ],
            [vi("x", ["N", 8])],
            [vi("y", ["N", 8])],
            [init("one", np.ones(8, np.float32)), init("zero", np.zeros(8, np.float32))],
        ),
        tmp_path / "relu.onnx",
    )


def _feeds(seed: int = 0) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal([4, 8]).astype(np.float32)}


def _same_outputs(original: Path, optimized: Path | ir.Model) -> None:
    feeds = _feeds()
    expected = run(onnx.load(original), feeds)
    actual = run(optimized if isinstance(optimized, ir.Model) else onnx.load(optimized), feeds)
    assert list(actual) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value, strict=True)


def _warning_codes(report: Report) -> list[str]:
    return [w.code for w in report.warnings]


PIPELINE = [
    "shape_inference",
    "noop_elimination",
    SIGMOID,
    "common_subexpression_elimination",
    "dead_code_elimination",
]


# --------------------------------------------------------------------------- rollback


def test_a_pass_that_changes_outputs_is_found_and_rolled_back(
    faulty_passes: None, relu_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "relu.opt.onnx"
    options = OptimizeOptions(pipeline=PIPELINE)
    with optimize(relu_model, options, output=out) as result:
        report = result.report
        verification = report.verification
        assert verification.status == "passed" and verification.passed is True
        assert verification.reason is None
        assert [(r.name, r.reason) for r in verification.rolled_back] == [(SIGMOID, "mismatch")]
        rolled = verification.rolled_back[0]
        assert "outputs differ from the original" in rolled.error
        assert rolled.outputs and not rolled.outputs[0].passed
        assert rolled.outputs[0].name == "y"
        # the final run: every pass but the culprit, which left the Relu alone
        assert [r.name for r in report.passes] == [p for p in PIPELINE if p != SIGMOID]
        assert op_types(result.model) == ["Relu"]
        # first check, baseline, bisection checks, final check
        assert verification.attempts >= 4
        assert WarningCode.PASS_ROLLED_BACK in _warning_codes(report)
        assert report.pipeline.passes == PIPELINE
    assert op_types(ir.load(out)) == ["Relu"]
    _same_outputs(relu_model, out)


def test_bisection_finds_a_bad_pass_late_in_a_long_pipeline(
    faulty_passes: None, relu_model: Path
) -> None:
    pipeline = ["shape_inference", "noop_elimination", "constant_folding", "constant_lifting"]
    pipeline += ["initializer_deduplication", "common_subexpression_elimination", SIGMOID]
    pipeline += ["dead_code_elimination", "shape_inference"]
    with optimize(relu_model, OptimizeOptions(pipeline=pipeline)) as result:
        verification = result.report.verification
        assert verification.passed
        assert [r.name for r in verification.rolled_back] == [SIGMOID]
        assert SIGMOID not in [r.name for r in result.report.passes]
        _same_outputs(relu_model, result.model)


def test_bisection_counts_applications_inside_fixed_point_groups(
    faulty_passes: None, relu_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = fixed_point(step("noop_elimination"), step(SIGMOID), step("dead_code_elimination"))
    pipeline = Pipeline(name="grouped", steps=[step("shape_inference"), group])
    monkeypatch.setitem(PRESETS, "grouped", pipeline)
    with optimize(relu_model, OptimizeOptions(pipeline="grouped")) as result:
        verification = result.report.verification
        assert verification.passed
        assert [(r.name, r.reason) for r in verification.rolled_back] == [(SIGMOID, "mismatch")]
        assert [(r.name, r.iteration) for r in result.report.passes] == [
            ("shape_inference", None),
            ("noop_elimination", 1),
            ("dead_code_elimination", 1),
            ("noop_elimination", 2),
            ("dead_code_elimination", 2),
        ]
        _same_outputs(relu_model, result.model)


def test_shape_changes_and_unloadable_candidates_are_rolled_back(
    faulty_passes: None, relu_model: Path
) -> None:
    pipeline = ["shape_inference", FLATTEN, "noop_elimination", BREAK, "dead_code_elimination"]
    with optimize(relu_model, OptimizeOptions(pipeline=pipeline)) as result:
        verification = result.report.verification
        assert verification.passed
        flatten, unknown = verification.rolled_back
        assert (flatten.name, flatten.reason) == (FLATTEN, "mismatch")
        assert flatten.error == "outputs differ from the original: y (shape differs)"
        assert not flatten.outputs[0].shape_match
        assert (unknown.name, unknown.reason) == (BREAK, "mismatch")
        assert "onnxruntime cannot load or run the optimized model" in unknown.error
        _same_outputs(relu_model, result.model)


def test_load_only_checks_when_the_original_cannot_run_on_generated_inputs(
    faulty_passes: None, tmp_path: Path
) -> None:
    """The original loads but no generated input fits its Reshape: candidates must load."""
    path = _save(
        model_proto(
            [node("Reshape", ["x", "shape"], ["r"]), node("Relu", ["r"], ["y"])],
            [vi("x", [1, "T"])],
            [vi("y", ["A", "B", "C"])],
            [init("shape", np.array([-1, 7, 11], np.int64))],
        ),
        tmp_path / "reshape.onnx",
    )
    with optimize(path, OptimizeOptions(pipeline=[BREAK, "noop_elimination"])) as result:
        verification = result.report.verification
        assert verification.status == "unavailable" and verification.passed is None
        assert verification.reason is not None
        assert verification.reason.startswith("onnxruntime cannot run the original model")
        assert [(r.name, r.reason) for r in verification.rolled_back] == [(BREAK, "mismatch")]
        assert op_types(result.model) == ["Reshape", "Relu"]


def test_a_pass_that_raises_is_rolled_back(faulty_passes: None, relu_model: Path) -> None:
    pipeline = ["shape_inference", "noop_elimination", RAISES, "dead_code_elimination"]
    with optimize(relu_model, OptimizeOptions(pipeline=pipeline)) as result:
        verification = result.report.verification
        assert verification.status == "passed"
        assert [(r.name, r.reason) for r in verification.rolled_back] == [(RAISES, "exception")]
        assert "RuntimeError: kaboom" in verification.rolled_back[0].error
        assert verification.rolled_back[0].outputs == []
        assert WarningCode.PASS_FAILED in _warning_codes(result.report)
        assert [r.name for r in result.report.passes] == [p for p in pipeline if p != RAISES]
        assert op_types(result.model) == ["Relu"]  # the half-edited clone was dropped
        _same_outputs(relu_model, result.model)


def test_a_pass_that_raises_is_rolled_back_without_verification(
    faulty_passes: None, relu_model: Path
) -> None:
    options = OptimizeOptions(
        pipeline=[RAISES, "shape_inference", "noop_elimination"],
        verify=VerifyOptions(enabled=False),
    )
    with optimize(relu_model, options) as result:
        assert [r.reason for r in result.report.verification.rolled_back] == ["exception"]
        assert op_types(result.model) == ["Relu", "Exp"]  # no DCE asked for


def test_a_lossy_pass_is_kept_and_its_error_reported(
    faulty_passes: None, relu_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lossy.onnx"
    pipeline = ["shape_inference", "noop_elimination", LOSSY, "dead_code_elimination"]
    options = OptimizeOptions(pipeline=pipeline)
    with optimize(relu_model, options, output=out) as result:
        verification = result.report.verification
        assert verification.status == "failed" and verification.passed is False
        assert verification.rolled_back == []
        assert verification.reason is not None
        assert verification.reason.startswith(f"lossy pass {LOSSY!r}: outputs differ")
        (y,) = verification.outputs
        assert not y.passed and y.max_abs is not None and 0 < y.max_abs < 0.1
        assert y.cosine is not None and 0 < y.cosine < 1
        assert LOSSY in [r.name for r in result.report.passes]
        assert op_types(result.model) == ["LeakyRelu"]
    assert op_types(ir.load(out)) == ["LeakyRelu"]


# --------------------------------------------------------------------------- verdicts


def test_a_model_onnxruntime_cannot_run_is_still_optimized(tmp_path: Path) -> None:
    path = _save(
        model_proto(
            [
                node("Identity", ["x"], ["i"]),
                node("Mystery", ["i"], ["m"], domain="com.example"),
                node("Neg", ["m"], ["y"]),
            ],
            [vi("x", [2, 3])],
            [vi("y", [2, 3])],
            extra_opsets={"com.example": 1},
        ),
        tmp_path / "custom.onnx",
    )
    out = tmp_path / "custom.opt.onnx"
    with optimize(path, output=out) as result:
        verification = result.report.verification
        assert verification.status == "unavailable" and verification.passed is None
        assert verification.reason is not None
        assert verification.reason.startswith("onnxruntime cannot load the original model")
        assert verification.rolled_back == [] and verification.outputs == []
        assert WarningCode.VERIFICATION_UNAVAILABLE in _warning_codes(result.report)
        assert result.report.passes  # the pipeline ran
        assert op_types(result.model) == ["Mystery", "Neg"]
    saved = onnx.load(out)
    assert [n.op_type for n in saved.graph.node] == ["Mystery", "Neg"]
    assert {o.domain for o in saved.opset_import} == {"", "com.example"}


def test_verification_disabled_is_skipped(relu_model: Path) -> None:
    options = OptimizeOptions(verify=VerifyOptions(enabled=False))
    with optimize(relu_model, options) as result:
        verification = result.report.verification
        assert verification.status == "skipped" and verification.passed is None
        assert verification.attempts == 0 and verification.inputs is None
        assert verification.outputs == []
        assert op_types(result.model) == ["Relu"]
        _same_outputs(relu_model, result.model)


def test_npz_inputs_are_used(relu_model: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.npz"
    sets = {f"x/{i}": _feeds(i)["x"][: i + 1] for i in range(2)}
    np.savez(inputs, **sets)
    options = OptimizeOptions(verify=VerifyOptions(inputs=inputs))
    with optimize(relu_model, options) as result:
        verification = result.report.verification
        assert verification.passed
        assert verification.inputs is not None
        assert verification.inputs.source == "file" and verification.inputs.sets == 2
        assert verification.inputs.shapes == {"x": [1, 8]}
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros([2, 8], np.float64))
    with pytest.raises(GraphoptError) as info:
        optimize(relu_model, OptimizeOptions(verify=VerifyOptions(inputs=bad)))
    assert info.value.code == ErrorCode.INVALID_INPUTS


def test_random_inputs_are_reported(relu_model: Path) -> None:
    options = OptimizeOptions(verify=VerifyOptions(sets=2, seed=9))
    with optimize(relu_model, options) as result:
        inputs = result.report.verification.inputs
        assert inputs is not None
        assert (inputs.source, inputs.sets, inputs.seed) == ("random", 2, 9)
        assert inputs.shapes == {"x": [1, 8]}
        (y,) = result.report.verification.outputs
        assert y.passed and y.max_abs == 0.0 and y.cosine == pytest.approx(1.0)


def test_random_op_outputs_are_compared_by_shape_only(tmp_path: Path) -> None:
    path = _save(
        model_proto(
            [
                node("RandomNormalLike", ["x"], ["noise"]),
                node("Identity", ["noise"], ["r"]),
                node("Relu", ["x"], ["a"]),
                node("Identity", ["a"], ["y"]),
            ],
            [vi("x", [2, 3])],
            [vi("r", [2, 3]), vi("y", [2, 3])],
        ),
        tmp_path / "random.onnx",
    )
    with optimize(path) as result:
        verification = result.report.verification
        assert verification.status == "passed"
        by_name = {o.name: o for o in verification.outputs}
        assert not by_name["r"].compared and by_name["r"].max_abs is None
        assert by_name["r"].shape_match and by_name["r"].dtype_match
        assert by_name["y"].compared and by_name["y"].max_abs == 0.0
        assert verification.rolled_back == []
        assert op_types(result.model) == ["RandomNormalLike", "Relu"]


# --------------------------------------------------------------------------- what is written


def test_external_data_stays_external(tmp_path: Path) -> None:
    weight = np.random.default_rng(0).standard_normal([64, 64]).astype(np.float32)
    proto = model_proto(
        [
            node("MatMul", ["x", "w"], ["a"]),
            node("Identity", ["a"], ["b"]),
            node("Relu", ["b"], ["y"]),
        ],
        [vi("x", ["N", 64])],
        [vi("y", ["N", 64])],
        [init("w", weight)],
    )
    source = tmp_path / "src"
    source.mkdir()
    onnx.save(proto, source / "big.onnx", save_as_external_data=True, location="big.weights")
    assert (source / "big.weights").stat().st_size == weight.nbytes
    hashes = {p.name: _sha256(p) for p in source.iterdir()}
    out = tmp_path / "out" / "big.opt.onnx"
    with optimize(source / "big.onnx", output=out) as result:
        report = result.report
        assert report.model.data_bytes == weight.nbytes
        assert report.verification.passed
        assert report.output is not None
        assert report.output.data_path == str(out.parent / "big.opt.onnx.data")
        assert report.output.data_bytes >= weight.nbytes
    assert {p.name: _sha256(p) for p in source.iterdir()} == hashes  # source untouched
    saved = onnx.load(out, load_external_data=False)
    (tensor,) = saved.graph.initializer
    assert external_data_helper.uses_external_data(tensor)
    assert {e.key: e.value for e in tensor.external_data}["location"] == "big.opt.onnx.data"
    assert [n.op_type for n in saved.graph.node] == ["MatMul", "Relu"]
    feeds = {"x": np.ones([2, 64], np.float32)}
    expected = run(onnx.load(source / "big.onnx"), feeds)["y"]
    np.testing.assert_array_equal(run(onnx.load(out), feeds)["y"], expected)


def test_output_names_order_and_dtypes_are_preserved(tmp_path: Path) -> None:
    """Outputs ``[a, b, k, x2]``: ``b = Identity(a)``, ``k`` a graph input passed through,
    ``x2 = Identity(Identity(k))``."""
    path = _save(
        model_proto(
            [
                node("Neg", ["x"], ["a"]),
                node("Identity", ["a"], ["b"]),
                node("Identity", ["k"], ["k1"]),
                node("Identity", ["k1"], ["x2"]),
                node("Not", ["flag"], ["nf"]),
                node("Identity", ["nf"], ["f"]),
            ],
            [vi("x", [2, 3]), vi("k", [4], INT64), vi("flag", [3], BOOL)],
            [
                vi("a", [2, 3]),
                vi("b", [2, 3]),
                vi("k", [4], INT64),
                vi("x2", [4], INT64),
                vi("f", [3], BOOL),
            ],
        ),
        tmp_path / "outputs.onnx",
    )
    out = tmp_path / "outputs.opt.onnx"
    with optimize(path, output=out) as result:
        assert result.report.verification.passed
        specs = [(o.name, o.dtype) for o in result.report.model.outputs]
    assert specs == [
        ("a", "FLOAT"),
        ("b", "FLOAT"),
        ("k", "INT64"),
        ("x2", "INT64"),
        ("f", "BOOL"),
    ]
    saved = onnx.load(out)
    assert [o.name for o in saved.graph.output] == ["a", "b", "k", "x2", "f"]
    assert [o.type.tensor_type.elem_type for o in saved.graph.output] == [
        FLOAT,
        FLOAT,
        INT64,
        INT64,
        BOOL,
    ]
    assert [i.name for i in saved.graph.input] == ["x", "k", "flag"]
    feeds = {
        "x": np.arange(6, dtype=np.float32).reshape(2, 3),
        "k": np.arange(4, dtype=np.int64),
        "flag": np.array([True, False, True]),
    }
    expected, actual = run(onnx.load(path), feeds), run(saved, feeds)
    assert list(actual) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value, strict=True)


def test_the_original_file_is_never_modified(
    faulty_passes: None, relu_model: Path, tmp_path: Path
) -> None:
    before = _sha256(relu_model)
    stamp = relu_model.stat().st_mtime_ns
    options = OptimizeOptions(pipeline=["shape_inference", "noop_elimination", SIGMOID, RAISES])
    with optimize(relu_model, options, output=tmp_path / "o.onnx") as result:
        assert result.report.model.sha256 == before
        assert {r.name for r in result.report.verification.rolled_back} == {SIGMOID, RAISES}
    with optimize(relu_model) as result:
        assert result.output is None
    assert _sha256(relu_model) == before
    assert relu_model.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.onnx", "relu.onnx"]


def test_optimizing_in_place_over_the_source_path_keeps_it_loadable(
    relu_model: Path, tmp_path: Path
) -> None:
    """Writing the output over the input file replaces it only with the verified model."""
    original = onnx.load(relu_model)
    with optimize(relu_model, output=relu_model) as result:
        assert result.report.verification.passed
    assert [n.op_type for n in onnx.load(relu_model).graph.node] == ["Relu"]
    feeds = _feeds()
    np.testing.assert_array_equal(run(onnx.load(relu_model), feeds)["y"], run(original, feeds)["y"])


# --------------------------------------------------------------------------- caller errors


def test_caller_errors_are_typed(relu_model: Path) -> None:
    with pytest.raises(GraphoptError) as info:
        optimize(relu_model, OptimizeOptions(pipeline=["noop_elimination", "nope"]))
    assert info.value.code == ErrorCode.UNKNOWN_PASS
    with pytest.raises(GraphoptError) as info:
        optimize(relu_model, OptimizeOptions(pipeline="fastest"))
    assert info.value.code == ErrorCode.UNKNOWN_PIPELINE
    options = OptimizeOptions(pass_options={"constant_folding": {"input_size_limit": -5}})
    with pytest.raises(GraphoptError) as info:
        optimize(relu_model, options)
    assert info.value.code == ErrorCode.INVALID_PASS_OPTIONS
    with pytest.raises(GraphoptError) as info:
        optimize(relu_model, OptimizeOptions(pass_options={"nope": {}}))
    assert info.value.code == ErrorCode.UNKNOWN_PASS
