"""The ``memory_schedule`` pass, ``optimize(memory=...)`` and ``graphopt optimize --memory``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import onnx_ir as ir
from graphs import apply_one, assert_equivalent, make_model, node, random_feeds, to_bytes, vi
from memory_graphs import branchy_model, is_valid_order, reference_peak

from graphopt.engine import optimize
from graphopt.engine.memory.models import MemoryOptions, MemoryPlan
from graphopt.engine.memory.scheduler import Schedule
from graphopt.engine.optimizer import resolve_pipeline
from graphopt.engine.options import OptimizeOptions
from graphopt.engine.passes.memory import memory_schedule


def test_the_pass_reorders_the_graph_and_keeps_its_outputs() -> None:
    model = branchy_model(branches=4)
    written = list(model.graph)
    scheduled, record = apply_one(model, "memory_schedule")
    order = list(scheduled.graph)
    assert record.changed
    assert is_valid_order(scheduled, order)
    before = reference_peak(model, written, alignment=64)
    after = reference_peak(scheduled, order, alignment=64)
    assert after < before
    assert [n.name for n in order] != [n.name for n in written]
    assert_equivalent(model, scheduled)


def test_an_order_with_a_higher_peak_once_computed_in_place_is_not_taken(monkeypatch) -> None:
    # written: a = Op(x); c = Op(a); b = Relu(a): the Relu reads ``a`` last and writes ``b``
    # over it. Running the Relu before ``c`` costs the sharing; make the search propose it.
    model = make_model(
        [
            node("Op", ["x"], ["a"], domain="test", name="a"),
            node("Op", ["a"], ["c"], domain="test", name="c"),
            node("Relu", ["a"], ["b"], name="b"),
        ],
        [vi("x", [64])],
        [vi("b", [64]), vi("c", [16])],
        value_info=[vi("a", [64])],
        extra_opsets={"test": 1},
    )

    def propose_relu_first(graph, tensors, workspaces, budget_s):  # type: ignore[no-untyped-def]
        a, c, b = graph
        return Schedule(
            [a, b, c], "exact", peak_before=1, peak_after=0, segments=1, exact_segments=1, ms=0.0
        )

    monkeypatch.setattr(memory_schedule, "schedule_body", propose_relu_first)
    scheduled, record = apply_one(model, "memory_schedule")
    assert not record.changed
    assert [n.name for n in scheduled.graph] == ["a", "c", "b"]
    assert any("kept the written order" in note for note in record.notes)


def test_the_pass_leaves_an_already_good_order_alone() -> None:
    model = branchy_model(branches=1)
    scheduled, record = apply_one(model, "memory_schedule")
    assert not record.changed
    assert [n.name for n in scheduled.graph] == [n.name for n in model.graph]


def test_optimize_schedules_verifies_and_writes_the_artifacts(tmp_path: Path) -> None:
    output = tmp_path / "out" / "model.onnx"
    options = OptimizeOptions(pipeline="lossless", memory=MemoryOptions(schedule=True))
    with optimize(to_bytes(branchy_model(branches=4)), options, output=output) as result:
        report = result.report
    assert report.verification.status == "passed"
    memory = report.memory
    assert memory is not None
    assert memory.schedule.method == "exact"
    assert memory.schedule.peak_after < memory.schedule.peak_before
    assert memory.lower_bound_bytes <= memory.arena_bytes <= memory.naive_bytes
    plan_path, png_path = output.parent / "memory_plan.json", output.parent / "memory_timeline.png"
    assert memory.artifacts == {"memory_plan": str(plan_path), "memory_timeline": str(png_path)}
    assert png_path.read_bytes().startswith(b"\x89PNG")
    plan = MemoryPlan.model_validate_json(plan_path.read_text())
    written = onnx.load(output)
    assert plan.order == [n.name for n in written.graph.node]  # steps = the written order
    assert plan.live_bytes_before is not None
    assert max(plan.live_bytes) == memory.schedule.peak_after
    feeds = random_feeds(branchy_model(branches=4))
    assert_equivalent(branchy_model(branches=4), ir.serde.deserialize_model(written), feeds)


def test_plan_mode_keeps_the_node_order() -> None:
    options = OptimizeOptions(pipeline="lossless", memory=MemoryOptions(schedule=False))
    assert "memory_schedule" not in resolve_pipeline(options).pass_names()
    model = branchy_model(branches=4)
    with optimize(to_bytes(model), options) as result:
        memory = result.report.memory
        names = [n.name for n in result.model.graph]
    assert memory is not None and memory.schedule.method == "as_written"
    assert memory.schedule.peak_before == memory.schedule.peak_after
    assert names == [n.name for n in branchy_model(branches=4).graph]


def test_cli_memory_schedule_writes_the_plot(tmp_path: Path) -> None:
    source, output, plot = tmp_path / "m.onnx", tmp_path / "o.onnx", tmp_path / "plot.png"
    ir.save(branchy_model(branches=4), source)
    flags = ["--memory", "schedule", "--memory-plot", str(plot), "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "graphopt", "optimize", str(source), "-o", str(output), *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    memory = json.loads(result.stdout)["memory"]
    assert memory["schedule"]["peak_after"] < memory["schedule"]["peak_before"]
    assert memory["artifacts"]["memory_timeline"] == str(plot)
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "memory_plan.json").exists()
    assert_equivalent(onnx.load(source), onnx.load(output))


def test_the_default_plans_static_models_without_writing_files(tmp_path: Path) -> None:
    output = tmp_path / "model.onnx"
    with optimize(to_bytes(branchy_model(branches=4)), OptimizeOptions(), output=output) as result:
        memory = result.report.memory
    assert memory is not None and memory.schedule.method == "as_written"
    assert not memory.unplanned and memory.artifacts == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_the_default_leaves_dynamic_models_unplanned_and_quiet() -> None:
    model = branchy_model(branches=4)
    model.graph.inputs[0].shape = ir.Shape(["n"])
    for value in (n.outputs[0] for n in model.graph if not n.outputs[0].is_graph_output()):
        value.shape, value.type = None, None  # no value_info: the sizes follow from "n"
    with optimize(to_bytes(model), OptimizeOptions(pipeline="lossless")) as result:
        report = result.report
    assert report.memory is None
    assert not [w for w in report.warnings if w.code.startswith("memory")]
