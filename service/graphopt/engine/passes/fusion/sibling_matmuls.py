"""Pass ``fuse_sibling_matmuls``: MatMuls of one input by constant weights become one MatMul."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from graphopt.engine import traversal
from graphopt.engine.passes.base import PassContext, PassOutcome
from graphopt.engine.passes.constants import const_tensor
from graphopt.engine.passes.edits import forward_value
from graphopt.engine.passes.fusion.rewriting import FusionGraphPass, new_constant, place_constants
from graphopt.engine.passes.registry import register
from graphopt.engine.traversal import GraphBody


@dataclass
class _Branch:
    """One MatMul of the shared input by a constant ``weight`` (K x N), with the bias Add
    that alone reads its output, if any (its constant ``bias`` of N elements)."""

    matmul: ir.Node
    weight: ir.TensorProtocol
    add: ir.Node | None = None
    bias: ir.TensorProtocol | None = None

    @property
    def result(self) -> ir.Value:
        """The value the branch hands to the rest of the graph."""
        return (self.add or self.matmul).outputs[0]


def _branch(node: ir.Node) -> _Branch | None:
    """``node`` as a branch: a default-domain MatMul whose second operand is a constant 2-D
    float matrix read by this node alone; None otherwise. No tensor data is read."""
    if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx") or len(node.inputs) != 2:
        return None
    weight = const_tensor(node.inputs[1])
    if weight is None or len(weight.shape) != 2 or not weight.dtype.is_floating_point():
        return None
    assert node.inputs[1] is not None
    if len(node.inputs[1].uses()) != 1:
        return None  # another reader keeps the matrix: concatenating would store it twice
    branch = _Branch(node, weight)
    out = node.outputs[0]
    uses = list(out.uses())
    if len(uses) == 1 and not out.is_graph_output():
        add = uses[0].node
        other = add.inputs[1 - uses[0].idx] if add.op_type == "Add" else None
        bias = const_tensor(other)
        if (
            add.domain in ("", "ai.onnx")
            and bias is not None
            and other is not None
            and tuple(bias.shape) == (weight.shape[1],)
            and bias.dtype == weight.dtype
            and len(other.uses()) == 1
        ):
            branch.add, branch.bias = add, bias
    return branch


@register
class FuseSiblingMatMuls(FusionGraphPass):
    """Merge the MatMuls that multiply one value by different constant matrices.

    Matches (opset >= 13): two or more default-domain ``MatMul(x, W_i)`` of the same ``x``,
    each ``W_i`` a constant 2-D float matrix of the same dtype and row count, read by that
    MatMul alone (the query/key/value projections of an attention block). Emits one
    ``MatMul(x, concat(W_i, axis=1))`` and a ``Split`` on the last axis into the original
    widths. When every MatMul's output is read only by an ``Add`` of a constant bias of
    shape ``[N_i]`` (also read by that Add alone), the biases are concatenated too: one
    ``Add`` before the Split replaces theirs. Leaves alone: shared weights (they would be
    stored twice), weights that are not 2-D constants, mixed dtypes or row counts, a single
    MatMul. Graph outputs keep their names. Lossless (the same dot products; a larger GEMM
    may sum in another order, within float rounding).
    """

    name = "fuse_sibling_matmuls"

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        if traversal.onnx_opset(body, model) < 13:
            return outcome
        groups: dict[ir.Value, list[_Branch]] = defaultdict(list)
        for node in body:
            branch = _branch(node) if node.inputs and node.inputs[0] is not None else None
            if branch is not None:
                assert node.inputs[0] is not None
                groups[node.inputs[0]].append(branch)
        for x, branches in groups.items():  # each in body order
            kinds = {(b.weight.dtype, b.weight.shape[0]) for b in branches}
            if len(branches) > 1 and len(kinds) == 1:
                self._merge(body, x, branches)
                outcome.counts["sibling MatMuls merged into one"] += len(branches)
        return outcome

    def _merge(self, body: GraphBody, x: ir.Value, branches: list[_Branch]) -> None:
        """One MatMul (+ one bias Add) and a Split in place of ``branches``."""
        with_bias = all(b.add is not None for b in branches)
        widths = [b.weight.shape.numpy()[1] for b in branches]
        matrices = [b.weight.numpy() for b in branches]
        weight = new_constant("weight", np.concatenate(matrices, axis=1))
        sizes = new_constant("split", np.array(widths, dtype=np.int64))
        constants = [weight, sizes]
        nodes = [ir.node("MatMul", [x, weight])]
        if with_bias:
            biases = [b.bias.numpy() for b in branches if b.bias is not None]
            bias = new_constant("bias", np.concatenate(biases))
            constants.append(bias)
            nodes.append(ir.node("Add", [nodes[-1].outputs[0], bias]))
        for merged in nodes:  # typed and shaped here: no shape inference needed for them
            merged.outputs[0].type = ir.TensorType(branches[0].weight.dtype)
            if x.shape is not None:
                merged.outputs[0].shape = ir.Shape([*x.shape.dims[:-1], sum(widths)])
        split = ir.node(
            "Split", [nodes[-1].outputs[0], sizes], {"axis": -1}, num_outputs=len(branches)
        )
        nodes.append(split)
        body.insert_before(
            branches[0].matmul, [*place_constants(body, constants, self._fresh), *nodes]
        )
        for branch, out in zip(branches, split.outputs, strict=True):
            result = branch.result if with_bias else branch.matmul.outputs[0]
            # a new node's output: always handed over, taking the result's type and shape
            handed_over = forward_value(result, out)
            assert handed_over
            for node in (branch.add, branch.matmul) if with_bias else (branch.matmul,):
                assert node is not None
                body.remove(node, safe=True)
        self._applied += 1
