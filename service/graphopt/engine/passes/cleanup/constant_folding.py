"""Pass ``constant_folding``."""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir
from onnxscript.optimizer._constant_folding import FoldConstantsPass
from pydantic import Field

from graphopt.engine.passes.base import ModelPass, NoOptions, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register


class ConstantFoldingOptions(NoOptions):
    input_size_limit: int = Field(
        1 << 24,
        ge=0,
        description="elements; a node with a larger constant input is not folded "
        "(Transpose of a weight read by that node alone always is)",
    )
    output_size_limit: int = Field(
        1 << 20,
        ge=0,
        description="elements; a result larger than this is stored only when it does not "
        "grow the model (its single-use inputs are at least as large)",
    )
    fold_constant_of_shape: bool = Field(
        False,
        description="materialize ConstantOfShape results (off: a 1-element fill stays a 1-element "
        "fill instead of becoming a full tensor in the file)",
    )
    small_constant_of_shape: int = Field(
        64,
        ge=0,
        description="elements; a ConstantOfShape whose static output is at most this big is "
        "folded even without fold_constant_of_shape (shape arithmetic such as padding vectors)",
    )
    node_shape_inference: bool = Field(True, description="infer shapes node by node while folding")


@register
class ConstantFolding(ModelPass):
    """Evaluate nodes whose inputs are all constant and replace them with their result.

    Matches: default-domain nodes whose inputs are true constants (initializers that are not
    graph inputs, Constant outputs), plus the shape arithmetic that becomes constant once
    shapes are known (Shape, Size, Gather/Concat/Slice over shapes, If with a constant
    condition, ConstantOfShape fills of at most ``small_constant_of_shape`` elements), in
    every graph and function. Evaluation is onnxscript's constant folder (onnx reference
    kernels). Leaves alone: nondeterministic ops, control flow other than If on a constant,
    QuantizeLinear/DequantizeLinear, larger ConstantOfShape fills (unless
    ``fold_constant_of_shape``), and results over the size caps. Guarantees: values are
    those the reference kernels compute for the same inputs; folded values are stored
    C-contiguous (the folder can leave transposed views, which hashing and saving refuse).
    Lossless.
    """

    name = "constant_folding"
    family = PassFamily.CLEANUP
    lossless = True
    Options = ConstantFoldingOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, ConstantFoldingOptions)
        options = self.options

        def should_fold(node: ir.Node) -> bool | None:
            if node.op_type != "ConstantOfShape" or node.domain not in ("", "ai.onnx"):
                return None
            shape = node.outputs[0].shape
            small = (
                shape is not None
                and shape.is_static()
                and math.prod(shape.numpy()) <= options.small_constant_of_shape
            )
            return True if options.fold_constant_of_shape or small else None

        folder = _Folder(
            shape_inference=options.node_shape_inference,
            input_size_limit=options.input_size_limit,
            output_size_limit=options.output_size_limit,
            should_fold=should_fold,
        )
        result = folder(model)
        if result.modified:
            _make_contiguous(model)
        return PassOutcome(changed=result.modified)


class _Folder(FoldConstantsPass):
    """onnxscript's folder, without its node-by-node shape inference where that cannot add
    anything: at a node whose outputs all have a type and a static shape already."""

    def _do_inference(self, node: ir.Node) -> None:
        if all(_known(output) for output in node.outputs):
            return
        super()._do_inference(node)


def _known(value: ir.Value) -> bool:
    return value.type is not None and value.shape is not None and value.shape.is_static()


def _make_contiguous(model: ir.Model) -> None:
    """Replace every initializer held as a non-contiguous numpy view by a contiguous copy."""
    for graph in model.graphs():
        for value in graph.initializers.values():
            tensor = value.const_value
            if not isinstance(tensor, ir.Tensor):
                continue
            raw = tensor.raw
            if isinstance(raw, np.ndarray) and not raw.flags.c_contiguous:
                value.const_value = ir.Tensor(
                    np.ascontiguousarray(raw), dtype=tensor.dtype, name=tensor.name
                )
