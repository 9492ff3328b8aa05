"""Pass ``fuse_batchnorm``: inference BatchNormalization folded into the producer's weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, int_attr
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, tensor
from graphopt.engine.passes.registry import register

_MAX_ELEMENTS = 1 << 26


def _weights_axis(producer: ir.Node) -> int:
    """The axis of the weight tensor that indexes output channels."""
    if producer.op_type == "Gemm":
        return 0 if int_attr(producer, "transB", 0) else 1
    return 0


def out_channels(producer: ir.Node, weights: np.ndarray) -> int | None:
    """How many output channels Conv, ConvTranspose or Gemm ``producer`` has, or None."""
    if producer.op_type == "ConvTranspose":
        group = int_attr(producer, "group", 1)
        return weights.shape[1] * group if weights.shape[0] % group == 0 else None
    return int(weights.shape[_weights_axis(producer)])


def scale_weights(producer: ir.Node, weights: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``producer``'s weights with output channel ``k`` multiplied by ``factor[k]``."""
    if producer.op_type == "ConvTranspose":
        group = int_attr(producer, "group", 1)
        cin, cout_g = weights.shape[:2]
        grouped = weights.reshape(group, cin // group, cout_g, *weights.shape[2:])
        f = factor.reshape(group, 1, cout_g, *([1] * (weights.ndim - 2)))
        return (grouped * f).reshape(weights.shape)
    shape = [1] * weights.ndim
    shape[_weights_axis(producer)] = -1
    return weights * factor.reshape(shape)


class _FoldBatchNorm(RewriteRuleClassBase):
    """``BatchNormalization(<producer>(x, W[, B]))`` -> ``<producer>(x, W', B')``."""

    producer: ClassVar[str]

    def pattern(self, op, x, w, bn_scale, bn_bias, mean, var):
        out = getattr(op, self.producer)(x, w, _allow_other_inputs=True, _outputs=["inner"])
        return op.BatchNormalization(out, bn_scale, bn_bias, mean, var, _outputs=["bn_out"])

    def check(self, context, x, w, bn_scale, bn_bias, mean, var, inner, bn_out, **_):  # type: ignore[override]
        result = MatchResult()
        producer, bn = inner.producer(), bn_out.producer()
        if len(bn.outputs) != 1:
            return result.fail("BatchNormalization in training mode (several outputs)")
        if bn.op_type != "BatchNormalization" or int_attr(bn, "training_mode", 0):
            return result.fail("BatchNormalization in training mode")
        operands = [w, bn_scale, bn_bias, mean, var]
        if len(producer.inputs) > 2 and producer.inputs[2] is not None:
            operands.append(producer.inputs[2])
        if len(producer.inputs) > 3:
            return result.fail("unexpected producer inputs")
        arrays = [const_array(v, _MAX_ELEMENTS) for v in operands]
        if any(a is None for a in arrays):
            return result.fail("weights or batch-norm statistics are not constant")
        weights = arrays[0]
        assert weights is not None
        if weights.dtype.kind != "f" or weights.ndim < 2:
            return result.fail("weights are not a float tensor of rank >= 2")
        channels = out_channels(producer, weights)
        if channels is None or any(a is not None and a.size != channels for a in arrays[1:]):
            return result.fail("per-channel sizes do not agree")
        if producer.op_type == "Gemm" and (x.shape is None or len(x.shape) != 2):
            return result.fail("Gemm input rank unknown")
        bias_shape = arrays[5].shape if len(arrays) > 5 else None  # type: ignore[union-attr]
        if producer.op_type == "Gemm" and bias_shape not in (None, (channels,), (1, channels)):
            return result.fail("Gemm bias is not one value per output column")
        return result

    def rewrite(self, op, x, w, bn_scale, bn_bias, mean, var, inner, bn_out, **_):
        producer, bn = inner.producer(), bn_out.producer()
        eps = bn.attributes.get_float("epsilon", 1e-5)
        weights = const_array(w, _MAX_ELEMENTS)
        gamma, beta, mu, sigma2 = (
            const_array(v).astype(np.float64)  # type: ignore[union-attr]
            for v in (bn_scale, bn_bias, mean, var)
        )
        assert weights is not None
        factor = gamma / np.sqrt(sigma2 + eps)
        attributes = dict(producer.attributes)
        bias_value = producer.inputs[2] if len(producer.inputs) > 2 else None
        bias = (
            const_array(bias_value).astype(np.float64).reshape(-1)  # type: ignore[union-attr]
            if bias_value is not None
            else np.zeros_like(mu)
        )
        if producer.op_type == "Gemm":
            bias = bias * attributes.pop("beta").as_float() if "beta" in attributes else bias
            bias = np.broadcast_to(bias, factor.shape)
        new_w = scale_weights(producer, weights.astype(np.float64), factor)
        new_b = (bias - mu) * factor + beta
        w_value = op.initializer(tensor(new_w, w), name=f"{w.name or 'w'}_bn")
        b_value = op.initializer(tensor(new_b, w), name=f"{w.name or 'w'}_bn_bias")
        return op.op(self.producer, x, w_value, b_value, **attributes)


class _FoldIntoConv(_FoldBatchNorm):
    producer = "Conv"


class _FoldIntoConvTranspose(_FoldBatchNorm):
    producer = "ConvTranspose"


class _FoldIntoGemm(_FoldBatchNorm):
    producer = "Gemm"


_RULES = [
    _FoldIntoConv.rule(name="BatchNormalization folded into Conv"),
    _FoldIntoConvTranspose.rule(name="BatchNormalization folded into ConvTranspose"),
    _FoldIntoGemm.rule(name="BatchNormalization folded into Gemm"),
]


@register
class FuseBatchNorm(RuleFusionPass):
    """Fold an inference-mode BatchNormalization into the Conv, ConvTranspose or Gemm before it.

    Matches: ``BatchNormalization(P(x, W[, B]))`` with P in {Conv, ConvTranspose, Gemm},
    single-output (inference) BatchNormalization, W, B and the four statistics true
    constants (initializers that are not graph inputs, or Constant nodes), one scale per
    output channel, P's output read only by the BatchNormalization.
    Emits: ``P(x, W * s, (B - mean) * s + beta)`` with ``s = scale / sqrt(var + eps)``
    computed in float64 and stored in W's dtype (Gemm's ``beta`` is folded into the bias).
    Leaves alone: training-mode BatchNormalization, non-constant weights, a producer output
    that is also read elsewhere or is a graph output. Lossless up to float rounding.
    """

    name = "fuse_batchnorm"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES
