"""Pass ``fuse_transposes``: Transpose pairs merged (or cancelled), unit-dim moves -> Reshape."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import ints_attr, static_shape
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, tensor
from graphopt.engine.passes.registry import register


def composed(first: list[int], second: list[int]) -> list[int]:
    """The permutation of ``Transpose(Transpose(x, first), second)``."""
    return [first[axis] for axis in second]


class _TransposeTranspose(RewriteRuleClassBase):
    def pattern(self, op, x):
        inner = op.Transpose(x, _allow_other_attributes=True, _outputs=["inner"])
        return op.Transpose(inner, _allow_other_attributes=True, _outputs=["outer"])

    def check(self, context, x, inner, outer):
        result = MatchResult()
        first, second = ints_attr(inner.producer(), "perm"), ints_attr(outer.producer(), "perm")
        if first is None or second is None or sorted(second) != list(range(len(first))):
            return result.fail("permutations missing or of different ranks")
        return result

    def rewrite(self, op, x, inner, outer):
        first, second = ints_attr(inner.producer(), "perm"), ints_attr(outer.producer(), "perm")
        assert first is not None and second is not None
        perm = composed(first, second)
        if perm == list(range(len(perm))):
            return op.Identity(x)
        return op.Transpose(x, perm=perm)


def moves_only_unit_dims(perm: list[int], shape: tuple[int, ...]) -> bool:
    """Whether transposing ``shape`` by ``perm`` keeps the order of its non-1 dimensions."""
    kept = [axis for axis in perm if shape[axis] != 1]
    return kept == sorted(kept)


class _UnitTranspose(RewriteRuleClassBase):
    """``Transpose(x, perm)`` that only moves size-1 axes -> ``Reshape`` to the output shape."""

    def pattern(self, op, x):
        return op.Transpose(x, _allow_other_attributes=True, _outputs=["out"])

    def check(self, context, x, out):
        result = MatchResult()
        perm, shape = ints_attr(out.producer(), "perm"), static_shape(x)
        if perm is None or shape is None or len(perm) != len(shape) or len(perm) < 2:
            return result.fail("perm or static shape unknown")
        if perm == list(range(len(perm))) or not moves_only_unit_dims(perm, shape):
            return result.fail("moves a dimension larger than 1")
        return result

    def rewrite(self, op, x, out):
        perm, shape = ints_attr(out.producer(), "perm"), static_shape(x)
        assert perm is not None and shape is not None
        target = np.array([shape[axis] for axis in perm], np.int64)
        return op.Reshape(x, op.initializer(tensor(target), name="shape"))


_RULES = [
    _TransposeTranspose.rule(name="Transpose pair merged"),
    _UnitTranspose.rule(name="Transpose of size-1 axes -> Reshape"),
]


@register
class FuseTransposes(RuleFusionPass):
    """Merge ``Transpose(Transpose(x, p), q)`` into one Transpose; a unit-dim Transpose -> Reshape.

    Matches: two consecutive Transposes with explicit ``perm`` attributes of the same rank,
    the first read only by the second; and a Transpose of a static-shaped x whose ``perm``
    keeps the order of every dimension larger than 1 (it only moves size-1 axes, so the
    data order is unchanged). Emits ``Transpose(x, perm=[p[i] for i in q])``, or
    ``Identity(x)`` when that is the identity permutation (``noop_elimination`` then removes
    it); ``Reshape(x, <output shape>)`` (a copy-free view) for a unit-dim Transpose. Leaves
    alone: a first Transpose read elsewhere or that is a graph output, Transposes without
    ``perm``, dynamic shapes. Lossless.
    """

    name = "fuse_transposes"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES
