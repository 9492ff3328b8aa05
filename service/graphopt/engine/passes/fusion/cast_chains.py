"""Pass ``fuse_casts``: Cast chains whose intermediate type is exact collapsed to one Cast."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import int_attr
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass
from graphopt.engine.passes.registry import register

D = ir.DataType
_FLOATS = {D.FLOAT16: 11, D.BFLOAT16: 8, D.FLOAT: 24, D.DOUBLE: 53}  # significand bits
_INTS = {  # (signed, bits)
    D.INT8: (True, 8),
    D.INT16: (True, 16),
    D.INT32: (True, 32),
    D.INT64: (True, 64),
    D.UINT8: (False, 8),
    D.UINT16: (False, 16),
    D.UINT32: (False, 32),
    D.UINT64: (False, 64),
}
_EXPONENT_MAX = {D.FLOAT16: 15, D.BFLOAT16: 127, D.FLOAT: 127, D.DOUBLE: 1023}


def holds_exactly(source: ir.DataType, middle: ir.DataType) -> bool:
    """Whether every value of ``source`` converts to ``middle`` and back unchanged."""
    if source == middle or source == D.BOOL:
        return source == middle or middle in _FLOATS or middle in _INTS
    if source in _FLOATS and middle in _FLOATS:
        if {source, middle} == {D.FLOAT16, D.BFLOAT16}:
            return False
        return _FLOATS[middle] >= _FLOATS[source] and _EXPONENT_MAX[middle] >= _EXPONENT_MAX[source]
    if source in _INTS and middle in _INTS:
        (s_signed, s_bits), (m_signed, m_bits) = _INTS[source], _INTS[middle]
        if s_signed and not m_signed:
            return False
        return m_bits > s_bits or (m_bits == s_bits and s_signed == m_signed)
    if source in _INTS and middle in _FLOATS:
        signed, bits = _INTS[source]
        return _FLOATS[middle] >= bits - (1 if signed else 0)
    return False


class _CastCast(RewriteRuleClassBase):
    def pattern(self, op, x):
        inner = op.Cast(x, _allow_other_attributes=True, _outputs=["inner"])
        return op.Cast(inner, _allow_other_attributes=True, _outputs=["outer"])

    def check(self, context, x, inner, outer):
        result = MatchResult()
        middle = int_attr(inner.producer(), "to", 0)
        if x.dtype is None or not holds_exactly(x.dtype, D(middle)):
            return result.fail("the intermediate type may round or clip the input")
        if "saturate" in inner.producer().attributes:
            return result.fail("saturating float8 cast")
        return result

    def rewrite(self, op, x, inner, outer):
        return op.Cast(x, **outer.producer().attributes)


_RULES = [_CastCast.rule(name="Cast pair collapsed")]


@register
class FuseCasts(RuleFusionPass):
    """Collapse ``Cast(Cast(x, T1), T2)`` into ``Cast(x, T2)`` when T1 holds every value of x's type.

    Matches: two consecutive Casts, x's dtype known, T1 a widening of it (float16 -> float,
    int8 -> int32, int16 -> float, int32 -> double, bool -> any number...), the first Cast
    read only by the second. Emits one Cast to T2 (a Cast back to x's own type is then a
    no-op for ``noop_elimination``). Leaves alone: narrowing or rounding intermediates
    (float -> float16 -> float, int64 -> float -> int64), float8 saturation. Lossless.
    """

    name = "fuse_casts"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES
