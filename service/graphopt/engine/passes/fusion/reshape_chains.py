"""Pass ``fuse_reshapes``: chains of shape-only ops collapsed into one Reshape/Unsqueeze."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.constants import const_array, int_attr, known_rank
from graphopt.engine.passes.fusion.rewriting import RuleFusionPass, tensor
from graphopt.engine.passes.registry import register

_SHAPE_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


class _ShapeOpThenReshape(RewriteRuleClassBase):
    """``Reshape(<shape op>(x, ...), s)`` -> ``Reshape(x, s)`` when ``s`` has no copied dims."""

    def __init__(self, inner: str) -> None:
        super().__init__(name=f"{inner}+Reshape collapsed")
        self.inner = inner

    def pattern(self, op, x, shape):
        inner = getattr(op, self.inner)(
            x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["inner"]
        )
        return op.Reshape(inner, shape, _allow_other_attributes=True, _outputs=["outer"])

    def check(self, context, x, shape, inner, outer):
        result = MatchResult()
        target = const_array(shape)
        if target is None or target.ndim != 1:
            return result.fail("target shape not constant")
        if not int_attr(outer.producer(), "allowzero", 0) and bool(np.any(target == 0)):
            return result.fail("target copies dimensions of the intermediate")
        return result

    def rewrite(self, op, x, shape, inner, outer):
        return op.Reshape(x, shape, **outer.producer().attributes)


def merged_unsqueeze_axes(rank: int, first: list[int], second: list[int]) -> list[int]:
    """Axes of one Unsqueeze equal to ``Unsqueeze(Unsqueeze(x, first), second)``."""
    middle = rank + len(first)
    final = middle + len(second)
    second_n = sorted(a % final for a in second)
    first_n = sorted(a % middle for a in first)
    kept = [k for k in range(final) if k not in second_n]
    return sorted([*second_n, *(kept[a] for a in first_n)])


class _UnsqueezeUnsqueeze(RewriteRuleClassBase):
    def pattern(self, op, x, first, second):
        return op.Unsqueeze(op.Unsqueeze(x, first), second)

    def check(self, context, x, first, second):
        result = MatchResult()
        if known_rank(x) is None or const_array(first) is None or const_array(second) is None:
            return result.fail("rank or axes unknown")
        return result

    def rewrite(self, op, x, first, second):
        rank = known_rank(x)
        a, b = const_array(first), const_array(second)
        assert rank is not None and a is not None and b is not None
        axes = merged_unsqueeze_axes(rank, a.reshape(-1).tolist(), b.reshape(-1).tolist())
        return op.Unsqueeze(x, op.initializer(tensor(np.array(axes, np.int64)), name="axes"))


@register
class FuseReshapes(RuleFusionPass):
    """Collapse chains of Reshape/Flatten/Squeeze/Unsqueeze into a single op.

    Matches: ``Reshape(S(x, ...), s)`` with S any of Reshape, Flatten, Squeeze, Unsqueeze and
    ``s`` a constant target without 0 entries (or ``allowzero=1``), which makes the
    intermediate shape irrelevant; and (opset >= 13) ``Unsqueeze(Unsqueeze(x, a), b)`` with
    constant axes and a known input rank. The intermediate must be read only by the outer
    op. Emits ``Reshape(x, s)`` or one ``Unsqueeze`` with the merged axes. Leaves alone:
    targets with 0 (they copy a dimension of the intermediate), dynamic targets. Lossless.
    """

    name = "fuse_reshapes"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        if opset < 5:
            return []
        rules = [_ShapeOpThenReshape.rule(op) for op in _SHAPE_OPS]
        if opset >= 13:
            rules.append(_UnsqueezeUnsqueeze.rule(name="Unsqueeze pair merged"))
        return rules
