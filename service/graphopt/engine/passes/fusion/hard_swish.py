"""Pass ``fuse_hard_swish``: ``x * Clip(x + 3, 0, 6) / 6`` -> HardSwish (or a HardSigmoid pair)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, near_scalar
from graphopt.engine.passes.registry import register

_TYPES = frozenset({ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16})
_TOLERANCE = 1e-5


def clip_bounds(node: ir.Node) -> tuple[float, float] | None:
    """A Clip's ``(min, max)`` from constant inputs (opset >= 11) or attributes, or None."""
    if "min" in node.attributes or "max" in node.attributes:
        low = node.attributes.get_float("min", float("-inf"))
        return low, node.attributes.get_float("max", float("inf"))
    bounds = []
    for index in (1, 2):
        value = node.inputs[index] if len(node.inputs) > index else None
        array = const_array(value) if value is not None else None
        if array is None or array.size != 1:
            return None
        bounds.append(float(array.reshape(-1)[0]))
    return bounds[0], bounds[1]


def _near(value: float, want: float) -> bool:
    return abs(value - want) <= _TOLERANCE * max(1.0, abs(want))


def _emit(op, x, opset: int):
    if opset >= 14:
        return op.HardSwish(x)
    return op.Mul(x, op.HardSigmoid(x, alpha=1.0 / 6.0, beta=0.5))


class _ClipForm(RewriteRuleClassBase):
    """``x * Clip(x + 3, 0, 6)`` then ``/ 6`` or ``* (1/6)``, the scaling inside or outside."""

    def __init__(self, form: str, opset: int) -> None:
        super().__init__(name=f"HardSwish ({form}) fused")
        self.form, self.opset = form, opset

    def pattern(self, op, x, three, scale):
        clipped = op.Clip(
            op.Add(x, three), _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["c"]
        )
        if self.form == "x*clip/6":
            return op.Div(op.Mul(x, clipped), scale)
        if self.form == "x*clip*(1/6)":
            return op.Mul(op.Mul(x, clipped), scale)
        return op.Mul(x, op.Div(clipped, scale))

    def check(self, context, x, three, scale, c, **_):  # type: ignore[override]
        result = MatchResult()
        bounds = clip_bounds(c.producer())
        if x.dtype not in _TYPES:
            return result.fail("not a float type")
        divisor = 1.0 / 6.0 if self.form == "x*clip*(1/6)" else 6.0
        if not (near_scalar(three, 3.0, x) and near_scalar(scale, divisor, x)):
            return result.fail("offset or scale is not 3 and 6")
        if bounds is None or not (_near(bounds[0], 0.0) and _near(bounds[1], 6.0)):
            return result.fail("Clip bounds are not (0, 6)")
        return result

    def rewrite(self, op, x, three, scale, **_):
        return _emit(op, x, self.opset)


class _HardSigmoidForm(RewriteRuleClassBase):
    """``x * HardSigmoid(x, alpha=1/6, beta=0.5)`` -> ``HardSwish(x)`` (opset >= 14)."""

    def pattern(self, op, x):
        return op.Mul(x, op.HardSigmoid(x, _allow_other_attributes=True, _outputs=["h"]))

    def check(self, context, x, h, **_):  # type: ignore[override]
        result = MatchResult()
        node = h.producer()
        alpha = node.attributes.get_float("alpha", 0.2)
        beta = node.attributes.get_float("beta", 0.5)
        if x.dtype not in _TYPES or not (_near(alpha, 1.0 / 6.0) and _near(beta, 0.5)):
            return result.fail("not the HardSwish slope and offset")
        return result

    def rewrite(self, op, x, **_):
        return op.HardSwish(x)


def _rules(opset: int) -> list[RewriteRule]:
    forms = ("x*clip/6", "x*clip*(1/6)", "x*(clip/6)")
    rules = list(itertools.chain.from_iterable(_ClipForm.rule(f, opset).commute() for f in forms))
    if opset >= 14:
        rules.extend(_HardSigmoidForm.rule(name="x*HardSigmoid(x) -> HardSwish").commute())
    return rules


_RULES = {modern: _rules(14 if modern else 6) for modern in (True, False)}


@register
class FuseHardSwish(RuleFusionPass):
    """Fuse the decomposed hard-swish ``x * Clip(x + 3, 0, 6) / 6`` into HardSwish.

    Matches (opset >= 6): ``(x * Clip(x + 3, 0, 6)) / 6``, ``(x * Clip(...)) * (1/6)`` and
    ``x * (Clip(...) / 6)`` in every Add/Mul operand order, Clip bounds as constant inputs
    or attributes (scalar or ``[1]`` constants matched to 1e-5), float, double or float16
    x; and at opset >= 14 ``x * HardSigmoid(x, alpha=1/6, beta=0.5)``. Intermediates read only inside the match.
    Emits: opset >= 14 ``HardSwish(x)``; below, ``x * HardSigmoid(x, alpha=1/6, beta=0.5)``
    (two nodes instead of four), standard ops for both targets.
    Leaves alone: other bounds or offsets, integer types. Lossless up to float rounding.
    """

    name = "fuse_hard_swish"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        if opset < 6:
            return []
        return _RULES[opset >= 14]
