"""Pass ``fuse_conv_activation``: Conv + activation -> com.microsoft FusedConv (onnxruntime target)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array
from graphopt.engine.passes.fusion.rewriting import MS_DOMAIN, ONNXRUNTIME, RuleFusionPass
from graphopt.engine.passes.registry import register

_ACTIVATIONS = ("Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "Clip")


def activation_params(node: ir.Node) -> list[float] | None:
    """FusedConv's ``activation_params`` for an activation node, or None if unsupported."""
    if node.op_type == "LeakyRelu":
        return [node.attributes.get_float("alpha", 0.01)]
    if node.op_type == "HardSigmoid":
        return [node.attributes.get_float("alpha", 0.2), node.attributes.get_float("beta", 0.5)]
    if node.op_type == "Clip":
        bounds = []
        for index in (1, 2):
            value = node.inputs[index] if len(node.inputs) > index else None
            array = const_array(value) if value is not None else None
            if value is None or array is None or array.size != 1:
                return None  # FusedConv needs both bounds
            bounds.append(float(array.reshape(-1)[0]))
        return bounds
    return []


class _ConvActivation(RewriteRuleClassBase):
    def __init__(self, activation: str) -> None:
        super().__init__(name=f"Conv+{activation} -> com.microsoft FusedConv")
        self.activation = activation

    def pattern(self, op, x, w):
        conv = op.Conv(x, w, _allow_other_inputs=True, _outputs=["conv_out"])
        return getattr(op, self.activation)(
            conv, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["act_out"]
        )

    def check(self, context, x, w, conv_out, act_out):
        result = MatchResult()
        if x.dtype != ir.DataType.FLOAT:
            return result.fail("FusedConv runs float32 only")
        if self.activation == "Clip" and activation_params(act_out.producer()) is None:
            return result.fail("Clip bounds not both constant scalars")
        return result

    def rewrite(self, op, x, w, conv_out, act_out):
        conv, act = conv_out.producer(), act_out.producer()
        params = activation_params(act)
        attributes = dict(conv.attributes)
        attributes["activation"] = ir.AttrString("activation", self.activation)
        if params:
            attributes["activation_params"] = ir.AttrFloat32s("activation_params", params)
        return op.op("FusedConv", *conv.inputs, _domain=MS_DOMAIN, _version=1, **attributes)


_RULES = [_ConvActivation.rule(a) for a in _ACTIVATIONS]


@register
class FuseConvActivation(RuleFusionPass):
    """Fuse a float Conv and the activation after it into onnxruntime's FusedConv.

    Matches (target ``onnxruntime`` only): ``A(Conv(x, W[, B]))`` with A one of Relu,
    LeakyRelu, Sigmoid, Tanh, HardSigmoid, or Clip with constant scalar bounds; float32;
    the Conv output read only by A. Emits ``com.microsoft.FusedConv`` with the Conv's
    attributes plus ``activation`` and ``activation_params``. Leaves alone: portable
    targets (FusedConv is not a standard op), other activations and dtypes. Lossless.
    """

    name = "fuse_conv_activation"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES if target == ONNXRUNTIME else []
