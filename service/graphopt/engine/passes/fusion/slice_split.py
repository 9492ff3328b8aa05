"""Pass ``fuse_slice_split``: sibling Slices that cut one axis into pieces become one Split."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx_ir as ir

from graphopt.engine import traversal
from graphopt.engine.passes.base import PassContext, PassOutcome
from graphopt.engine.passes.constants import static_shape
from graphopt.engine.passes.edits import forward_value
from graphopt.engine.passes.fusion.rewriting import FusionGraphPass, new_constant, place_constants
from graphopt.engine.passes.fusion.slice_chains import slice_parts
from graphopt.engine.passes.registry import register
from graphopt.engine.traversal import GraphBody


def _piece(node: ir.Node, shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """``(axis, start, end)`` a Slice of one axis with step 1 cuts from a tensor of static
    ``shape`` (clamped as Slice clamps); None for any other Slice."""
    parts = slice_parts(node, len(shape))
    if parts is None or len(parts[0]) != 1 or int(parts[3][0]) != 1:
        return None
    axis = int(parts[2][0])
    size = shape[axis]
    start, end = (int(v) + size if v < 0 else int(v) for v in (parts[0][0], parts[1][0]))
    return axis, min(max(start, 0), size), min(max(end, 0), size)


_Piece = tuple[int, int, ir.Node]
"""start, end, and the Slice that cuts ``[start, end)``"""


def _partition(pieces: list[_Piece], size: int) -> list[_Piece] | None:
    """The pieces in order when they cover ``[0, size)`` exactly, without gaps, overlaps
    or empty pieces; else None."""
    pieces = sorted(pieces, key=lambda piece: piece[0])
    edge = 0
    for start, end, _ in pieces:
        if start != edge or end <= start:
            return None
        edge = end
    return pieces if edge == size else None


@register
class FuseSliceSplit(FusionGraphPass):
    """Replace sibling Slices that partition one axis of a value by a single Split.

    Matches (opset >= 10, input-form Slice): two or more Slices of the same value ``x``
    along the same axis, each with constant int64 parameters over that axis alone and step
    1, ``x`` of static shape, whose ranges (negative and out-of-range bounds clamped as
    Slice clamps them) are non-empty, do not overlap and together cover the whole axis.
    Emits one ``Split(x, axis)`` with the pieces' lengths (the ``split`` input from opset
    13, the attribute below), placed before the first of the Slices; its outputs replace
    theirs in the order of the pieces. Leaves alone: pieces with a gap, an overlap or a
    stride, Slices of several axes, dynamic parameters or shapes. Graph outputs keep their
    names. Lossless (the same elements).
    """

    name = "fuse_slice_split"

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        opset = traversal.onnx_opset(body, model)
        if opset < 10:
            return outcome
        readers: dict[ir.Value, list[ir.Node]] = defaultdict(list)
        for node in body:
            if node.op_type != "Slice" or node.domain not in ("", "ai.onnx"):
                continue
            if node.inputs and node.inputs[0] is not None:
                readers[node.inputs[0]].append(node)
        for x, slices in readers.items():
            shape = static_shape(x) if len(slices) > 1 else None
            if shape is None:
                continue
            by_axis: dict[int, list[_Piece]] = defaultdict(list)
            for node in slices:
                piece = _piece(node, shape)
                if piece is not None:
                    by_axis[piece[0]].append((piece[1], piece[2], node))
            for axis, pieces in by_axis.items():
                ordered = _partition(pieces, shape[axis]) if len(pieces) > 1 else None
                if ordered is not None:
                    members = {node for _, _, node in ordered}
                    first = next(node for node in slices if node in members)
                    self._split(body, x, axis, ordered, first, opset)
                    outcome.counts["Slices partitioning an axis merged into a Split"] += 1
        return outcome

    def _split(
        self,
        body: GraphBody,
        x: ir.Value,
        axis: int,
        pieces: list[_Piece],
        first: ir.Node,
        opset: int,
    ) -> None:
        """Replace the Slices of ``pieces`` (in axis order; ``first`` in body order) by one
        Split of ``x``."""
        slices = [node for _, _, node in pieces]
        lengths = [end - start for start, end, _ in pieces]
        constants: list[ir.Value] = []
        if opset >= 13:
            constants.append(new_constant("split", np.array(lengths, dtype=np.int64)))
            split = ir.node("Split", [x, *constants], {"axis": axis}, num_outputs=len(slices))
        else:
            split = ir.node("Split", [x], {"axis": axis, "split": lengths}, num_outputs=len(slices))
        body.insert_before(first, [*place_constants(body, constants, self._fresh), split])
        for node, out in zip(slices, split.outputs, strict=True):
            # a new node's output: always handed over, taking the Slice's type and shape
            handed_over = forward_value(node.outputs[0], out)
            assert handed_over
            body.remove(node, safe=True)
        self._applied += 1
