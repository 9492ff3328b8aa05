"""Pass ``fuse_gelu``: the erf and tanh forms of GELU -> one Gelu (FastGelu, BiasGelu) node."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, static_shape
from graphopt.engine.passes.fusion.rewriting import (
    MS_DOMAIN,
    ONNXRUNTIME,
    RuleFusionPass,
    near_scalar,
)
from graphopt.engine.passes.registry import register

_TYPES = frozenset({ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16})
_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class _Gelu(RewriteRuleClassBase):
    """``0.5 * x * (1 + f(x))`` in its usual operand orders, f the erf or tanh form.

    ``variant`` picks how f is written: erf of ``x / sqrt(2)`` ("div") or ``x * (1/sqrt(2))``
    ("mul"); tanh with ``x^3`` as ``Pow(x, 3)`` ("pow") or ``x * x * x`` ("mul").
    """

    def __init__(self, approximate: str, variant: str, half_first: bool, target: str) -> None:
        form = "erf" if approximate == "none" else "tanh"
        emitted = "com.microsoft " if target == ONNXRUNTIME else ""
        emitted += (
            ("Gelu" if approximate == "none" else "FastGelu") if target == ONNXRUNTIME else "Gelu"
        )
        super().__init__(name=f"GELU ({form} form) -> {emitted}")
        self.approximate, self.variant = approximate, variant
        self.half_first, self.target = half_first, target

    def _inner(self, op, x, k1, k2, k3):
        if self.approximate == "none":
            return op.Erf(op.Div(x, k1) if self.variant == "div" else op.Mul(x, k1))
        cube = op.Pow(x, k3) if self.variant == "pow" else op.Mul(op.Mul(x, x), x)
        return op.Tanh(op.Mul(op.Add(x, op.Mul(cube, k2)), k1))

    def pattern(self, op, x, k1, k2, k3, one, half):
        one_plus = op.Add(self._inner(op, x, k1, k2, k3), one)
        if self.half_first:
            return op.Mul(op.Mul(x, half), one_plus)
        return op.Mul(op.Mul(x, one_plus), half)

    def _constants(self) -> dict[str, float]:
        if self.approximate == "none":
            return {"k1": _SQRT2 if self.variant == "div" else 1.0 / _SQRT2}
        wanted = {"k1": _SQRT_2_OVER_PI, "k2": 0.044715}
        return {**wanted, "k3": 3.0} if self.variant == "pow" else wanted

    def check(self, context, x, one, half, **values):  # type: ignore[override]
        result = MatchResult()
        if x.dtype not in _TYPES:
            return result.fail("not a float type")
        wanted = {"one": 1.0, "half": 0.5, **self._constants()}
        found = {"one": one, "half": half, **values}
        if not all(near_scalar(found[name], want, x) for name, want in wanted.items()):
            return result.fail("constants are not GELU's")
        return result

    def rewrite(self, op, x, **_):
        if self.target == ONNXRUNTIME:
            op_type = "Gelu" if self.approximate == "none" else "FastGelu"
            return op.op(op_type, x, _domain=MS_DOMAIN, _version=1)
        return op.Gelu(x, approximate=self.approximate)


def _rules(target: str) -> list[RewriteRule]:
    return list(
        itertools.chain.from_iterable(
            _Gelu.rule(approximate, variant, half_first, target).commute()
            for approximate, variants in (("none", ("div", "mul")), ("tanh", ("pow", "mul")))
            for variant in variants
            for half_first in (True, False)
        )
    )


class _BiasGelu(RewriteRuleClassBase):
    """``com.microsoft.Gelu|FastGelu(x + b)`` -> ``BiasGelu(x, b)`` / ``FastGelu(x, b)``."""

    def __init__(self, op_type: str) -> None:
        fused = "BiasGelu" if op_type == "Gelu" else "FastGelu"
        super().__init__(name=f"bias Add folded into com.microsoft {fused}")
        self.op_type = op_type

    def pattern(self, op, x, b):
        return getattr(op, self.op_type)(op.Add(x, b), _domain=MS_DOMAIN)

    def check(self, context, x, b, **_):  # type: ignore[override]
        result = MatchResult()
        bias, shape = const_array(b), static_shape(x)
        if x.dtype != ir.DataType.FLOAT or bias is None or not shape:
            return result.fail("not a float32 input of static shape with a constant bias")
        if bias.shape != (shape[-1],):
            return result.fail("bias is not one value per element of the last axis")
        return result

    def rewrite(self, op, x, b, **_):
        fused = "BiasGelu" if self.op_type == "Gelu" else "FastGelu"
        return op.op(fused, x, b, _domain=MS_DOMAIN, _version=1)


class _Silu(RewriteRuleClassBase):
    """``x * Sigmoid(x)`` (SiLU / swish) -> ``com.microsoft.QuickGelu(x, alpha=1)``."""

    def pattern(self, op, x):
        return op.Mul(x, op.Sigmoid(x))

    def check(self, context, x, **_):  # type: ignore[override]
        result = MatchResult()
        if x.dtype != ir.DataType.FLOAT:
            return result.fail("QuickGelu runs float32 only")
        return result

    def rewrite(self, op, x, **_):
        return op.op("QuickGelu", x, _domain=MS_DOMAIN, _version=1, alpha=1.0)


@functools.cache
def _rules_for(target: str) -> list[RewriteRule]:
    """Built on first use: the commuted forms take ~0.4 s, not worth paying at import."""
    if target != ONNXRUNTIME:
        return _rules(target)
    return [
        *_rules(ONNXRUNTIME),
        *(r for op_type in ("Gelu", "FastGelu") for r in _BiasGelu.rule(op_type).commute()),
        *_Silu.rule(name="SiLU -> com.microsoft QuickGelu").commute(),
    ]


@register
class FuseGelu(RuleFusionPass):
    """Fuse the exact (erf) and tanh-approximated GELU subgraphs into one node.

    Matches: ``0.5 * x * (1 + Erf(x / sqrt(2)))`` (or ``x * (1/sqrt(2))``) and
    ``0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`` (``x^3`` as Pow or two Muls)
    in the operand orders exporters emit (``(x * 0.5) * (1 + f)``, ``(x * (1 + f)) * 0.5``
    and their commuted forms); scalar or ``[1]`` constants matched to 1e-5 relative; float,
    double or float16 inputs; intermediates read only inside the match.
    Emits: target ``portable``, opset >= 20: ``Gelu(x, approximate="none"|"tanh")``;
    target ``onnxruntime`` (any opset): ``com.microsoft.Gelu`` / ``com.microsoft.FastGelu``,
    and a float32 bias Add before them (constant, one value per element of the last axis)
    folded in: ``com.microsoft.BiasGelu(x, b)`` / ``com.microsoft.FastGelu(x, b)``; and
    float32 SiLU ``x * Sigmoid(x)`` -> ``com.microsoft.QuickGelu(x, alpha=1)`` (which
    computes ``x * sigmoid(alpha * x)``).
    Leaves alone: portable models below opset 20. Lossless up to float rounding.
    """

    name = "fuse_gelu"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        if target == ONNXRUNTIME:
            return _rules_for(ONNXRUNTIME)
        return _rules_for("portable") if opset >= 20 else []
