"""Pass ``fuse_conv_input_affine``: a constant Mul/Add before an unpadded Conv folded into it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, int_attr, ints_attr
from graphopt.engine.passes.fusion.conv_affine import per_channel
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, tensor
from graphopt.engine.passes.registry import register

_MAX_ELEMENTS = 1 << 26


def unpadded(conv: ir.Node) -> bool:
    """Whether ``conv`` reads no padding (explicit zero pads or ``VALID``)."""
    auto_pad = conv.attributes.get_string("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return True
    return auto_pad == "NOTSET" and not any(ints_attr(conv, "pads") or [])


class _ConvOf(RewriteRuleClassBase):
    """``Conv(x <op> c, W[, B])`` with ``c`` constant per input channel, Conv unpadded."""

    def __init__(self, op_type: str) -> None:
        super().__init__(name=f"{op_type} by a per-channel constant folded into the next Conv")
        self.op_type = op_type

    def pattern(self, op, x, c, w):
        return op.Conv(
            getattr(op, self.op_type)(x, c),
            w,
            _allow_other_inputs=True,
            _allow_other_attributes=True,
            _outputs=["conv_out"],
        )

    def _vector(self, conv: ir.Node, weights: np.ndarray, operand: np.ndarray):
        group = int_attr(conv, "group", 1)
        if group != 1 and operand.size != 1:
            return None
        return per_channel(operand, weights.ndim, weights.shape[1] * group)

    def check(self, context, x, c, w, conv_out, **_):  # type: ignore[override]
        result = MatchResult()
        conv = conv_out.producer()
        weights, operand = const_array(w, _MAX_ELEMENTS), const_array(c)
        bias = conv.inputs[2] if len(conv.inputs) > 2 else None
        if weights is None or operand is None or const_array(x) is not None:
            return result.fail("weights or operand not constant, or input constant")
        if bias is not None and const_array(bias) is None:
            return result.fail("bias not constant")
        if weights.dtype.kind != "f" or operand.dtype != weights.dtype:
            return result.fail("operand dtype differs from the weights'")
        if not unpadded(conv):
            return result.fail("padding would see the operand's zeros")
        if self._vector(conv, weights, operand) is None:
            return result.fail("operand is not per input channel")
        return result

    def rewrite(self, op, x, c, w, conv_out, **_):
        conv = conv_out.producer()
        weights = const_array(w, _MAX_ELEMENTS).astype(np.float64)  # type: ignore[union-attr]
        vector = self._vector(conv, weights, const_array(c).astype(np.float64))  # type: ignore[union-attr]
        assert vector is not None
        bias_value = conv.inputs[2] if len(conv.inputs) > 2 else None
        bias = (
            const_array(bias_value).astype(np.float64)  # type: ignore[union-attr]
            if bias_value is not None
            else np.zeros(weights.shape[0])
        )
        group = int_attr(conv, "group", 1)
        if self.op_type == "Mul":
            column = vector[: weights.shape[1]] if group != 1 else vector
            scaled = weights * column.reshape(1, -1, *([1] * (weights.ndim - 2)))
            w_new = op.initializer(tensor(scaled, w), name=f"{w.name or 'w'}_scaled")
            return op.Conv(
                x, w_new, *([bias_value] if bias_value is not None else []), **conv.attributes
            )
        shift = vector[: weights.shape[1]] if group != 1 else vector
        spatial = tuple(range(2, weights.ndim))
        bias = bias + (weights.sum(axis=spatial) * shift).sum(axis=1)
        b_new = op.initializer(tensor(bias, w), name=f"{w.name or 'w'}_bias")
        return op.Conv(x, w, b_new, **conv.attributes)


_RULES: list[RewriteRule] = [r for op in ("Mul", "Add") for r in _ConvOf.rule(op).commute()]


@register
class FuseConvInputAffine(RuleFusionPass):
    """Fold a per-input-channel constant Mul or Add before an unpadded Conv into its weights/bias.

    Matches: ``Conv(x * a, W[, B])`` and ``Conv(x + b, W[, B])`` (either operand order) where
    W, B and the constant are true constants of W's float dtype, the constant broadcasts
    only along x's channel axis (a scalar when the Conv is grouped), x is not constant,
    the Conv has no padding (zero ``pads`` or ``auto_pad=VALID``) and the Mul/Add output is
    read only by the Conv. Emits ``Conv(x, W * a, B)`` (a scales input channel c of W) or
    ``Conv(x, W, B + sum over (c, k) of W[o, c, k] * b[c])``, computed in float64. Leaves
    alone: padded Convs (padding would see zeros, not ``a * 0 + b``), per-channel operands
    of grouped Convs, an intermediate read elsewhere. Lossless up to float rounding.
    """

    name = "fuse_conv_input_affine"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES
