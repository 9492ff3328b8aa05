"""The pass framework: registry, options, pipelines, fixed-point groups, records, traversal.

Test-only passes are registered under ``test_*`` names by the ``registered`` fixture and
removed from the registry when the test ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import ClassVar

import numpy as np
import onnx_ir as ir
import pytest
from graphs import (
    BOOL,
    apply,
    assert_equivalent,
    counts,
    function,
    graph,
    init,
    make_model,
    node,
    vi,
)
from pydantic import BaseModel, Field, ValidationError

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.passes import (
    PRESETS,
    GraphPass,
    ModelPass,
    PassContext,
    PassCrash,
    PassFamily,
    PassOutcome,
    Pipeline,
    create_pass,
    custom_pipeline,
    pass_class,
    preset,
    registered_passes,
    run_pipeline,
)
from graphopt.engine.passes.base import NoOptions
from graphopt.engine.passes.pipeline import fixed_point, step
from graphopt.engine.passes.registry import register, unregister
from graphopt.engine.progress import Progress
from graphopt.engine.traversal import GraphBody

Register = Callable[[type], type]


@pytest.fixture
def registered() -> Iterator[Register]:
    """``registered(cls)`` registers a test pass for the duration of the test."""
    names: list[str] = []

    def _register(cls: type) -> type:
        register(cls)
        names.append(cls.name)
        return cls

    yield _register
    for name in names:
        unregister(name)


def _chain_model() -> ir.Model:
    return make_model(
        [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
    )


# --------------------------------------------------------------------------- registry


def test_unknown_pass_is_a_typed_error() -> None:
    with pytest.raises(GraphoptError) as info:
        create_pass("no_such_pass")
    assert info.value.code == ErrorCode.UNKNOWN_PASS
    assert info.value.detail["passname"] == "no_such_pass"
    assert "dead_code_elimination" in info.value.detail["known"]
    with pytest.raises(GraphoptError) as info:
        unregister("no_such_pass")
    assert info.value.code == ErrorCode.UNKNOWN_PASS


def test_a_name_is_registered_once() -> None:
    class Impostor(ModelPass):
        """Claims a built-in pass's name."""

        name = "dead_code_elimination"
        family = PassFamily.CLEANUP
        lossless = True

        def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
            return PassOutcome()

    original = pass_class("dead_code_elimination")
    with pytest.raises(ValueError, match="registered twice"):
        register(Impostor)
    assert pass_class("dead_code_elimination") is original
    assert register(original) is original  # the same class again is harmless


def test_a_pass_without_docstring_is_refused() -> None:
    class Undocumented(ModelPass):
        name = "test_undocumented"
        family = PassFamily.CLEANUP
        lossless = True

        def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
            return PassOutcome()

    with pytest.raises(ValueError, match="no docstring"):
        register(Undocumented)
    with pytest.raises(GraphoptError):
        pass_class("test_undocumented")


def test_builtin_passes_declare_their_contract() -> None:
    passes = registered_passes()
    names = [p.name for p in passes]
    assert {
        "common_subexpression_elimination",
        "constant_folding",
        "constant_lifting",
        "dead_code_elimination",
        "initializer_deduplication",
        "noop_elimination",
        "shape_inference",
        "shape_specialization",
    } <= set(names)
    assert passes == sorted(passes, key=lambda p: (p.family, p.name))
    for cls in passes:
        assert isinstance(cls.family, PassFamily)
        assert isinstance(cls.lossless, bool)
        assert issubclass(cls.Options, BaseModel)
        assert cls.summary(), cls.name
        assert len((cls.__doc__ or "").strip().splitlines()) > 1, cls.name  # a body too


class _LimitOptions(NoOptions):
    limit: int = Field(3, ge=0)


def test_invalid_pass_options_are_a_typed_error() -> None:
    with pytest.raises(GraphoptError) as info:
        create_pass("constant_folding", {"input_size_limit": -1})
    assert info.value.code == ErrorCode.INVALID_PASS_OPTIONS
    assert info.value.detail["passname"] == "constant_folding"
    assert info.value.detail["errors"][0]["loc"] == ("input_size_limit",)
    with pytest.raises(GraphoptError) as info:
        create_pass("dead_code_elimination", {"aggressive": True})  # no such option
    assert info.value.code == ErrorCode.INVALID_PASS_OPTIONS
    with pytest.raises(GraphoptError) as info:
        apply(_chain_model(), step("constant_folding", output_size_limit="big"))
    assert info.value.code == ErrorCode.INVALID_PASS_OPTIONS
    with pytest.raises(GraphoptError) as info:
        apply(
            _chain_model(),
            "dead_code_elimination",
            pass_options={"dead_code_elimination": {"aggressive": True}},
        )
    assert info.value.code == ErrorCode.INVALID_PASS_OPTIONS


def test_caller_options_override_step_options() -> None:
    fold = create_pass("constant_folding", {"output_size_limit": 7})
    assert fold.options.output_size_limit == 7  # type: ignore[attr-defined]
    model = make_model(
        [node("Tile", ["c", "r"], ["t"]), node("Add", ["x", "t"], ["y"])],
        [vi("x", [64])],
        [vi("y", [64])],
        [init("c", np.ones(2, np.float32)), init("r", np.array([32], np.int64))],
    )
    kept, run = apply(model, step("constant_folding", output_size_limit=100))
    assert [n.op_type for n in kept.graph] == ["Add"]
    kept, run = apply(
        model,
        step("constant_folding", output_size_limit=100),
        pass_options={"constant_folding": {"output_size_limit": 10}},
    )
    assert [n.op_type for n in kept.graph] == ["Tile", "Add"]
    assert not run.records[0].changed


# --------------------------------------------------------------------------- pipelines


def test_pipeline_schema_and_names() -> None:
    pipeline = Pipeline.model_validate(
        {
            "name": "p",
            "steps": [
                {"pass": "shape_inference"},
                {
                    "fixed_point": [{"pass": "noop_elimination"}, {"pass": "shape_inference"}],
                    "max_iterations": 3,
                },
            ],
        }
    )
    assert pipeline.pass_names() == ["shape_inference", "noop_elimination"]
    assert pipeline.validate_names() is pipeline
    with pytest.raises(ValidationError):
        Pipeline.model_validate({"name": "p", "steps": [{"fixed_point": [], "max_iterations": 0}]})
    with pytest.raises(ValidationError):
        Pipeline.model_validate({"name": "p", "steps": [{"pass": "x", "opts": {}}]})
    with pytest.raises(GraphoptError) as info:
        Pipeline(name="p", steps=[fixed_point(step("nope"))]).validate_names()
    assert info.value.code == ErrorCode.UNKNOWN_PASS


def test_custom_pipelines_and_presets() -> None:
    custom = custom_pipeline(["noop_elimination", "dead_code_elimination"])
    assert custom.pass_names() == ["noop_elimination", "dead_code_elimination"]
    with pytest.raises(GraphoptError) as info:
        custom_pipeline([])
    assert info.value.code == ErrorCode.UNKNOWN_PIPELINE
    with pytest.raises(GraphoptError) as info:
        custom_pipeline(["noop_elimination", "nope"])
    assert info.value.code == ErrorCode.UNKNOWN_PASS
    with pytest.raises(GraphoptError) as info:
        preset("fastest")
    assert info.value.code == ErrorCode.UNKNOWN_PIPELINE
    assert {"default", "lossless", "aggressive"} <= set(PRESETS)
    for name in PRESETS:
        assert preset(name).validate_names().name == name


class _Countdown(ModelPass):
    """Test pass: changes the model while its ``countdown`` metadata is above zero.

    Each application decrements ``countdown`` (starting from ``start``) and reports a
    change until it reaches zero: a pass that converges after ``start`` applications.
    """

    name = "test_countdown"
    family = PassFamily.CLEANUP
    lossless = True
    Options = _LimitOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, _LimitOptions)
        left = int(model.metadata_props.get("countdown", self.options.limit))
        if left == 0:
            return PassOutcome()
        model.metadata_props["countdown"] = str(left - 1)
        return PassOutcome(changed=True, counts=Counter(ticks=1))


class _Quiet(ModelPass):
    """Test pass: never changes anything."""

    name = "test_quiet"
    family = PassFamily.CLEANUP
    lossless = True

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        return PassOutcome()


def test_fixed_point_group_stops_when_nothing_changes(registered: Register) -> None:
    registered(_Countdown)
    registered(_Quiet)
    _, run = apply(
        _chain_model(),
        fixed_point(step("test_countdown", limit=2), step("test_quiet"), max_iterations=10),
        step("test_quiet"),
    )
    iterations = [(r.name, r.iteration, r.changed) for r in run.records]
    assert iterations == [
        ("test_countdown", 1, True),
        ("test_quiet", 1, False),
        ("test_countdown", 2, True),
        ("test_quiet", 2, False),
        ("test_countdown", 3, False),  # the sweep that changes nothing ends the group
        ("test_quiet", 3, False),
        ("test_quiet", None, False),
    ]
    assert run.complete


def test_fixed_point_group_respects_max_iterations(registered: Register) -> None:
    registered(_Countdown)
    _, run = apply(
        _chain_model(),
        fixed_point(step("test_countdown", limit=50), max_iterations=4),
        step("dead_code_elimination"),
    )
    assert [(r.name, r.iteration) for r in run.records] == [
        *[("test_countdown", i) for i in range(1, 5)],
        ("dead_code_elimination", None),
    ]
    assert all(r.changed for r in run.records[:4])
    assert counts(run.records[0]) == {"ticks": 1}


def test_max_applications_cuts_the_run_short(registered: Register) -> None:
    registered(_Countdown)
    pipeline = Pipeline(
        name="p",
        steps=[step("noop_elimination"), fixed_point(step("test_countdown", limit=5))],
    )
    full = run_pipeline(_chain_model(), pipeline, PassContext())
    assert full.complete and full.applications == 7
    for k in (0, 1, 3, 7):
        model = _chain_model()
        cut = run_pipeline(model, pipeline, PassContext(), max_applications=k)
        assert cut.applications == k
        assert cut.complete == (k == 7)
        assert [r.name for r in cut.records] == [r.name for r in full.records[:k]]
        ticks = max(k - 1, 0)  # countdown applications after the first step
        assert model.metadata_props.get("countdown", "5") == str(max(5 - ticks, 0))


def test_exclude_skips_passes_everywhere(registered: Register) -> None:
    registered(_Countdown)
    pipeline = Pipeline(
        name="p",
        steps=[
            step("test_countdown"),
            fixed_point(step("test_countdown"), step("noop_elimination")),
            step("dead_code_elimination"),
        ],
    )
    run = run_pipeline(_chain_model(), pipeline, PassContext(), exclude={"test_countdown"})
    assert [r.name for r in run.records] == ["noop_elimination", "dead_code_elimination"]


# --------------------------------------------------------------------------- records


class _Grow(ModelPass):
    """Test pass: appends ``Identity`` after the first node, adds a 10-element initializer,
    edits one attribute, and reports the edit and what it did."""

    name = "test_grow"
    family = PassFamily.FUSION
    lossless = False

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        graph = model.graph
        first = graph.node(0)
        tensor = ir.tensor(np.zeros(10, np.float32), name="ten")
        graph.register_initializer(ir.Value(name="ten", const_value=tensor))
        first.attributes["note"] = ir.AttrString("note", "edited")
        relay = ir.node("Identity", [first.outputs[0]])
        graph.insert_after(first, relay)
        time.sleep(0.02)
        outcome = PassOutcome(rewritten=1, notes=["grew"])
        outcome.counts["identities added"] += 1
        return outcome


def test_records_measure_time_nodes_params_and_bytes(registered: Register) -> None:
    registered(_Grow)
    _, run = apply(_chain_model(), "test_grow", "dead_code_elimination")
    grow, dce = run.records
    assert grow.name == "test_grow" and grow.family == "fusion" and grow.lossless is False
    assert grow.ms >= 20.0
    assert (grow.nodes_before, grow.nodes_after, grow.node_delta) == (2, 3, 1)
    assert (grow.nodes_removed, grow.nodes_added, grow.nodes_rewritten) == (0, 1, 1)
    assert (grow.params_delta, grow.bytes_delta) == (10, 40)
    assert grow.changed
    assert grow.notes == ["identities added: 1", "grew"]
    # the Identity nobody reads and the initializer nobody reads both go
    assert (dce.nodes_before, dce.nodes_after, dce.nodes_removed) == (3, 2, 1)
    assert (dce.params_delta, dce.bytes_delta) == (-10, -40)
    assert counts(dce) == {"dead nodes removed": 1, "unused initializers removed": 1}
    assert 0 <= dce.ms < 5000


def test_progress_reports_each_pass() -> None:
    seen: list[Progress] = []
    pipeline = Pipeline(name="p", steps=[step("noop_elimination"), step("dead_code_elimination")])
    run_pipeline(_chain_model(), pipeline, PassContext(), progress=seen.append)
    assert [(p.stage, p.current_pass) for p in seen] == [
        ("passes", "noop_elimination"),
        ("passes", "dead_code_elimination"),
    ]
    assert [p.fraction for p in seen] == [0.0, 0.5]


# --------------------------------------------------------------------------- traversal


class _BodyLog(GraphPass):
    """Test pass: logs the bodies it is applied to and its start/finish hooks."""

    name = "test_body_log"
    family = PassFamily.CLEANUP
    lossless = True
    log: ClassVar[list[str]] = []

    def start(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        self.log.append("start")
        return PassOutcome()

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        kind = "function" if isinstance(body, ir.Function) else "graph"
        self.log.append(f"{kind}:{body.name}")
        return PassOutcome()

    def finish(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        self.log.append("finish")
        return PassOutcome()


class _BodyLogInnerFirst(_BodyLog):
    """Test pass: logs bodies, subgraphs before the body that holds them."""

    name = "test_body_log_inner_first"
    inner_first = True


def _nested_model() -> ir.Model:
    """Main graph with an If (then/else) and a Loop whose body holds an If; one function."""
    inner_then = graph([node("Neg", ["v"], ["it"])], [], [vi("it", [2])], name="inner_then")
    inner_else = graph([node("Abs", ["v"], ["ie"])], [], [vi("ie", [2])], name="inner_else")
    loop_body = graph(
        [
            node("Add", ["v", "v"], ["w"]),
            node("If", ["c"], ["v_out"], then_branch=inner_then, else_branch=inner_else),
            node("Identity", ["c"], ["c_out"]),
        ],
        [vi("i", [], 7), vi("c", [], BOOL), vi("v", [2])],
        [vi("c_out", [], BOOL), vi("v_out", [2])],
        name="loop_body",
    )
    then_b = graph([node("Neg", ["x"], ["t"])], [], [vi("t", [2])], name="then")
    else_b = graph([node("Abs", ["x"], ["e"])], [], [vi("e", [2])], name="else")
    fn = function("f", ["X"], ["Y"], [node("Exp", ["X"], ["Y"])])
    return make_model(
        [
            node("If", ["cond"], ["a"], then_branch=then_b, else_branch=else_b),
            node("Loop", ["trips", "cond", "a"], ["b"], body=loop_body),
            node("f", ["b"], ["y"], domain="local"),
        ],
        [vi("x", [2]), vi("cond", [], BOOL)],
        [vi("y", [2])],
        [init("trips", np.array(2, np.int64))],
        functions=[fn],
        extra_opsets={"local": 1},
    )


_BODIES = [
    "graph:g",
    "graph:then",
    "graph:else",
    "graph:loop_body",
    "graph:inner_then",
    "graph:inner_else",
    "function:f",
]
_NESTING = [  # (inner, the body that holds it)
    ("graph:then", "graph:g"),
    ("graph:else", "graph:g"),
    ("graph:loop_body", "graph:g"),
    ("graph:inner_then", "graph:loop_body"),
    ("graph:inner_else", "graph:loop_body"),
]


def test_graph_pass_reaches_every_body_outer_first(registered: Register) -> None:
    registered(_BodyLog)
    _BodyLog.log.clear()
    apply(_nested_model(), "test_body_log")
    log = _BodyLog.log
    assert log[0] == "start" and log[-1] == "finish"
    bodies = log[1:-1]
    assert sorted(bodies) == sorted(_BODIES)  # each body exactly once
    assert bodies[0] == "graph:g" and bodies[-1] == "function:f"
    for inner, outer in _NESTING:
        assert bodies.index(outer) < bodies.index(inner)


def test_graph_pass_can_visit_inner_bodies_first(registered: Register) -> None:
    registered(_BodyLogInnerFirst)
    _BodyLog.log.clear()
    apply(_nested_model(), "test_body_log_inner_first")
    log = _BodyLog.log
    assert log[0] == "start" and log[-1] == "finish"
    bodies = log[1:-1]
    assert sorted(bodies) == sorted(_BODIES)
    for inner, outer in _NESTING:
        assert bodies.index(inner) < bodies.index(outer)


def test_builtin_graph_passes_rewrite_nested_bodies() -> None:
    """Dead nodes in a Loop body's If and in a function body all go in one application."""
    model = _nested_model()
    loop_body = model.graph.node(1).attributes["body"].as_graph()
    inner_then = loop_body.node(1).attributes["then_branch"].as_graph()
    inner_then.append(ir.node("Sin", [inner_then.node(0).inputs[0]]))
    fn = model.functions[("local", "f", "")]
    fn.append(ir.node("Cos", [fn.inputs[0]]))
    result, run = apply(model, "dead_code_elimination")
    assert counts(run.records[0]) == {"dead nodes removed": 3}  # Sin, Cos, the loop's Add
    feeds = [{"x": np.array([1.0, -2.0], np.float32), "cond": np.array(c)} for c in (True, False)]
    assert_equivalent(model, result, feeds)


# --------------------------------------------------------------------------- crashes


class _Boom(ModelPass):
    """Test pass: raises."""

    name = "test_boom"
    family = PassFamily.CLEANUP
    lossless = True

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        raise RuntimeError("kaboom")


def test_a_pass_that_raises_stops_the_run_with_pass_crash(registered: Register) -> None:
    registered(_Boom)
    with pytest.raises(PassCrash) as info:
        apply(_chain_model(), "noop_elimination", "test_boom", "dead_code_elimination")
    crash = info.value
    assert crash.pass_name == "test_boom"
    assert crash.application == 2
    assert isinstance(crash.cause, RuntimeError)
    assert str(crash) == "pass 'test_boom' raised RuntimeError: kaboom"
