"""Graph pruning: keep the named outputs, drop what only the others needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_ir as ir
import pytest
from graphs import apply_one, assert_human_error, check, init, make_model, node, run, vi

from graphopt.engine import OptimizeOptions, optimize
from graphopt.engine.errors import GraphoptError


def two_heads() -> ir.Model:
    """y1 = Relu(x @ w1); y2 = Sigmoid(x2 * w2) + Relu(x @ w1): x2 and w2 feed only y2."""
    nodes = [
        node("MatMul", ["x", "w1"], ["h"]),
        node("Relu", ["h"], ["y1"]),
        node("Mul", ["x2", "w2"], ["m"]),
        node("Sigmoid", ["m"], ["s"]),
        node("Add", ["s", "y1"], ["y2"]),
    ]
    inits = [init("w1", np.ones((4, 4), np.float32)), init("w2", np.full(4, 2, np.float32))]
    return make_model(
        nodes,
        [vi("x", [2, 4]), vi("x2", [2, 4])],
        [vi("y1", [2, 4]), vi("y2", [2, 4])],
        inits,
    )


def test_dropped_outputs_take_their_inputs_nodes_and_initializers_along() -> None:
    model = two_heads()
    pruned, record = apply_one(model, "keep_outputs", outputs=["y1"])
    check(pruned)
    assert [v.name for v in pruned.graph.outputs] == ["y1"]
    assert [v.name for v in pruned.graph.inputs] == ["x"]
    assert list(pruned.graph.initializers) == ["w1"]
    assert [n.op_type for n in pruned.graph] == ["MatMul", "Relu"]
    assert "outputs removed: 1" in record.notes and "graph inputs removed: 1" in record.notes
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    both = run(model, {"x": x, "x2": x})
    np.testing.assert_array_equal(run(pruned, {"x": x})["y1"], both["y1"])


def test_keeping_every_output_changes_nothing() -> None:
    pruned, record = apply_one(two_heads(), "keep_outputs", outputs=["y2", "y1"])
    assert not record.changed
    assert [v.name for v in pruned.graph.outputs] == ["y1", "y2"]
    assert len(list(pruned.graph)) == 5


def test_an_unknown_output_name_is_an_options_error(tmp_path: Path) -> None:
    source = tmp_path / "two.onnx"
    ir.save(two_heads(), source)
    with pytest.raises(GraphoptError) as caught:
        optimize(source, OptimizeOptions(keep_outputs=["y1", "nope"]))
    assert_human_error(caught.value, "invalid_pass_options")


def test_optimize_with_keep_outputs_verifies_and_reports(tmp_path: Path) -> None:
    source = tmp_path / "two.onnx"
    ir.save(two_heads(), source)
    options = OptimizeOptions(keep_outputs=["y1"])
    with optimize(source, options, output=tmp_path / "out.onnx") as result:
        report = result.report
        assert report.verification.status == "passed"
        assert [o.name for o in report.verification.outputs] == ["y1"]
        pruning = report.pruning
        assert pruning is not None
        assert pruning.kept_outputs == ["y1"] and pruning.removed_outputs == ["y2"]
        assert pruning.removed_inputs == ["x2"]
        assert pruning.params_after == 16 < pruning.params_before
    assert [v.name for v in ir.load(tmp_path / "out.onnx").graph.inputs] == ["x"]
