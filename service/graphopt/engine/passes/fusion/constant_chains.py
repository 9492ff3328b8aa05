"""Pass ``fuse_constant_chains``: ``(x + a) + b``, ``(x * a) / b``... folded to one op."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, tensor
from graphopt.engine.passes.registry import register

# (inner op, outer op) -> (combined op, how the two constants combine)
_Combine = Callable[[np.ndarray, np.ndarray], np.ndarray]
_COMBINE: dict[tuple[str, str], tuple[str, _Combine]] = {
    ("Add", "Add"): ("Add", np.add),
    ("Sub", "Add"): ("Add", lambda a, b: b - a),
    ("Add", "Sub"): ("Add", np.subtract),
    ("Sub", "Sub"): ("Sub", np.add),
    ("Mul", "Mul"): ("Mul", np.multiply),
    ("Mul", "Div"): ("Mul", np.divide),
    ("Div", "Mul"): ("Mul", lambda a, b: b / a),
    ("Div", "Div"): ("Div", np.multiply),
}


class _ConstantChain(RewriteRuleClassBase):
    def __init__(self, inner: str, outer: str) -> None:
        super().__init__(name=f"{inner}+{outer} by constants folded")
        self.inner, self.outer = inner, outer

    def pattern(self, op, x, a, b):
        return getattr(op, self.outer)(getattr(op, self.inner)(x, a), b)

    def check(self, context, x, a, b):
        result = MatchResult()
        first, second = const_array(a), const_array(b)
        if first is None or second is None or const_array(x) is not None:
            return result.fail("operands are not (variable, constant, constant)")
        if x.dtype is None or first.dtype != x.dtype.numpy() or second.dtype != first.dtype:
            return result.fail("dtypes differ")
        if first.dtype.kind not in "fiu":
            return result.fail("not a numeric type")
        if "Div" in (self.inner, self.outer):
            divisors = [c for op, c in ((self.inner, first), (self.outer, second)) if op == "Div"]
            if first.dtype.kind != "f" or not all(np.all(d != 0) for d in divisors):
                return result.fail("integer division, or division by zero")
        return result

    def rewrite(self, op, x, a, b):
        combined_op, combine = _COMBINE[(self.inner, self.outer)]
        first, second = const_array(a), const_array(b)
        assert first is not None and second is not None
        with np.errstate(all="ignore"):
            value = np.asarray(combine(first, second), dtype=first.dtype)
        return getattr(op, combined_op)(x, op.initializer(tensor(value), name="folded"))


def _rules() -> list[RewriteRule]:
    rules: list[RewriteRule] = []
    for inner, outer in _COMBINE:
        rule = _ConstantChain.rule(inner, outer)
        commutes = inner in ("Add", "Mul") or outer in ("Add", "Mul")
        rules.extend(rule.commute() if commutes else [rule])
    return rules


_RULES = _rules()


@register
class FuseConstantChains(RuleFusionPass):
    """Fold two consecutive Add/Sub (or Mul/Div) by constants into one op with a combined constant.

    Matches: ``(x ± a) ± b`` and ``(x * a) * b`` (either operand order for Add and Mul),
    and for floats ``(x * a) / b``, ``(x / a) * b``, ``(x / a) / b`` with nonzero divisors,
    where a and b are true constants of x's numeric dtype and x is not constant, the
    intermediate read only by the outer op. Emits ``x + (a + b)`` / ``x - (a + b)`` /
    ``x * (a * b)`` / ``x * (a / b)`` / ``x * (b / a)`` / ``x / (a * b)``; the combined
    constant keeps x's dtype and broadcasts to the same result shape. Leaves alone: integer
    division, ``a / x``, mixed dtypes, constants computed at run time. Lossless: integer
    arithmetic wraps exactly as before; floats are equal up to rounding.
    """

    name = "fuse_constant_chains"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES
