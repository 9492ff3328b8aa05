"""Helpers shared by the fusion tests: run one pass for a target, wrap a graph in an If."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
from graphs import BOOL, assert_equivalent, counts, graph, make_model, node, random_feeds, vi
from onnx import helper

from graphopt.engine.passes import PassContext, Pipeline, run_pipeline
from graphopt.engine.passes.pipeline import step

RTOL, ATOL = 1e-4, 1e-5


def fuse(
    model: ir.Model, name: str, *, target: str = "portable", then: Sequence[str] = ()
) -> tuple[ir.Model, dict[str, int]]:
    """Run pass ``name`` (then passes ``then``) on a clone; return it and the pass's counts."""
    candidate = model.clone()
    pipeline = Pipeline(name="test", steps=[step(name), *(step(n) for n in then)])
    run = run_pipeline(candidate, pipeline, PassContext(target=target))
    return candidate, counts(run.records[0])


def in_if(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    **kwargs: Any,
) -> ir.Model:
    """The same computation in both branches of an If on a ``cond`` input.

    Initializers stay in the main graph (the branches read them from the outer scope); the
    else branch's values carry an ``_e`` suffix so every name stays unique.
    """
    produced = {o for n in nodes for o in n.output}

    def branch(suffix: str) -> onnx.GraphProto:
        renamed = []
        for n in nodes:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            copy.name = n.name + suffix
            copy.input[:] = [i + suffix if i in produced else i for i in n.input]
            copy.output[:] = [o + suffix for o in n.output]
            renamed.append(copy)
        outs = [
            helper.make_tensor_value_info(o.name + suffix, o.type.tensor_type.elem_type, None)
            for o in outputs
        ]
        return graph(renamed, [], outs, name="then" if not suffix else "else")

    if_node = node(
        "If",
        ["cond"],
        [o.name for o in outputs],
        then_branch=branch(""),
        else_branch=branch("_e"),
    )
    return make_model([if_node], [vi("cond", [], BOOL), *inputs], outputs, initializers, **kwargs)


def branch_ops(model: ir.Model, attr: str = "then_branch") -> list[str]:
    return [n.op_type for n in model.graph.node(0).attributes[attr].as_graph()]


def check_if_equivalent(original: ir.Model, fused: ir.Model) -> None:
    """Both branches of :func:`in_if` models give the same outputs as before."""
    base = random_feeds(original)
    for flag in (True, False):
        feeds = {**base, "cond": np.array(flag)}
        assert_equivalent(original, fused, feeds, rtol=RTOL, atol=ATOL)


__all__ = ["ATOL", "RTOL", "branch_ops", "check_if_equivalent", "fuse", "in_if"]
