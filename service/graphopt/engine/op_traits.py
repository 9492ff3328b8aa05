"""Facts about operators that several parts of the engine rely on."""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine import traversal

NONDETERMINISTIC_OPS = frozenset(
    {
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
    }
)


def is_nondeterministic(node: ir.Node) -> bool:
    """A default-domain random op, or a node whose subgraphs hold one."""
    if node.domain in ("", "ai.onnx") and node.op_type in NONDETERMINISTIC_OPS:
        return True
    return any(is_nondeterministic(inner) for sub in traversal.subgraphs_of(node) for inner in sub)


def nondeterministic_outputs(model: ir.Model) -> set[str]:
    """Names of main-graph outputs that depend on a nondeterministic node."""
    tainted: set[ir.Value] = set()
    for node in model.graph:
        if is_nondeterministic(node) or any(v in tainted for v in node.inputs if v is not None):
            tainted.update(node.outputs)
    return {v.name for v in model.graph.outputs if v in tainted and v.name}
