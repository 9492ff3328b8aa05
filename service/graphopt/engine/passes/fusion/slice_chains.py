"""Pass ``fuse_slices``: two Slices of disjoint axes merged into one Slice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, known_rank
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, tensor
from graphopt.engine.passes.registry import register


def slice_parts(node: ir.Node, rank: int) -> list[np.ndarray] | None:
    """``[starts, ends, axes, steps]`` of an input-form Slice (axes normalized), or None.

    None unless every present operand is a constant int64 vector; missing axes default
    to ``0..n-1`` and missing steps to 1.
    """
    if len(node.inputs) < 3:
        return None
    arrays = []
    for index in range(1, 5):
        value = node.inputs[index] if len(node.inputs) > index else None
        array = const_array(value) if value is not None else None
        if value is not None and (array is None or array.ndim != 1 or array.dtype != np.int64):
            return None
        arrays.append(array)
    starts, ends, axes, steps = arrays
    assert starts is not None and ends is not None
    if axes is None:
        axes = np.arange(len(starts), dtype=np.int64)
    if steps is None:
        steps = np.ones(len(starts), dtype=np.int64)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        return None
    return [starts, ends, axes % rank, steps]


class _SliceSlice(RewriteRuleClassBase):
    def pattern(self, op, x):
        inner = op.Slice(x, _allow_other_inputs=True, _outputs=["inner"])
        return op.Slice(inner, _allow_other_inputs=True, _outputs=["outer"])

    def check(self, context, x, inner, outer):
        result = MatchResult()
        rank = known_rank(x)
        if rank is None:
            return result.fail("input rank unknown")
        first, second = slice_parts(inner.producer(), rank), slice_parts(outer.producer(), rank)
        if first is None or second is None:
            return result.fail("slice parameters not constant")
        axes = [*first[2].tolist(), *second[2].tolist()]
        if len(set(axes)) != len(axes):
            return result.fail("the Slices share an axis")
        return result

    def rewrite(self, op, x, inner, outer):
        rank = known_rank(x)
        assert rank is not None
        first, second = slice_parts(inner.producer(), rank), slice_parts(outer.producer(), rank)
        assert first is not None and second is not None
        names = ("starts", "ends", "axes", "steps")
        merged = [
            op.initializer(tensor(np.concatenate([a, b])), name=name)
            for name, a, b in zip(names, first, second, strict=True)
        ]
        return op.Slice(x, *merged)


_RULES = [_SliceSlice.rule(name="Slice pair of disjoint axes merged")]


@register
class FuseSlices(RuleFusionPass):
    """Merge ``Slice(Slice(x, ...), ...)`` over disjoint axes into one Slice.

    Matches (opset >= 10, input-form Slice): two consecutive Slices whose starts, ends,
    axes and steps are constant int64 vectors, x of known rank, no axis sliced by both,
    the first Slice read only by the second. Emits one Slice with the concatenated
    parameters (axes normalized to non-negative). Leaves alone: Slices of a shared axis
    (their composition depends on the dimension), dynamic parameters, opset < 10. Lossless.
    """

    name = "fuse_slices"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES if opset >= 10 else []
