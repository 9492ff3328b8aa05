"""Pass ``fuse_rms_normalization``: ``x / sqrt(mean(x^2) + eps)`` -> an RMS normalization op."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, static_shape
from graphopt.engine.passes.fusion.layer_normalization import AffineAfterNorm, reduced_axes
from graphopt.engine.passes.fusion.rewriting import (
    ONNXRUNTIME,
    RuleFusionPass,
    near_scalar,
    tensor,
)
from graphopt.engine.passes.registry import register

_TYPES = frozenset({ir.DataType.FLOAT, ir.DataType.DOUBLE})


class _DecomposedRmsNorm(RewriteRuleClassBase):
    """``x * Reciprocal(Sqrt(ReduceMean(x^2) + eps))`` or ``x / Sqrt(...)`` over trailing axes."""

    def __init__(self, norm: str, reciprocal: bool, power: bool) -> None:
        super().__init__(name=f"RMS normalization -> {norm}")
        self.norm, self.reciprocal, self.power = norm, reciprocal, power

    def pattern(self, op, x, eps, two):
        square = op.Pow(x, two) if self.power else op.Mul(x, x)
        var = op.ReduceMean(
            square, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["var"]
        )
        std = op.Sqrt(op.Add(var, eps))
        return op.Mul(x, op.Reciprocal(std)) if self.reciprocal else op.Div(x, std)

    def check(self, context, x, eps, var, two=None, **_):  # type: ignore[override]
        result = MatchResult()
        shape, epsilon = static_shape(x), const_array(eps)
        if x.dtype not in _TYPES or not shape:
            return result.fail("input not float/double with a static shape")
        if self.power and not near_scalar(two, 2.0, x):
            return result.fail("not a square")
        if epsilon is None or epsilon.size != 1:
            return result.fail("epsilon not a constant scalar")
        axes = reduced_axes(var.producer(), len(shape))
        if axes is None or axes != list(range(len(shape) - len(axes), len(shape))):
            return result.fail("not a reduction over trailing axes")
        return result

    def rewrite(self, op, x, eps, var, **_):
        shape = static_shape(x)
        assert shape is not None
        axes = reduced_axes(var.producer(), len(shape))
        assert axes is not None
        scale = op.initializer(tensor(np.ones(shape[axes[0] :]), x), name="rms_scale")
        epsilon = float(const_array(eps).reshape(-1)[0])  # type: ignore[union-attr]
        return getattr(op, self.norm)(x, scale, axis=axes[0], epsilon=epsilon, stash_type=1)


def _rules(norm: str) -> list[RewriteRule]:
    rules = [
        rule
        for reciprocal in (True, False)
        for power in (True, False)
        for rule in _DecomposedRmsNorm.rule(norm, reciprocal, power).commute()
    ]
    return [*rules, *AffineAfterNorm.rule("Mul", norm).commute()]


_RULES = {
    "portable": _rules("RMSNormalization"),
    ONNXRUNTIME: _rules("SimplifiedLayerNormalization"),
}


@register
class FuseRmsNormalization(RuleFusionPass):
    """Fuse the decomposed RMS normalization (and the scale after it) into one op.

    Matches: ``x * Reciprocal(Sqrt(ReduceMean(x^2) + eps))`` or ``x / Sqrt(...)`` (``x^2``
    as ``Pow(x, 2)`` or ``x * x``; either Mul operand order) with the ReduceMean over
    trailing axes (attribute or constant input, keepdims=1), eps a constant scalar, x
    float or double with a static shape; then ``* scale`` by a constant that broadcasts to
    the normalized shape. Intermediates must be read only inside the match.
    Emits: target ``portable``, opset >= 23: ``RMSNormalization(x, scale, axis, epsilon,
    stash_type=1)``; target ``onnxruntime`` (any opset):
    ``SimplifiedLayerNormalization(x, scale, axis, epsilon, stash_type=1)`` (default domain,
    implemented by onnxruntime). Leaves alone: portable models below opset 23, float16
    inputs, reductions over leading axes. Lossless up to float rounding.
    """

    name = "fuse_rms_normalization"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        if target == ONNXRUNTIME:
            return _RULES[ONNXRUNTIME]
        return _RULES["portable"] if opset >= 23 else []
