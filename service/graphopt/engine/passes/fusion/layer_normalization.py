"""Pass ``fuse_layer_normalization``: the decomposed LayerNorm subgraph -> LayerNormalization."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, int_attr, ints_attr, static_shape
from graphopt.engine.passes.fusion.rewriting import (
    MS_DOMAIN,
    ONNXRUNTIME,
    RuleFusionPass,
    near_scalar,
    tensor,
)
from graphopt.engine.passes.registry import register

_TYPES = frozenset({ir.DataType.FLOAT, ir.DataType.DOUBLE})
_SKIP_TYPES = frozenset({ir.DataType.FLOAT, ir.DataType.FLOAT16})


def reduced_axes(node: ir.Node, rank: int) -> list[int] | None:
    """A ReduceMean's normalized axes (attribute or constant input), or None."""
    if int_attr(node, "keepdims", 1) != 1:
        return None
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        array = const_array(node.inputs[1])
        axes = array.reshape(-1).tolist() if array is not None else None
    else:
        axes = ints_attr(node, "axes")
    if not axes:
        return None
    return sorted(a % rank for a in axes)


class _DecomposedLayerNorm(RewriteRuleClassBase):
    """``(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps)`` over trailing axes."""

    def __init__(self, reciprocal: bool, power: bool) -> None:
        super().__init__(name="LayerNormalization fused")
        self.reciprocal, self.power = reciprocal, power

    def pattern(self, op, x, eps, two):
        mean = op.ReduceMean(
            x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["mean"]
        )
        d = op.Sub(x, mean)
        square = op.Pow(d, two) if self.power else op.Mul(d, d)
        var = op.ReduceMean(
            square, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["var"]
        )
        std = op.Sqrt(op.Add(var, eps))
        return op.Mul(d, op.Reciprocal(std)) if self.reciprocal else op.Div(d, std)

    def check(self, context, x, eps, mean, var, two=None, **_):  # type: ignore[override]
        result = MatchResult()
        if self.power and not near_scalar(two, 2.0, x):
            return result.fail("not a square")
        shape = static_shape(x)
        epsilon = const_array(eps)
        if x.dtype not in _TYPES or shape is None or not shape:
            return result.fail("input not float/double with a static shape")
        if epsilon is None or epsilon.size != 1:
            return result.fail("epsilon not a constant scalar")
        rank = len(shape)
        axes = reduced_axes(mean.producer(), rank)
        if axes is None or axes != reduced_axes(var.producer(), rank):
            return result.fail("reductions differ")
        if axes != list(range(rank - len(axes), rank)):
            return result.fail("not a reduction over trailing axes")
        return result

    def rewrite(self, op, x, eps, mean, **_):
        shape = static_shape(x)
        assert shape is not None
        axes = reduced_axes(mean.producer(), len(shape))
        assert axes is not None
        scale = op.initializer(tensor(np.ones(shape[axes[0] :]), x), name="ln_scale")
        return op.LayerNormalization(
            x,
            scale,
            axis=axes[0],
            epsilon=float(const_array(eps).reshape(-1)[0]),  # type: ignore[union-attr]
            stash_type=1,
        )


class AffineAfterNorm(RewriteRuleClassBase):
    """``N(x, 1) * s`` -> ``N(x, s)``; ``N(x, s) + b`` -> ``N(x, s, b)`` (N a normalization op).

    ``norm`` is LayerNormalization (scale and bias) or an RMS normalization (scale only).
    """

    def __init__(self, op_type: str, norm: str = "LayerNormalization") -> None:
        super().__init__(name=f"{op_type} folded into {norm}")
        self.op_type, self.norm = op_type, norm

    def pattern(self, op, x, scale, c):
        ln = getattr(op, self.norm)(
            x, scale, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["ln"]
        )
        return getattr(op, self.op_type)(ln, c)

    def check(self, context, x, scale, c, ln, **_):  # type: ignore[override]
        result = MatchResult()
        node = ln.producer()
        shape, operand, gamma = static_shape(x), const_array(c), const_array(scale)
        if len(node.outputs) != 1 or shape is None or operand is None or gamma is None:
            return result.fail("not a single-output normalization with constant operand")
        axis = int_attr(node, "axis", -1) % len(shape)
        normalized = shape[axis:]
        if operand.dtype != gamma.dtype or operand.ndim > len(normalized):
            return result.fail("operand would broadcast beyond the normalized axes")
        if np.broadcast_shapes(operand.shape, normalized) != normalized:
            return result.fail("operand does not broadcast to the normalized shape")
        has_bias = len(node.inputs) > 2 and node.inputs[2] is not None
        if self.op_type == "Mul" and (has_bias or not np.all(gamma == 1)):
            return result.fail("LayerNormalization already scaled or biased")
        if self.op_type == "Add" and has_bias:
            return result.fail("LayerNormalization already biased")
        return result

    def rewrite(self, op, x, scale, c, ln, **_):
        node = ln.producer()
        shape = static_shape(x)
        assert shape is not None
        normalized = shape[int_attr(node, "axis", -1) % len(shape) :]
        operand = np.broadcast_to(const_array(c), normalized)  # type: ignore[arg-type]
        value = op.initializer(
            tensor(operand.copy()), name="ln_scale" if self.op_type == "Mul" else "ln_bias"
        )
        norm = getattr(op, self.norm)
        if self.op_type == "Mul":
            return norm(x, value, **node.attributes)
        return norm(x, scale, value, **node.attributes)


class _SkipLayerNorm(RewriteRuleClassBase):
    """``LayerNormalization(a + b, gamma[, beta])`` over the last axis -> SkipLayerNormalization."""

    def pattern(self, op, a, b, scale):
        return op.LayerNormalization(
            op.Add(a, b),
            scale,
            _allow_other_inputs=True,
            _allow_other_attributes=True,
            _outputs=["ln"],
        )

    def check(self, context, a, b, scale, ln, **_):  # type: ignore[override]
        result = MatchResult()
        node = ln.producer()
        shape = static_shape(a)
        if a.dtype not in _SKIP_TYPES or shape is None or len(shape) not in (2, 3):
            return result.fail("not a 2-D or 3-D float input of static shape")
        if static_shape(b) != shape or len(node.outputs) != 1:
            return result.fail("skip shape differs, or mean/inv-std outputs are read")
        if int_attr(node, "axis", -1) % len(shape) != len(shape) - 1:
            return result.fail("not normalized over the last axis")
        for value in node.inputs[1:]:
            array = const_array(value) if value is not None else None
            if value is not None and (array is None or array.shape != shape[-1:]):
                return result.fail("scale or bias is not a constant vector")
        return result

    def rewrite(self, op, a, b, scale, ln, **_):
        node = ln.producer()
        epsilon = node.attributes.get_float("epsilon", 1e-5)
        return op.op(
            "SkipLayerNormalization",
            a,
            b,
            *node.inputs[1:],
            _domain=MS_DOMAIN,
            _version=1,
            epsilon=epsilon,
        )


_RULES: list[RewriteRule] = [
    *(_DecomposedLayerNorm.rule(reciprocal=False, power=p) for p in (True, False)),
    *(
        r
        for p in (True, False)
        for r in _DecomposedLayerNorm.rule(reciprocal=True, power=p).commute()
    ),
    *AffineAfterNorm.rule("Mul").commute(),
    *AffineAfterNorm.rule("Add").commute(),
]


_ORT_RULES: list[RewriteRule] = [
    *_RULES,
    *_SkipLayerNorm.rule(
        name="Add+LayerNormalization -> com.microsoft SkipLayerNormalization"
    ).commute(),
]


@register
class FuseLayerNormalization(RuleFusionPass):
    """Fuse the decomposed layer-norm subgraph (and the scale/bias after it) into LayerNormalization.

    Matches (opset >= 17; any opset for target ``onnxruntime``, which implements
    LayerNormalization in the default domain from opset 1): ``d = x - ReduceMean(x)``,
    ``v = ReduceMean(d^2 | d*d)``, ``d / Sqrt(v + eps)`` (or ``d * Reciprocal(...)``) with
    both ReduceMeans over the same trailing axes (attribute or constant input, keepdims=1),
    eps a constant scalar, x float or double with a static shape; then ``* scale`` and
    ``+ bias`` by constants that broadcast to the normalized shape. Intermediates must be
    read only inside the match. Emits ``LayerNormalization(x, scale, bias, axis, epsilon,
    stash_type=1)``. Target ``onnxruntime`` also turns ``LayerNormalization(a + b, gamma[,
    beta])`` over the last axis (a, b of one static 2-D or 3-D float/float16 shape, gamma
    and beta constant vectors, only the first output read) into
    ``com.microsoft.SkipLayerNormalization(a, b, gamma[, beta], epsilon)``.
    Leaves alone: float16 inputs of the decomposed form (the fused op would compute in
    float32), reductions over leading axes, non-constant eps/scale/bias. Lossless up to
    float rounding.
    """

    name = "fuse_layer_normalization"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        if target == ONNXRUNTIME:
            return _ORT_RULES
        return _RULES if opset >= 17 else []
