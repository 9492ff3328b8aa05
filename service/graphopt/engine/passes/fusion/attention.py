"""Pass ``fuse_attention``: scaled-dot-product attention -> MultiHeadAttention / Attention.

The pattern is adapted from onnxscript's own SDPA rule (``rewriter/ort_fusions/sdpa.py``:
scaling of the product by Mul or Div or of both Q and K^T by Mul, optional additive mask,
key given as BHSd (also through a 3-D round trip) or BSHd, the optional NaN guard), written here as one rule that emits the final op directly: onnxscript's
two-stage route goes through a temporary ``ai.onnxruntime._fusion.SDPA`` op that no runtime
knows, which a bisection or a failed second stage would leave in the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRule, RewriteRuleClassBase, pattern

from graphopt.engine import traversal
from graphopt.engine.passes.constants import const_array, int_attr, static_shape
from graphopt.engine.passes.fusion.rewriting import MS_DOMAIN, ONNXRUNTIME, RuleFusionPass
from graphopt.engine.passes.registry import register

# key transposed for Q @ K^T: BHSd keys swap the last two axes; BSHd keys are also moved
# to heads-first by the same Transpose
_KEY_PERMS = {"BHSd": [0, 1, 3, 2], "BSHd": [0, 2, 3, 1]}
# "BHSd-3d": K (B, H, Skv, Dh) reshaped to (B*H, Skv, Dh), transposed, reshaped back to
# (B, H, Dh, Skv), as the dynamo exporter writes it
_KEY_FORMATS = (*_KEY_PERMS, "BHSd-3d")


def _scaled(op, value, scale, tag: str):
    """``value``, or it multiplied or divided by ``scale`` (which one: binding ``tag``)."""
    return pattern.OrValue(
        [op.Mul(value, scale), op.Div(value, scale), value],
        tag_var=tag,
        tag_values=["Mul", "Div", "None"],
    )


def _scale_factor(kind: str, scale: ir.Value | None) -> float | None:
    """The factor a Mul/Div by the one-element constant ``scale`` applies (None: not one)."""
    if kind == "None":
        return 1.0
    array = const_array(scale)
    if array is None or array.size != 1 or array.dtype.kind != "f":
        return None
    number = float(array.reshape(-1)[0])
    if kind == "Div":
        return 1.0 / number if number != 0 else None
    return number


class _ScaledDotProductAttention(RewriteRuleClassBase):
    """``Softmax(scale * (Q @ K^T) [+ mask], axis=-1) @ V`` on static 4-D float32 tensors."""

    def __init__(
        self, key_format: str, masked: bool, prescaled: bool, guarded: bool, target: str
    ) -> None:
        emitted = "com.microsoft MultiHeadAttention" if target == ONNXRUNTIME else "Attention"
        mask = " with mask" if masked else ""
        guard = ", NaN guard" if guarded else ""
        super().__init__(name=f"attention ({key_format} key{mask}{guard}) -> {emitted}")
        self.key_format, self.masked, self.target = key_format, masked, target
        self.prescaled, self.guarded = prescaled, guarded

    def pattern(self, op, query, key, value, mask, query_scale, key_scale, qk_scale, zero):
        if self.key_format == "BHSd-3d":
            flat = op.Reshape(
                key, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["key_3d"]
            )
            key_t = op.Reshape(
                op.Transpose(flat, perm=[0, 2, 1]),
                _allow_other_inputs=True,
                _allow_other_attributes=True,
                _outputs=["key_t"],
            )
        else:
            key_t = op.Transpose(key, perm=_KEY_PERMS[self.key_format])
        # Q and K^T each multiplied by a constant (torch's decomposition of SDPA): separate
        # rules, not an OrValue, since Q may come from an enclosing graph, which onnxscript's
        # matcher refuses to look at as an alternative
        if self.prescaled:
            query, key_t = op.Mul(query, query_scale), op.Mul(key_t, key_scale)
        scores = op.MatMul(query, key_t)
        scores = _scaled(op, scores, qk_scale, "qk_scaling")
        if self.masked:
            scores = op.Add(scores, mask, _outputs=["masked"])
        weights = op.Softmax(scores, _allow_other_attributes=True, _outputs=["weights"])
        if self.guarded:  # torch's SDPA export: rows that are all -inf give 0, not NaN
            weights = op.Where(op.IsNaN(weights), zero, weights)
        return op.MatMul(weights, value)

    def _dims(self, query, key, value) -> tuple[int, int, int, int, int, int] | None:
        """(B, H, S, Dh, Skv, Dv) when the shapes are static and consistent."""
        q, k, v = static_shape(query), static_shape(key), static_shape(value)
        if q is None or k is None or v is None or not len(q) == len(k) == len(v) == 4:
            return None
        batch, heads, seq, head = q
        if self.key_format == "BSHd":
            k = (k[0], k[2], k[1], k[3])
        if k[:2] != (batch, heads) or k[3] != head or v[:3] != (batch, heads, k[2]):
            return None
        return batch, heads, seq, head, k[2], v[3]

    def _factors(self, tags: dict) -> list[float | None]:
        prescaling = "Mul" if self.prescaled else "None"
        kinds = {"query": prescaling, "key": prescaling, "qk": tags.get("qk_scaling", "None")}
        return [_scale_factor(kind, tags.get(f"{name}_scale")) for name, kind in kinds.items()]

    def check(self, context, query, key, value, weights, mask=None, **tags):  # type: ignore[override]
        result = MatchResult()
        if not (query.dtype == key.dtype == value.dtype == ir.DataType.FLOAT):
            return result.fail("not float32")
        dims = self._dims(query, key, value)
        if dims is None:
            return result.fail("query/key/value not static 4-D (B, H, S, D) shapes")
        softmax = weights.producer()
        opset = traversal.onnx_opset(context.graph_or_function, context.model)
        axis = int_attr(softmax, "axis", -1 if opset >= 13 else 1)
        if axis % 4 != 3:
            return result.fail("softmax not over the last axis")
        if self.key_format == "BHSd-3d":
            batch, heads, _, head, kv_seq, _ = dims
            flat, back = static_shape(tags.get("key_3d")), static_shape(tags.get("key_t"))
            if flat != (batch * heads, kv_seq, head) or back != (batch, heads, head, kv_seq):
                return result.fail("the key's 3-D round trip is not a plain transpose")
        if any(f is None for f in self._factors(tags)):
            return result.fail("a scale is not a constant float scalar")
        if self.masked and self._mask_shape(mask, dims) is None:
            return result.fail("mask does not broadcast to the scores' shape")
        if self.guarded and not self._guard_is_noop(tags.get("zero"), mask):
            return result.fail("the NaN guard may act: mask not a constant finite in every row")
        return result

    def _guard_is_noop(self, zero: ir.Value | None, mask: ir.Value | None) -> bool:
        """Whether ``Where(IsNaN(w), 0, w)`` changes nothing for finite Q, K, V: the mask
        is absent, or a constant with a finite entry in every row of the last axis (so no
        row of the softmax is all -inf)."""
        replacement = const_array(zero)
        if replacement is None or replacement.size != 1 or replacement.reshape(-1)[0] != 0:
            return False
        if not self.masked:
            return True
        array = const_array(mask)
        return array is not None and bool(np.isfinite(array).any(axis=-1).all())

    @staticmethod
    def _mask_shape(mask: ir.Value, dims: tuple[int, ...]) -> tuple[int, ...] | None:
        """The mask's shape padded to 4-D, when it is a float32 mask that broadcasts to
        (B, H, S, Skv) without enlarging the scores."""
        shape = static_shape(mask)
        if mask.dtype != ir.DataType.FLOAT or shape is None or len(shape) > 4:
            return None
        padded = (1,) * (4 - len(shape)) + tuple(shape)
        batch, heads, seq, _, kv_seq, _ = dims
        for size, full in zip(padded, (batch, heads, seq, kv_seq), strict=True):
            if size not in (1, full):
                return None
        return padded

    def rewrite(self, op, query, key, value, weights, mask=None, **tags):
        dims = self._dims(query, key, value)
        assert dims is not None
        batch, heads, seq, head, kv_seq, v_head = dims
        scale = math.prod(f or 1.0 for f in self._factors(tags))

        def shape(*sizes: int) -> ir.Value:
            return op.initializer(ir.tensor(np.array(sizes, np.int64)), name="attention_shape")

        bias = None
        if self.masked:  # 4-D with the full (S, Skv) trailing dims: what onnxruntime accepts
            padded = self._mask_shape(mask, dims)
            assert padded is not None
            rank = len(static_shape(mask) or ())
            bias = mask if rank == 4 else op.Reshape(mask, shape(*padded))
            full = (padded[0], padded[1], seq, kv_seq)
            if padded != full:
                bias = op.Expand(bias, shape(*full))
        if self.target != ONNXRUNTIME:
            key_bhsd = key if self.key_format != "BSHd" else op.Transpose(key, perm=[0, 2, 1, 3])
            inputs = [query, key_bhsd, value] + ([bias] if bias is not None else [])
            return op.Attention(*inputs, scale=scale)

        def to_3d(x: ir.Value, length: int, size: int, heads_first: bool = True) -> ir.Value:
            moved = op.Transpose(x, perm=[0, 2, 1, 3]) if heads_first else x
            return op.Reshape(moved, shape(batch, length, heads * size))

        inputs = [
            to_3d(query, seq, head),
            to_3d(key, kv_seq, head, heads_first=self.key_format != "BSHd"),
            to_3d(value, kv_seq, v_head),
        ]
        if bias is not None:
            inputs += [None, None, bias]
        attended = op.op(
            "MultiHeadAttention",
            *inputs,
            _domain=MS_DOMAIN,
            _version=1,
            num_heads=heads,
            scale=scale,
        )
        # onnx shape inference does not know contrib ops: state it, so that the Reshape
        # of the head merge after it is seen as a no-op
        attended.dtype = ir.DataType.FLOAT
        attended.shape = ir.Shape([batch, seq, heads * v_head])
        split = op.Reshape(attended, shape(batch, seq, heads, v_head))
        return op.Transpose(split, perm=[0, 2, 1, 3])


def _rules(target: str) -> list[RewriteRule]:
    return [
        rule
        for key_format in _KEY_FORMATS
        for masked in (False, True)
        for prescaled in (False, True)
        for guarded in (False, True)
        for rule in _ScaledDotProductAttention.rule(
            key_format, masked, prescaled, guarded, target
        ).commute()
    ]


_RULES = {ONNXRUNTIME: _rules(ONNXRUNTIME), "portable": _rules("portable")}


@register
class FuseAttention(RuleFusionPass):
    """Fuse scaled-dot-product attention blocks into one attention op.

    Matches ``MatMul(Softmax(MatMul(Q', K') * s [+ mask], axis=-1), V)`` where ``K'`` is
    ``Transpose(K, perm=[0, 1, 3, 2])`` (K as B, H, Skv, Dh), the same through a 3-D
    ``Reshape``/``Transpose(perm=[0, 2, 1])``/``Reshape`` round trip (dynamo exporter), or
    ``Transpose(K, perm=[0, 2, 3, 1])`` (K as B, Skv, H, Dh), ``Q'`` and ``K'`` both multiplied by a constant scalar or
    neither, the scores optionally multiplied or divided by one, and the mask an
    additive float32 tensor that broadcasts to (B, H, S, Skv) without enlarging the scores.
    Q, K, V: float32 with static 4-D shapes (B, H, S, Dh), (B, H, Skv, Dv) for V; the
    scores, weights and transposed key read only inside the match.
    Emits, for target ``onnxruntime``: ``com.microsoft.MultiHeadAttention`` on (B, S, H*D)
    views (Transpose + Reshape around it, which the transpose/reshape fusions then cancel
    against the head split of the producer), ``num_heads=H``, ``scale`` = the product of the
    scales, the mask as its 4-D ``attention_bias`` (reshaped/expanded to (B|1, H|1, S,
    Skv)); for target ``portable`` with opset >= 23: the standard ``Attention`` on the 4-D
    tensors (the key transposed to B, H, Skv, Dh when given as B, Skv, H, Dh).
    Also matches torch's export of SDPA, which guards the weights with
    ``Where(IsNaN(w), 0, w)``, when that guard cannot act for finite inputs: no mask, or a
    constant mask with a finite entry in every row (e.g. a causal mask).
    Leaves alone: dynamic shapes, float16/double, softmax over another axis, the guard with
    a computed mask (a padding mask of -inf may empty a row), boolean masks, and portable
    models below opset 23.
    Lossless up to float rounding for finite inputs (with the guard, NaN/inf in Q, K or V
    may give NaN where the guard gave 0); verified by the optimizer like every pass.
    """

    name = "fuse_attention"

    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        if target == ONNXRUNTIME:
            return _RULES[ONNXRUNTIME]
        return _RULES["portable"] if opset >= 23 else []
