"""Pass ``fuse_conv_affine``: per-channel constant Add/Sub/Mul/Div after a Conv folded into it."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array
from graphopt.engine.passes.fusion.batchnorm_folding import out_channels, scale_weights
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, tensor
from graphopt.engine.passes.registry import register

_MAX_ELEMENTS = 1 << 26


def per_channel(c: np.ndarray, rank: int, channels: int) -> np.ndarray | None:
    """``c`` as one value per channel of an ``(N, C, ...)`` tensor of ``rank``, or None.

    None when broadcasting ``c`` against such a tensor would touch anything but the
    channel axis (or grow the rank).
    """
    if c.ndim > rank:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(c.reshape(-1), (channels,))


class _ConvThen(RewriteRuleClassBase):
    """``<op>(P(x, W[, B]), c)`` with P Conv or ConvTranspose, ``c`` constant per channel."""

    def __init__(self, producer: str, op_type: str) -> None:
        super().__init__(name=f"{op_type} by a per-channel constant folded into {producer}")
        self.producer, self.op_type = producer, op_type

    def pattern(self, op, x, w, c):
        conv = getattr(op, self.producer)(x, w, _allow_other_inputs=True, _outputs=["conv_out"])
        return getattr(op, self.op_type)(conv, c)

    def check(self, context, x, w, c, conv_out, **_):  # type: ignore[override]
        result = MatchResult()
        weights, operand = const_array(w, _MAX_ELEMENTS), const_array(c)
        conv = conv_out.producer()
        bias = conv.inputs[2] if len(conv.inputs) > 2 else None
        if weights is None or operand is None or (bias is not None and const_array(bias) is None):
            return result.fail("weights, bias or operand not constant")
        if weights.dtype.kind != "f" or operand.dtype != weights.dtype:
            return result.fail("operand dtype differs from the weights'")
        channels = out_channels(conv, weights)
        vector = None if channels is None else per_channel(operand, weights.ndim, channels)
        if vector is None:
            return result.fail("operand is not per-channel")
        if self.op_type == "Div" and not np.all(vector != 0):
            return result.fail("division by zero")
        return result

    def rewrite(self, op, x, w, c, conv_out, **_):
        conv = conv_out.producer()
        weights = const_array(w, _MAX_ELEMENTS).astype(np.float64)  # type: ignore[union-attr]
        channels = out_channels(conv, weights)
        assert channels is not None
        vector = per_channel(const_array(c).astype(np.float64), weights.ndim, channels)  # type: ignore[union-attr]
        assert vector is not None
        bias_value = conv.inputs[2] if len(conv.inputs) > 2 else None
        bias = (
            const_array(bias_value).astype(np.float64)  # type: ignore[union-attr]
            if bias_value is not None
            else np.zeros(channels)
        )
        if self.op_type == "Add":
            bias = bias + vector
        elif self.op_type == "Sub":
            bias = bias - vector
        elif self.op_type == "Mul":
            weights, bias = scale_weights(conv, weights, vector), bias * vector
        else:
            weights, bias = scale_weights(conv, weights, 1.0 / vector), bias / vector
        w_new = (
            w
            if self.op_type in ("Add", "Sub")
            else op.initializer(tensor(weights, w), name=f"{w.name or 'w'}_scaled")
        )
        b_new = op.initializer(tensor(bias, w), name=f"{w.name or 'w'}_bias")
        return getattr(op, self.producer)(x, w_new, b_new, **conv.attributes)


_RULES: list[RewriteRule] = list(
    itertools.chain.from_iterable(
        _ConvThen.rule(producer, op_type).commute()
        if op_type in ("Add", "Mul")
        else [_ConvThen.rule(producer, op_type)]
        for producer in ("Conv", "ConvTranspose")
        for op_type in ("Add", "Sub", "Mul", "Div")
    )
)


@register
class FuseConvAffine(RuleFusionPass):
    """Fold Add/Sub/Mul/Div by a per-output-channel constant after a Conv into its weights and bias.

    Matches: ``P(x, W[, B]) <op> c`` (and ``c <op> P(...)`` for Add and Mul), P a Conv or
    ConvTranspose (grouped included), where W, B and c are true constants of W's float
    dtype and c broadcasts only along the channel axis (shapes ``[C]``-like after
    alignment: ``(C,1,1)``, ``(1,C,1,1)``, scalars); the P output is read only by that
    op. Emits one P with ``B' = B + c`` (Add),
    ``B - c`` (Sub), ``W * c, B * c`` (Mul) or ``W / c, B / c`` (Div, c nowhere 0),
    computed in float64. Leaves alone: constants that broadcast over batch or spatial
    axes or would grow the rank, ``c - P``/``c / P``, a P output read elsewhere.
    Lossless up to float rounding.
    """

    name = "fuse_conv_affine"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES
