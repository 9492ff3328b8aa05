"""Named pipelines. ``default`` is what jobs and the CLI run unless told otherwise.

- ``lossless``: initializers of IR < 4 models taken out of the graph inputs, shape
  inference and pinning, then a fixed-point clean-up (constant
  folding, no-op and dead-code elimination, CSE), constant lifting and initializer
  deduplication, and a final shape inference so the output carries full annotations.
  Constant folding materializes ConstantOfShape fills up to its output cap (1M elements):
  a fill that stands for a weight becomes that weight, as in any exported model, so the
  fusions that need constant weights (BatchNormalization into Conv...) can act; the file
  grows by the fills' size.
- ``default``: the lossless pipeline, then a fixed-point group of the fusion passes (with
  no-op and dead-code elimination), initializer deduplication and a final shape inference.
- ``aggressive``: ``default`` with a 16x larger folding output cap (16M elements): larger
  fills and folded results are stored too. Fewer nodes, possibly a much larger file.
"""

from __future__ import annotations

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.passes.pipeline import Pipeline, fixed_point, step


def _cleanup(**folding: object) -> list:
    folding = {"fold_constant_of_shape": True, **folding}
    return [
        step("initializer_inputs"),
        step("shape_inference"),
        step("shape_specialization"),
        fixed_point(
            step("constant_folding", **folding),
            step("noop_elimination"),
            step("common_subexpression_elimination"),
            step("dead_code_elimination"),
        ),
        step("constant_lifting"),
        step("initializer_deduplication"),
        step("dead_code_elimination"),
        step("shape_inference"),
    ]


FUSION_PASSES = (
    "fuse_pad",
    "fuse_batchnorm",
    "fuse_hard_swish",
    "fuse_constant_chains",
    "fuse_conv_affine",
    "fuse_conv_input_affine",
    "fuse_sibling_matmuls",
    "fuse_matmul_add",
    "fuse_transposes",
    "fuse_reshapes",
    "fuse_slices",
    "fuse_slice_split",
    "fuse_casts",
    "fuse_layer_normalization",
    "fuse_rms_normalization",
    "fuse_gelu",
    "fuse_attention",
    "fuse_conv_activation",
)


def _fusion() -> list:
    return [
        fixed_point(
            *(step(name) for name in FUSION_PASSES),
            step("noop_elimination"),
            step("dead_code_elimination"),
        ),
        step("initializer_deduplication"),
        step("shape_inference"),
    ]


PRESETS: dict[str, Pipeline] = {
    "lossless": Pipeline(name="lossless", steps=_cleanup()),
    "default": Pipeline(name="default", steps=[*_cleanup(), *_fusion()]),
    "aggressive": Pipeline(
        name="aggressive",
        steps=[
            *_cleanup(output_size_limit=1 << 24),
            *_fusion(),
        ],
    ),
}


def preset(name: str) -> Pipeline:
    """The preset pipeline ``name``, or ``unknown_pipeline``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise GraphoptError(
            ErrorCode.UNKNOWN_PIPELINE,
            f"There is no pipeline named {name!r}; presets are {sorted(PRESETS)}.",
            pipeline=name,
            known=sorted(PRESETS),
        ) from None
