"""Pass ``fuse_matmul_add``: 2-D MatMul + Add (and 2-D Transposes of its operands) -> Gemm."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase

from graphopt.engine.passes.fusion.rewriting import RuleFusionPass
from graphopt.engine.passes.registry import register

_GEMM_TYPES = frozenset({ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16})


def _rank2_dims(value: ir.Value) -> tuple[int | None, int | None] | None:
    if value.shape is None or len(value.shape) != 2:
        return None
    return tuple(d if isinstance(d, int) else None for d in value.shape.dims)  # type: ignore[return-value]


class _MatMulAdd(RewriteRuleClassBase):
    """``Add(MatMul(A', B'), C)`` where A'/B' may be 2-D Transposes of A/B."""

    def __init__(self, trans_a: bool, trans_b: bool) -> None:
        flags = "".join(f for f, on in (("A", trans_a), ("B", trans_b)) if on)
        super().__init__(name="MatMul+Add -> Gemm" + (f" (trans{flags})" if flags else ""))
        self.trans_a, self.trans_b = trans_a, trans_b

    def pattern(self, op, a, b, c):
        left = op.Transpose(a, perm=[1, 0]) if self.trans_a else a
        right = op.Transpose(b, perm=[1, 0]) if self.trans_b else b
        return op.Add(op.MatMul(left, right, _outputs=["product"]), c)

    def check(self, context, a, b, c, product, **_):  # type: ignore[override]
        result = MatchResult()
        dims_a, dims_b = _rank2_dims(a), _rank2_dims(b)
        if dims_a is None or dims_b is None:
            return result.fail("MatMul operands are not known to be 2-D")
        if a.dtype not in _GEMM_TYPES or a.dtype != c.dtype:
            return result.fail("dtype unsupported by Gemm")
        m = dims_a[1] if self.trans_a else dims_a[0]
        n = dims_b[0] if self.trans_b else dims_b[1]
        if c.shape is None or len(c.shape) > 2:
            return result.fail("bias would broadcast the product to a higher rank")
        for dim, want in zip(reversed(c.shape.dims), (n, m), strict=False):
            if dim != 1 and (not isinstance(dim, int) or dim != want):
                return result.fail("bias does not broadcast to the product's shape")
        return result

    def rewrite(self, op, a, b, c, **_):
        attributes = {}
        if self.trans_a:
            attributes["transA"] = 1
        if self.trans_b:
            attributes["transB"] = 1
        return op.Gemm(a, b, c, **attributes)


_RULES: list[RewriteRule] = list(
    itertools.chain.from_iterable(
        _MatMulAdd.rule(ta, tb).commute()
        for ta, tb in ((True, True), (True, False), (False, True), (False, False))
    )
)


@register
class FuseMatMulAdd(RuleFusionPass):
    """Replace a 2-D MatMul followed by a bias Add with one Gemm, absorbing 2-D Transposes.

    Matches: ``Add(MatMul(A', B'), C)`` (either Add operand order) where A' is A or
    ``Transpose(A, perm=[1, 0])`` (likewise B'), A and B are known to be 2-D, the dtype is
    float, double or float16, and C broadcasts to the ``(M, N)`` product without growing
    it (shapes ``(N)``, ``(1, N)``, ``(M, 1)``, ``(M, N)``, scalars); the MatMul output (and
    a fused Transpose's) is read only inside the match.
    Emits: ``Gemm(A, B, C, transA, transB)``. Leaves alone: batched (3-D+) MatMul, biases of
    unknown shape, integer types. Lossless.
    """

    name = "fuse_matmul_add"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        return _RULES if opset >= 7 else []
