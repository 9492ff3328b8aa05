"""The model-level plan: control-flow bodies, the JSON plan, the picture, the report section."""

from __future__ import annotations

import json
from pathlib import Path

import onnx_ir as ir
from graphs import BOOL, graph, make_model, node, vi
from memory_graphs import assert_valid_plan, branchy_model

from graphopt.engine.errors import WarningCode
from graphopt.engine.memory.models import MemoryOptions, MemoryPlan, TensorPlan
from graphopt.engine.memory.planner import memory_section, plan_memory

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _valid(tensors: list[TensorPlan], arena: int) -> None:
    index = {t.name: i for i, t in enumerate(tensors)}
    pairs = [(index[t.in_place_of], i) for i, t in enumerate(tensors) if t.in_place_of]
    assert_valid_plan([(t.first, t.last, t.offset, t.size) for t in tensors], arena, pairs)


def if_model() -> ir.Model:
    """``a = Relu(x)``; an If whose then branch makes a 64-float tensor from ``a``."""
    then_branch = graph(
        [
            node("Concat", ["a", "a", "a", "a"], ["big"], axis=0),
            node("ReduceSum", ["big"], ["t"], keepdims=1),
        ],
        [],
        [vi("t", [1])],
        name="then",
        value_info=[vi("big", [64])],
    )
    else_branch = graph(
        [node("ReduceMax", ["a"], ["e"], keepdims=1)], [], [vi("e", [1])], name="else"
    )
    return make_model(
        [
            node("Relu", ["x"], ["a"]),
            node("ReduceSum", ["x"], ["s"], keepdims=0),
            node("Cast", ["s"], ["cond"], to=BOOL),
            node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
        ],
        [vi("x", [16])],
        [vi("y", [1])],
        value_info=[vi("a", [16]), vi("s", []), vi("cond", [], BOOL)],
    )


def test_if_bodies_are_planned_alone_and_reserved_at_the_owner() -> None:
    report, plan = plan_memory(if_model(), MemoryOptions(alignment=64))
    bodies = {b.attribute: b for b in plan.bodies}
    assert set(bodies) == {"then_branch", "else_branch"}
    assert bodies["then_branch"].arena_bytes == 256 + 64  # big, and t (aligned)
    assert bodies["else_branch"].arena_bytes == 64
    _valid(bodies["then_branch"].tensors, 320)
    spans = {t.name: t for t in plan.tensors}
    workspace = spans["If_y#workspace"]
    assert (workspace.kind, workspace.size, workspace.first, workspace.last) == (
        "workspace",
        320,
        3,
        3,
    )
    assert spans["a"].last == 3  # read inside the bodies: lives until the If
    assert report.lower_bound_bytes == 64 + 64 + 64 + 320  # a, cond, y, workspace
    assert report.lower_bound_bytes <= report.arena_bytes <= report.naive_bytes
    _valid(plan.tensors, report.arena_bytes)


def test_a_loop_body_with_a_nested_if_is_planned_recursively() -> None:
    inner_then = graph([node("Neg", ["v"], ["n"])], [], [vi("n", [32])], name="inner_then")
    inner_else = graph([node("Abs", ["v"], ["m"])], [], [vi("m", [32])], name="inner_else")
    body = graph(
        [
            node("Concat", ["acc", "acc"], ["v"], axis=0),
            node("If", ["c"], ["w"], then_branch=inner_then, else_branch=inner_else),
            node("Slice", ["w", "start", "end"], ["next"]),
            node("Identity", ["c"], ["c_out"]),
        ],
        [vi("i", [], 7), vi("c", [], BOOL), vi("acc", [16])],
        [vi("c_out", [], BOOL), vi("next", [16])],
        name="body",
        value_info=[vi("v", [32]), vi("w", [32])],
    )
    inputs = [vi("trips", [], 7), vi("cond", [], BOOL), vi("x", [16])]
    model = make_model(
        [node("Loop", ["trips", "cond", "x"], ["y"], body=body)],
        [*inputs, vi("start", [1], 7), vi("end", [1], 7)],
        [vi("y", [16])],
    )
    report, plan = plan_memory(model, MemoryOptions(alignment=64))
    (loop_body,) = plan.bodies
    assert loop_body.attribute == "body"
    assert {b.attribute for b in loop_body.bodies} == {"then_branch", "else_branch"}
    inner = {t.name: t for t in loop_body.tensors}
    assert inner["If_w#workspace"].size == 128  # the larger inner body's arena
    _valid(loop_body.tensors, loop_body.arena_bytes)
    workspace = next(t for t in plan.tensors if t.kind == "workspace")
    assert workspace.size == loop_body.arena_bytes
    assert report.unplanned == []


def test_memory_section_writes_the_plan_and_the_picture(tmp_path: Path) -> None:
    model = branchy_model()
    report, warnings = memory_section(model, MemoryOptions(), tmp_path)
    assert report is not None and warnings == []
    assert report.artifacts == {
        "memory_plan": str(tmp_path / "memory_plan.json"),
        "memory_timeline": str(tmp_path / "memory_timeline.png"),
    }
    document = json.loads((tmp_path / "memory_plan.json").read_text())
    for key in ("arena_bytes", "lower_bound_bytes", "naive_bytes", "alignment", "unplanned"):
        assert key in document
    assert set(document["schedule"]) >= {"peak_before", "peak_after", "method"}
    assert set(document["tensors"][0]) >= {"name", "offset", "size", "first", "last"}
    plan = MemoryPlan.model_validate(document)
    assert plan.order == [n.name for n in model.graph]
    assert plan.arena_bytes == report.arena_bytes and plan.alignment == 64
    _valid(plan.tensors, plan.arena_bytes)
    picture = (tmp_path / "memory_timeline.png").read_bytes()
    assert picture.startswith(PNG_MAGIC) and len(picture) > 10_000


def test_unsized_activations_become_a_warning_and_failures_never_raise(tmp_path: Path) -> None:
    model = make_model(
        [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])],
        [vi("x", ["batch", 4])],
        [vi("y", ["batch", 4])],
        value_info=[vi("a", ["batch", 4])],
    )
    report, warnings = memory_section(model, MemoryOptions(), None)
    assert report is not None and report.tensors_planned == 0
    assert [u.name for u in report.unplanned] == ["a", "y"]
    assert [w.code for w in warnings] == [WarningCode.MEMORY_UNPLANNED]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    report, warnings = memory_section(branchy_model(), MemoryOptions(), blocked)
    assert report is None
    assert [w.code for w in warnings] == [WarningCode.MEMORY_PLANNING_FAILED]


def silu_model() -> ir.Model:
    """``a = Conv-like(x)``; ``b = Relu(a)``; SiLU of ``b`` as ``Sigmoid`` + ``Mul``; then a
    ``Cast`` (another dtype), a broadcast ``Add`` and a ``Reshape``: 64-float tensors."""
    return make_model(
        [
            node("Op", ["x"], ["a"], domain="test"),
            node("Relu", ["a"], ["b"]),
            node("Sigmoid", ["b"], ["c"]),
            node("Mul", ["b", "c"], ["d"]),
            node("Cast", ["d"], ["e"], to=10),  # float16: half the size, never in place
            node("Cast", ["e"], ["f"], to=1),
            node("Add", ["bias", "f"], ["g"]),  # ``bias`` is a 1-float graph input
            node("Reshape", ["g", "shape"], ["y"]),
        ],
        [vi("x", [64]), vi("bias", [1]), vi("shape", [2], 7)],
        [vi("y", [8, 8])],
        value_info=[vi(v, [64]) for v in "abcdfg"] + [vi("e", [64], 10)],
        extra_opsets={"test": 1},
    )


def test_elementwise_and_reshaping_nodes_write_over_an_input_they_read_last() -> None:
    report, plan = plan_memory(silu_model(), MemoryOptions(alignment=64))
    shared = {t.name: t.in_place_of for t in plan.tensors}
    # c cannot take b (the Mul still reads it); d takes b, the first input the Mul reads
    # last; the Casts change the dtype; g takes f, not the 1-float graph input
    assert shared == {
        "a": None,
        "b": "a",
        "c": None,
        "d": "b",
        "e": None,
        "f": None,
        "g": "f",
        "y": "g",
    }
    assert report.in_place == 4
    assert report.arena_bytes == report.lower_bound_bytes == 2 * 256  # b+d, c at the Mul
    _valid(plan.tensors, plan.arena_bytes)
    offsets = {t.name: t.offset for t in plan.tensors}
    assert offsets["a"] == offsets["b"] == offsets["d"]

    without, _ = plan_memory(silu_model(), MemoryOptions(alignment=64, in_place=False))
    assert without.in_place == 0
    assert without.lower_bound_bytes == 3 * 256  # b, c and d at the Mul
    assert without.arena_bytes > report.arena_bytes


def test_in_place_sharing_is_dropped_when_it_saves_nothing() -> None:
    # a -> Relu -> b -> Op: with or without sharing, two 64-float tensors live at once
    model = make_model(
        [
            node("Op", ["x"], ["a"], domain="test"),
            node("Relu", ["a"], ["b"]),
            node("Op", ["b"], ["y"], domain="test"),
        ],
        [vi("x", [64])],
        [vi("y", [64])],
        value_info=[vi("a", [64]), vi("b", [64])],
        extra_opsets={"test": 1},
    )
    report, plan = plan_memory(model, MemoryOptions(alignment=64))
    assert report.arena_bytes == report.lower_bound_bytes == 2 * 256
    assert report.in_place == 0 and all(t.in_place_of is None for t in plan.tensors)
