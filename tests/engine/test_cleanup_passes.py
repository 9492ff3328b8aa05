"""Clean-up passes other than no-op elimination: DCE, CSE, folding, lifting, deduplication.

Each case is checked structurally (which nodes, initializers and names remain, the record's
counts) and numerically (original and transformed run in onnxruntime on the same inputs,
outputs compared exactly).
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
from graphs import (
    BOOL,
    FLOAT,
    INT64,
    apply,
    apply_one,
    assert_equivalent,
    check,
    const,
    counts,
    function,
    graph,
    init,
    input_names,
    make_model,
    node,
    op_types,
    output_names,
    run,
    vi,
)
from onnx import helper, numpy_helper

from graphopt.engine.passes.pipeline import step


def _if_feeds(x_shape: list[int]) -> list[dict[str, np.ndarray]]:
    x = np.arange(np.prod(x_shape), dtype=np.float32).reshape(x_shape) - 2
    return [{"x": x, "cond": np.array(c)} for c in (True, False)]


# --------------------------------------------------------------------------- dead code


DCE = "dead_code_elimination"


def test_dce_removes_a_dead_chain_in_one_sweep() -> None:
    model = make_model(
        [
            node("Relu", ["x"], ["y"]),
            node("Neg", ["x"], ["d1"]),
            node("Abs", ["d1"], ["d2"]),
            node("Exp", ["d2"], ["d3"]),
        ],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )
    result, record = apply_one(model, DCE)
    assert op_types(result) == ["Relu"]
    assert counts(record) == {"dead nodes removed": 3}
    assert (record.nodes_removed, record.nodes_added, record.node_delta) == (3, 0, -3)
    assert_equivalent(model, result)
    _, again = apply_one(result, DCE)
    assert not again.changed


def test_dce_keeps_inputs_outputs_and_nodes_producing_outputs() -> None:
    """Unused graph inputs stay (the interface is the caller's); an output nobody reads stays."""
    model = make_model(
        [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["b"])],
        [vi("x", [2, 3]), vi("unused", [4], INT64)],
        [vi("a", [2, 3]), vi("b", [2, 3])],
    )
    result, record = apply_one(model, DCE)
    assert op_types(result) == ["Relu", "Neg"]
    assert input_names(result) == ["x", "unused"]
    assert output_names(result) == ["a", "b"]
    assert not record.changed
    check(result)


def test_dce_removes_unused_initializers_but_not_overridable_ones() -> None:
    """An initializer that is also a graph input can be fed by the caller: it stays."""
    model = make_model(
        [node("Add", ["x", "w"], ["y"])],
        [vi("x", [3]), vi("overridable", [3])],
        [vi("y", [3])],
        [
            init("w", np.ones(3, np.float32)),
            init("unused", np.arange(5, dtype=np.float32)),
            init("overridable", np.zeros(3, np.float32)),
        ],
    )
    result, record = apply_one(model, DCE)
    assert sorted(result.graph.initializers) == ["overridable", "w"]
    assert input_names(result) == ["x", "overridable"]
    assert counts(record) == {"unused initializers removed": 1}
    assert record.params_delta == -5
    assert record.bytes_delta == -20
    assert record.changed
    assert_equivalent(model, result)


def test_dce_keeps_outer_values_read_inside_a_subgraph() -> None:
    """``a`` is read only inside the If's then-branch: its producer must stay."""
    then_branch = graph(
        [node("Neg", ["a"], ["t"]), node("Abs", ["a"], ["dead_inner"])], [], [vi("t", [2])]
    )
    else_branch = graph([node("Identity", ["x"], ["e"])], [], [vi("e", [2])])
    model = make_model(
        [
            node("Relu", ["x"], ["a"]),
            node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
        ],
        [vi("x", [2]), vi("cond", [], BOOL)],
        [vi("y", [2])],
    )
    result, record = apply_one(model, DCE)
    assert op_types(result) == ["Relu", "If"]
    assert op_types(result.graph.node(1).attributes["then_branch"].as_graph()) == ["Neg"]
    assert counts(record) == {"dead nodes removed": 1}
    assert_equivalent(model, result, _if_feeds([2]))
    check(result)


def test_dce_removes_outer_chain_whose_only_reader_is_dead_inside_a_subgraph() -> None:
    """Inner bodies go first, so a dead inner reader frees its outer producer in one sweep."""
    then_branch = graph(
        [node("Neg", ["x"], ["t"]), node("Abs", ["a"], ["dead_inner"])], [], [vi("t", [2])]
    )
    else_branch = graph([node("Identity", ["x"], ["e"])], [], [vi("e", [2])])
    model = make_model(
        [
            node("Relu", ["x"], ["a"]),
            node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
        ],
        [vi("x", [2]), vi("cond", [], BOOL)],
        [vi("y", [2])],
    )
    result, record = apply_one(model, DCE)
    assert op_types(result) == ["If"]
    assert counts(record) == {"dead nodes removed": 2}
    assert_equivalent(model, result, _if_feeds([2]))
    check(result)


def test_dce_drops_values_read_only_by_a_folded_away_branch() -> None:
    """Folding ``If(true)`` inlines the then-branch; the else-branch's outer reads go stale."""
    then_branch = graph([node("Neg", ["x"], ["t"])], [], [vi("t", [2])])
    else_branch = graph([node("Abs", ["a"], ["e"])], [], [vi("e", [2])])
    model = make_model(
        [
            node("Relu", ["x"], ["a"]),
            node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
        ],
        [vi("x", [2])],
        [vi("y", [2])],
        [init("cond", np.array(True))],
    )
    result, run_ = apply(model, "constant_folding", DCE)
    folding, dce = run_.records
    assert folding.changed
    assert "If" not in op_types(result)
    assert "Relu" not in op_types(result)
    assert counts(dce)["dead nodes removed"] >= 1
    assert_equivalent(model, result)
    check(result)


def test_dce_removes_uncalled_functions_and_unused_opset_imports() -> None:
    used = function("used", ["X"], ["Y"], [node("Neg", ["X"], ["Y"])], domain="local")
    unused = function("unused", ["X"], ["Y"], [node("Abs", ["X"], ["Y"])], domain="other")
    model = make_model(
        [node("used", ["x"], ["y"], domain="local")],
        [vi("x", [2])],
        [vi("y", [2])],
        functions=[used, unused],
        extra_opsets={"local": 1, "other": 1, "com.microsoft": 1},
    )
    result, record = apply_one(model, DCE)
    assert list(result.functions) == [("local", "used", "")]
    assert set(result.opset_imports) == {"", "local"}
    assert counts(record) == {"unused functions removed": 1, "unused opset imports removed": 2}
    assert_equivalent(model, result)


def test_dce_removes_functions_called_only_by_removed_functions() -> None:
    inner = function("g", ["X"], ["Y"], [node("Neg", ["X"], ["Y"])], domain="inner")
    outer = function("f", ["X"], ["Y"], [node("g", ["X"], ["Y"], domain="inner")], domain="outer")
    outer.opset_import.append(helper.make_opsetid("inner", 1))
    model = make_model(
        [node("Relu", ["x"], ["y"])],
        [vi("x", [2])],
        [vi("y", [2])],
        functions=[outer, inner],
        extra_opsets={"outer": 1, "inner": 1},
    )
    result, record = apply_one(model, DCE)
    assert list(result.functions) == []
    assert set(result.opset_imports) == {""}
    assert counts(record) == {"unused functions removed": 2, "unused opset imports removed": 2}
    assert_equivalent(model, result)


def test_dce_cleans_function_bodies() -> None:
    fn = function(
        "f",
        ["X"],
        ["Y"],
        [node("Neg", ["X"], ["Y"]), node("Abs", ["X"], ["D1"]), node("Exp", ["D1"], ["D2"])],
    )
    model = make_model(
        [node("f", ["x"], ["y"], domain="local")],
        [vi("x", [2])],
        [vi("y", [2])],
        functions=[fn],
        extra_opsets={"local": 1},
    )
    result, record = apply_one(model, DCE)
    assert op_types(result.functions[("local", "f", "")]) == ["Neg"]
    assert counts(record) == {"dead nodes removed": 2}
    assert_equivalent(model, result)


# --------------------------------------------------------------------------- CSE


CSE = "common_subexpression_elimination"


def test_cse_merges_duplicates_and_chains_in_one_sweep() -> None:
    model = make_model(
        [
            node("Relu", ["x"], ["a1"]),
            node("Relu", ["x"], ["a2"]),
            node("Neg", ["a1"], ["b1"]),
            node("Neg", ["a2"], ["b2"]),
            node("Add", ["b1", "b2"], ["y"]),
        ],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )
    result, record = apply_one(model, CSE)
    assert op_types(result) == ["Relu", "Neg", "Add"]
    add = result.graph.node(2)
    assert add.inputs[0] is add.inputs[1]
    assert counts(record) == {"duplicate Relu merged": 1, "duplicate Neg merged": 1}
    assert_equivalent(model, result)


def test_cse_compares_attributes_and_input_order() -> None:
    model = make_model(
        [
            node("LeakyRelu", ["x"], ["a"], alpha=0.1),
            node("LeakyRelu", ["x"], ["b"], alpha=0.2),
            node("LeakyRelu", ["x"], ["c"], alpha=0.1),
            node("Sub", ["a", "b"], ["d"]),
            node("Sub", ["b", "a"], ["e"]),
            node("Concat", ["c", "d", "e"], ["y"], axis=0),
        ],
        [vi("x", [2, 3])],
        [vi("y", [6, 3])],
    )
    result, record = apply_one(model, CSE)
    assert op_types(result) == ["LeakyRelu", "LeakyRelu", "Sub", "Sub", "Concat"]
    assert counts(record) == {"duplicate LeakyRelu merged": 1}
    assert_equivalent(model, result)


def test_cse_compares_tensor_attributes_by_value_up_to_the_cap() -> None:
    model = make_model(
        [
            const("c1", np.arange(6, dtype=np.float32)),
            const("c2", np.arange(6, dtype=np.float32)),
            const("c3", np.arange(6, dtype=np.int64)),  # same numbers, other dtype
            node("Cast", ["c3"], ["c3f"], to=FLOAT),
            node("Add", ["c1", "c2"], ["s"]),
            node("Add", ["s", "c3f"], ["t"]),
            node("Add", ["t", "x"], ["y"]),
        ],
        [vi("x", [6])],
        [vi("y", [6])],
    )
    result, record = apply_one(model, CSE)
    assert op_types(result).count("Constant") == 2
    assert counts(record) == {"duplicate Constant merged": 1}
    assert_equivalent(model, result)
    capped, record = apply_one(model, CSE, max_tensor_elements=5)
    assert op_types(capped).count("Constant") == 3
    assert not record.changed


def test_cse_never_merges_random_ops() -> None:
    model = make_model(
        [
            node("RandomNormal", [], ["r1"], shape=[2, 3], seed=1.0),
            node("RandomNormal", [], ["r2"], shape=[2, 3], seed=1.0),
            node("RandomUniformLike", ["x"], ["u1"]),
            node("RandomUniformLike", ["x"], ["u2"]),
            node("Sub", ["r1", "r2"], ["a"]),
            node("Sub", ["u1", "u2"], ["b"]),
            node("Add", ["a", "b"], ["y"]),
        ],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )
    result, record = apply_one(model, CSE)
    assert op_types(result) == op_types(model)
    assert not record.changed


def test_cse_leaves_nodes_with_subgraphs_alone() -> None:
    def branch(op: str) -> object:
        return graph([node(op, ["x"], [f"{op}_out"])], [], [vi(f"{op}_out", [2])])

    model = make_model(
        [
            node("If", ["cond"], ["a"], then_branch=branch("Neg"), else_branch=branch("Abs")),
            node("If", ["cond"], ["b"], then_branch=branch("Neg"), else_branch=branch("Abs")),
            node("Add", ["a", "b"], ["y"]),
        ],
        [vi("x", [2]), vi("cond", [], BOOL)],
        [vi("y", [2])],
    )
    result, record = apply_one(model, CSE)
    assert op_types(result) == ["If", "If", "Add"]
    assert not record.changed


def test_cse_keeps_both_graph_outputs() -> None:
    """``outputs=[a, b]`` with ``a``, ``b`` both ``Relu(x)``: both names must survive."""
    model = make_model(
        [node("Relu", ["x"], ["a"]), node("Relu", ["x"], ["b"])],
        [vi("x", [2, 3])],
        [vi("a", [2, 3]), vi("b", [2, 3])],
    )
    result, record = apply_one(model, CSE)
    assert output_names(result) == ["a", "b"]
    assert op_types(result) == ["Relu", "Relu"]
    assert not record.changed
    assert_equivalent(model, result)


def test_cse_forwards_a_graph_output_name_to_the_kept_node() -> None:
    model = make_model(
        [node("Relu", ["x"], ["a"]), node("Relu", ["x"], ["y"]), node("Neg", ["a"], ["z"])],
        [vi("x", [2, 3])],
        [vi("y", [2, 3]), vi("z", [2, 3])],
    )
    result, record = apply_one(model, CSE)
    assert op_types(result) == ["Relu", "Neg"]
    assert output_names(result) == ["y", "z"]
    assert counts(record) == {"duplicate Relu merged": 1}
    assert_equivalent(model, result)
    check(result)


def test_cse_inside_if_branches_and_functions() -> None:
    then_branch = graph(
        [
            node("Neg", ["x"], ["t1"]),
            node("Neg", ["x"], ["t2"]),
            node("Add", ["t1", "t2"], ["t"]),
        ],
        [],
        [vi("t", [2])],
    )
    else_branch = graph([node("Abs", ["x"], ["e"])], [], [vi("e", [2])])
    fn = function(
        "f",
        ["X"],
        ["Y"],
        [node("Exp", ["X"], ["A"]), node("Exp", ["X"], ["B"]), node("Mul", ["A", "B"], ["Y"])],
    )
    model = make_model(
        [
            node("If", ["cond"], ["a"], then_branch=then_branch, else_branch=else_branch),
            node("f", ["a"], ["y"], domain="local"),
        ],
        [vi("x", [2]), vi("cond", [], BOOL)],
        [vi("y", [2])],
        functions=[fn],
        extra_opsets={"local": 1},
    )
    result, record = apply_one(model, CSE)
    assert op_types(result.graph.node(0).attributes["then_branch"].as_graph()) == ["Neg", "Add"]
    assert op_types(result.functions[("local", "f", "")]) == ["Exp", "Mul"]
    assert counts(record) == {"duplicate Neg merged": 1, "duplicate Exp merged": 1}
    assert_equivalent(model, result, _if_feeds([2]))


# --------------------------------------------------------------------------- constant folding


FOLD = "constant_folding"


def test_folding_replaces_constant_subexpressions() -> None:
    model = make_model(
        [
            node("Add", ["c1", "c2"], ["s"]),
            node("Mul", ["s", "c2"], ["m"]),
            node("Add", ["x", "m"], ["y"]),
        ],
        [vi("x", [3])],
        [vi("y", [3])],
        [init("c1", np.array([1, 2, 3], np.float32)), init("c2", np.array([2, 2, 2], np.float32))],
    )
    result, record = apply_one(model, FOLD)
    assert op_types(result) == ["Add"]
    assert record.changed
    assert record.nodes_removed == 2
    out = assert_equivalent(model, result, {"x": np.zeros(3, np.float32)})
    np.testing.assert_array_equal(out["y"], np.array([6, 8, 10], np.float32))
    check(result)


def test_folded_transposes_are_stored_contiguous_and_deduplicate() -> None:
    """The folder returns ``np.transpose`` views; hashing them (deduplication) needs bytes."""
    weight = np.arange(12, dtype=np.float32).reshape(3, 4)
    model = make_model(
        [
            node("Transpose", ["w"], ["wt"], perm=[1, 0]),
            node("MatMul", ["x", "wt"], ["a"]),
            node("MatMul", ["x", "w2t"], ["b"]),
            node("Add", ["a", "b"], ["y"]),
        ],
        [vi("x", [2, 4])],
        [vi("y", [2, 3])],
        [init("w", weight), init("w2t", weight.T.copy())],
    )
    result, run_ = apply(model, FOLD, "initializer_deduplication")
    folded = [v.const_value for v in result.graph.initializers.values()]
    assert all(t.numpy().flags.c_contiguous for t in folded)
    assert counts(run_.records[1]) == {"duplicate initializers merged": 1}
    assert_equivalent(model, result, {"x": np.ones((2, 4), np.float32)})


def test_folding_removes_shape_arithmetic_of_static_shapes() -> None:
    """``Reshape(x, Concat(Gather(Shape(x), 0), [-1]))``, x: [2, 3, 4] -> Reshape(x, [2, -1])."""
    model = make_model(
        [
            node("Shape", ["x"], ["s"]),
            node("Gather", ["s", "zero"], ["n"], axis=0),
            node("Unsqueeze", ["n", "zero_axes"], ["n1"]),
            node("Concat", ["n1", "minus_one"], ["target"], axis=0),
            node("Reshape", ["x", "target"], ["y"]),
        ],
        [vi("x", [2, 3, 4])],
        [vi("y", None)],
        [
            init("zero", np.array(0, np.int64)),
            init("zero_axes", np.array([0], np.int64)),
            init("minus_one", np.array([-1], np.int64)),
        ],
    )
    result, _ = apply_one(model, FOLD)
    assert op_types(result) == ["Constant", "Reshape"]  # the folded target shape
    target = ir.convenience.get_const_tensor(result.graph.node(1).inputs[1])
    assert target is not None
    np.testing.assert_array_equal(target.numpy(), [2, -1])
    assert run(result, {"x": np.zeros([2, 3, 4], np.float32)})["y"].shape == (2, 12)
    assert_equivalent(model, result)


def test_folding_leaves_overridable_initializers_and_random_ops() -> None:
    model = make_model(
        [
            node("Neg", ["w"], ["a"]),
            node("RandomNormal", [], ["r"], shape=[3]),
            node("Mul", ["r", "zero"], ["r0"]),
            node("Add", ["a", "r0"], ["b"]),
            node("Add", ["x", "b"], ["y"]),
        ],
        [vi("x", [3]), vi("w", [3])],
        [vi("y", [3])],
        [init("w", np.ones(3, np.float32)), init("zero", np.zeros(3, np.float32))],
    )
    result, _ = apply_one(model, FOLD)
    assert op_types(result) == op_types(model)
    feeds = {"x": np.zeros(3, np.float32), "w": np.full(3, 4.0, np.float32)}
    np.testing.assert_array_equal(run(result, feeds)["y"], np.full(3, -4.0, np.float32))


def _constant_of_shape_model() -> ir.Model:
    fill = numpy_helper.from_array(np.array([0.5], np.float32), "fill")
    return make_model(
        [
            helper.make_node("ConstantOfShape", ["shape"], ["c"], value=fill, name="cos"),
            node("Add", ["x", "c"], ["y"]),
        ],
        [vi("x", [64, 64])],
        [vi("y", [64, 64])],
        [init("shape", np.array([64, 64], np.int64))],
    )


def test_folding_keeps_constant_of_shape_unless_asked() -> None:
    model = _constant_of_shape_model()
    kept, record = apply_one(model, FOLD)
    assert op_types(kept) == ["ConstantOfShape", "Add"]
    assert not record.changed
    folded, record = apply_one(model, FOLD, fold_constant_of_shape=True)
    assert op_types(folded) == ["Add"]
    # 4096 elements came; the 2-element shape and the 1-element fill attribute went
    assert record.params_delta == 64 * 64 - 2 - 1
    assert record.bytes_delta == 64 * 64 * 4 - 16 - 4
    assert_equivalent(model, folded)


def test_folding_always_folds_small_constant_of_shape_fills() -> None:
    """A 2-element padding vector is shape arithmetic: folded, so Pad's output gets a shape."""
    model = make_model(
        [
            node(
                "ConstantOfShape",
                ["two"],
                ["zeros"],
                value=helper.make_tensor("v", INT64, [1], [0]),
            ),
            node("Concat", ["front", "zeros"], ["pads"], axis=0),
            node("Pad", ["x", "pads"], ["y"]),
        ],
        [vi("x", [1, 8])],
        [vi("y", None)],
        [init("two", np.array([2], np.int64)), init("front", np.array([0, 3], np.int64))],
    )
    folded, record = apply_one(model, FOLD)
    assert op_types(folded) == ["Pad"]
    assert record.changed
    kept, _ = apply_one(model, FOLD, small_constant_of_shape=0)
    assert op_types(kept) == ["ConstantOfShape", "Concat", "Pad"]
    assert_equivalent(model, folded, {"x": np.ones((1, 8), np.float32)})


def test_folding_respects_the_output_size_limit() -> None:
    """``Tile`` of a 2-element constant into 4096 elements grows the file: not stored."""
    model = make_model(
        [node("Tile", ["c", "repeats"], ["t"]), node("Add", ["x", "t"], ["y"])],
        [vi("x", [4096])],
        [vi("y", [4096])],
        [init("c", np.array([1, 2], np.float32)), init("repeats", np.array([2048], np.int64))],
    )
    capped, record = apply_one(model, FOLD, output_size_limit=1000)
    assert op_types(capped) == ["Tile", "Add"]
    assert not record.changed
    folded, record = apply_one(model, FOLD, output_size_limit=10_000)
    assert op_types(folded) == ["Add"]
    assert_equivalent(model, folded)


def test_folding_reaches_if_branches_and_functions() -> None:
    then_branch = graph(
        [node("Add", ["c", "c"], ["cc"]), node("Mul", ["x", "cc"], ["t"])], [], [vi("t", [2])]
    )
    else_branch = graph([node("Abs", ["x"], ["e"])], [], [vi("e", [2])])
    fn = function(
        "f",
        ["X"],
        ["Y"],
        [
            const("K", np.array([3, 3], np.float32)),
            node("Neg", ["K"], ["NK"]),
            node("Add", ["X", "NK"], ["Y"]),
        ],
    )
    model = make_model(
        [
            node("If", ["cond"], ["a"], then_branch=then_branch, else_branch=else_branch),
            node("f", ["a"], ["y"], domain="local"),
        ],
        [vi("x", [2]), vi("cond", [], BOOL)],
        [vi("y", [2])],
        [init("c", np.array([1, 2], np.float32))],
        functions=[fn],
        extra_opsets={"local": 1},
    )
    result, record = apply_one(model, FOLD)
    assert record.changed
    assert "Add" not in op_types(result.graph.node(0).attributes["then_branch"].as_graph())
    assert "Neg" not in op_types(result.functions[("local", "f", "")])
    assert_equivalent(model, result, _if_feeds([2]))


# --------------------------------------------------------------------------- constant lifting


LIFT = "constant_lifting"


def test_lifting_turns_constants_into_initializers() -> None:
    model = make_model(
        [
            const("k", np.arange(6, dtype=np.float32).reshape(2, 3)),
            helper.make_node("Constant", [], ["one"], value_float=1.0, name="one"),
            helper.make_node("Constant", [], ["ids"], value_ints=[0, 1], name="ids"),
            node("Add", ["x", "k"], ["a"]),
            node("Add", ["a", "one"], ["b"]),
            node("Gather", ["b", "ids"], ["y"], axis=0),
        ],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )
    result, record = apply_one(model, LIFT)
    assert op_types(result) == ["Add", "Add", "Gather"]
    assert sorted(result.graph.initializers) == ["ids", "k", "one"]
    assert result.graph.initializers["ids"].dtype == ir.DataType.INT64
    assert counts(record) == {"constants lifted to initializers": 3}
    assert_equivalent(model, result)
    check(result)


def test_lifting_reaches_subgraphs_and_leaves_functions_and_outputs() -> None:
    then_branch = graph(
        [const("k", np.array([5, 6], np.float32)), node("Add", ["x", "k"], ["t"])],
        [],
        [vi("t", [2])],
    )
    else_branch = graph([const("e", np.array([7, 8], np.float32))], [], [vi("e", [2])])
    fn = function(
        "f",
        ["X"],
        ["Y"],
        [const("K", np.array([1, 1], np.float32)), node("Add", ["X", "K"], ["Y"])],
    )
    model = make_model(
        [
            node("If", ["cond"], ["a"], then_branch=then_branch, else_branch=else_branch),
            node("f", ["a"], ["y"], domain="local"),
            const("z", np.array([9.0], np.float32)),
        ],
        [vi("x", [2]), vi("cond", [], BOOL)],
        [vi("y", [2]), vi("z", [1])],
        functions=[fn],
        extra_opsets={"local": 1},
    )
    result, record = apply_one(model, LIFT)
    if_node = result.graph.node(0)
    then_g = if_node.attributes["then_branch"].as_graph()
    else_g = if_node.attributes["else_branch"].as_graph()
    assert op_types(then_g) == ["Add"] and list(then_g.initializers) == ["k"]
    assert op_types(else_g) == ["Constant"]  # a branch output: kept
    assert op_types(result.functions[("local", "f", "")]) == ["Constant", "Add"]
    assert op_types(result) == ["If", "f", "Constant"]  # z is a graph output
    assert counts(record) == {"constants lifted to initializers": 1}
    assert (record.params_delta, record.bytes_delta) == (0, 0)  # moved, not added
    assert_equivalent(model, result, _if_feeds([2]))
    check(result)


# --------------------------------------------------------------------------- deduplication


DEDUP = "initializer_deduplication"


def test_deduplication_shares_identical_initializers() -> None:
    weights = np.arange(12, dtype=np.float32).reshape(3, 4)
    model = make_model(
        [
            node("MatMul", ["x", "w1"], ["a"]),
            node("MatMul", ["x", "w2"], ["b"]),
            node("Add", ["a", "b"], ["c"]),
            node("Add", ["c", "w3"], ["d"]),  # same bytes, other shape
            node("Cast", ["i"], ["fi"], to=FLOAT),  # same bytes, other dtype
            node("Add", ["d", "fi"], ["y"]),
        ],
        [vi("x", [2, 3])],
        [vi("y", [3, 2, 4])],
        [
            init("w1", weights),
            init("w2", weights.copy()),
            init("w3", weights.reshape(3, 1, 4)),
            init("i", weights.view(np.int32).reshape(3, 1, 4)),
        ],
    )
    result, record = apply_one(model, DEDUP)
    assert sorted(result.graph.initializers) == ["i", "w1", "w3"]
    assert result.graph.node(1).inputs[1] is result.graph.initializers["w1"]
    assert counts(record) == {"duplicate initializers merged": 1}
    assert record.params_delta == -12
    assert record.bytes_delta == -48
    assert_equivalent(model, result)
    check(result)


def test_deduplication_leaves_overridable_initializers_and_respects_the_cap() -> None:
    weights = np.arange(6, dtype=np.float32)
    model = make_model(
        [
            node("Add", ["w1", "w2"], ["a"]),
            node("Add", ["a", "w3"], ["b"]),
            node("Add", ["b", "x"], ["y"]),
        ],
        [vi("x", [6]), vi("w3", [6])],
        [vi("y", [6])],
        [init("w1", weights), init("w2", weights), init("w3", weights)],
    )
    capped, record = apply_one(model, DEDUP, max_elements=5)
    assert sorted(capped.graph.initializers) == ["w1", "w2", "w3"]
    assert not record.changed
    result, record = apply_one(model, DEDUP)
    assert sorted(result.graph.initializers) == ["w1", "w3"]
    assert input_names(result) == ["x", "w3"]
    feeds = {"x": np.zeros(6, np.float32), "w3": np.full(6, 100.0, np.float32)}
    assert_equivalent(model, result, [feeds, {"x": feeds["x"]}])


def test_cleanup_passes_compose_in_the_lossless_pipeline() -> None:
    """Duplicate constants lifted and merged, the dead copy removed, values unchanged."""
    model = make_model(
        [
            const("k1", np.array([1, 2], np.float32)),
            const("k2", np.array([1, 2], np.float32)),
            node("Add", ["x", "k1"], ["a"]),
            node("Add", ["x", "k2"], ["b"]),
            node("Mul", ["a", "b"], ["y"]),
        ],
        [vi("x", [2])],
        [vi("y", [2])],
    )
    result, _ = apply(model, step(CSE), step(LIFT), step(DCE), step(DEDUP))
    assert op_types(result) == ["Add", "Mul"]
    assert len(result.graph.initializers) == 1
    assert_equivalent(model, result)


def _ir3_model(ir_version: int) -> ir.Model:
    """y = x + (w * 2): ``w`` and ``two`` are initializers also listed as graph inputs."""
    nodes = [node("Mul", ["w", "two"], ["w2"]), node("Add", ["x", "w2"], ["y"])]
    weights = [init("w", np.arange(4, dtype=np.float32)), init("two", np.float32(2.0))]
    inputs = [vi("x", [4]), vi("w", [4]), vi("two", [])]
    model = make_model(nodes, inputs, [vi("y", [4])], weights, opset=9)
    model.ir_version = ir_version
    return model


def test_initializer_inputs_of_ir3_models_become_constants() -> None:
    model = _ir3_model(3)
    candidate, record = apply_one(model, "initializer_inputs")
    assert input_names(candidate) == ["x"]
    assert candidate.ir_version == 4
    assert sorted(candidate.graph.initializers) == ["two", "w"]
    assert counts(record) == {"initializers no longer graph inputs": 2}
    assert_equivalent(model, candidate)
    # now constant folding can use them: the Mul is folded away
    folded, _ = apply_one(candidate, "constant_folding")
    assert op_types(folded) == ["Add"]


def test_initializer_inputs_leaves_overridable_initializers_of_ir4_models() -> None:
    model = _ir3_model(8)
    candidate, record = apply_one(model, "initializer_inputs")
    assert input_names(candidate) == ["x", "w", "two"]
    assert candidate.ir_version == 8 and not record.changed
