"""Pass ``fuse_pad``: a constant zero Pad folded into the ``pads`` of the Conv/pool after it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, int_attr, ints_attr, known_rank
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass
from graphopt.engine.passes.registry import register

_CONSUMERS = ("Conv", "AveragePool", "MaxPool")


def spatial_pads(pad: ir.Node, rank: int) -> list[int] | None:
    """The Pad's amounts on the spatial axes as ``[begin..., end...]``, or None.

    None unless the Pad is a constant-mode pad by non-negative constant amounts that
    leaves the batch and channel axes alone (pads from inputs, opset >= 11).
    """
    mode = pad.attributes.get_string("mode", "constant")
    if mode != "constant" or len(pad.inputs) < 2:
        return None
    amounts = const_array(pad.inputs[1])
    if amounts is None or amounts.ndim != 1:
        return None
    axes_value = pad.inputs[3] if len(pad.inputs) > 3 else None
    axes_array = const_array(axes_value) if axes_value is not None else None
    if axes_value is not None and axes_array is None:
        return None
    axes = (
        [int(a) % rank for a in axes_array.tolist()]
        if axes_array is not None
        else list(range(rank))
    )
    if len(amounts) != 2 * len(axes):
        return None
    full = np.zeros(2 * rank, dtype=np.int64)
    for i, axis in enumerate(axes):
        full[axis], full[axis + rank] = amounts[i], amounts[i + len(axes)]
    if np.any(full < 0) or full[0] or full[1] or full[rank] or full[rank + 1]:
        return None
    return [int(v) for k, v in enumerate(full) if k % rank >= 2]


def _pad_value_ok(pad: ir.Node, consumer: str) -> bool:
    value = pad.inputs[2] if len(pad.inputs) > 2 else None
    if consumer == "MaxPool":
        array = const_array(value) if value is not None else None
        return array is not None and array.size == 1 and bool(np.isneginf(array).all())
    if value is None:
        return True
    array = const_array(value)
    if array is None or array.size != 1:
        return False
    return bool(array.reshape(-1)[0] == 0)


class _PadInto(RewriteRuleClassBase):
    def __init__(self, consumer: str) -> None:
        super().__init__(name=f"Pad folded into {consumer}")
        self.consumer = consumer

    def pattern(self, op, x, pads):
        padded = op.Pad(x, pads, _allow_other_inputs=True, _outputs=["padded"])
        return getattr(op, self.consumer)(
            padded, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["out"]
        )

    def check(self, context, x, pads, padded, out, **_):  # type: ignore[override]
        result = MatchResult()
        pad, consumer = padded.producer(), out.producer()
        rank = known_rank(x)
        if rank is None or rank < 3:
            return result.fail("input rank unknown")
        if consumer.attributes.get_string("auto_pad", "NOTSET") != "NOTSET":
            return result.fail("consumer uses auto_pad")
        if consumer.op_type == "AveragePool" and not int_attr(consumer, "count_include_pad", 0):
            return result.fail("AveragePool does not count padding")
        if consumer.op_type == "MaxPool" and len(consumer.outputs) > 1:
            return result.fail("MaxPool indices would change")
        if consumer.op_type != "Conv" and int_attr(consumer, "ceil_mode", 0):
            return result.fail("ceil_mode windows may reach past the padding")
        if spatial_pads(pad, rank) is None or not _pad_value_ok(pad, consumer.op_type):
            return result.fail("Pad is not a foldable constant pad")
        return result

    def rewrite(self, op, x, pads, padded, out, **_):
        pad, consumer = padded.producer(), out.producer()
        rank = known_rank(x)
        assert rank is not None
        extra = spatial_pads(pad, rank)
        assert extra is not None
        own = ints_attr(consumer, "pads") or [0] * len(extra)
        attributes = dict(consumer.attributes)
        attributes.pop("auto_pad", None)
        attributes["pads"] = ir.AttrInt64s("pads", [a + b for a, b in zip(own, extra, strict=True)])
        return getattr(op, self.consumer)(x, *consumer.inputs[1:], **attributes)


_RULES = [_PadInto.rule(c) for c in _CONSUMERS]


@register
class FusePad(RuleFusionPass):
    """Fold a constant zero Pad of the spatial axes into the ``pads`` of the Conv or pool after it.

    Matches (opset >= 11): ``Conv|AveragePool|MaxPool(Pad(x, pads[, value][, axes]))`` where
    the Pad is constant-mode, its amounts are non-negative true constants that leave the
    batch and channel axes alone, its value is 0 (absent) for Conv and AveragePool with
    ``count_include_pad=1`` and -inf for MaxPool; the consumer has no ``auto_pad`` and the
    Pad output is read only by it. Emits the consumer with the Pad's amounts added to its
    own ``pads``. Leaves alone: reflect/edge pads, negative pads, AveragePool that excludes
    padding, MaxPool with an indices output, pools with ``ceil_mode``. Lossless.
    """

    name = "fuse_pad"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES if opset >= 11 else []
