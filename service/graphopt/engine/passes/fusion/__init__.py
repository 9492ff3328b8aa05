"""Fusion passes: patterns of several nodes replaced by fewer, equivalent nodes.

Each module holds one pass (or one tight family of rules); importing this package
registers them all. ``rewriting`` is the shared driver for onnxscript rewrite rules.
"""

from graphopt.engine.passes.fusion import (
    attention,
    batchnorm_folding,
    cast_chains,
    constant_chains,
    conv_activation,
    conv_affine,
    conv_input_affine,
    gelu,
    hard_swish,
    layer_normalization,
    matmul_gemm,
    pad_fusion,
    reshape_chains,
    rms_normalization,
    sibling_matmuls,
    slice_chains,
    slice_split,
    transpose_merging,
)

__all__ = [
    "attention",
    "batchnorm_folding",
    "cast_chains",
    "constant_chains",
    "conv_activation",
    "conv_affine",
    "conv_input_affine",
    "gelu",
    "hard_swish",
    "layer_normalization",
    "matmul_gemm",
    "pad_fusion",
    "reshape_chains",
    "rms_normalization",
    "sibling_matmuls",
    "slice_chains",
    "slice_split",
    "transpose_merging",
]
