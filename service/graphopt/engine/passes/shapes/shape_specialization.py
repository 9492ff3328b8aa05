"""Pass ``shape_specialization``."""

from __future__ import annotations

import onnx_ir as ir
from pydantic import Field

from graphopt.engine import traversal
from graphopt.engine.passes.base import ModelPass, NoOptions, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register
from graphopt.engine.shapes import check_input_shapes, infer_shapes, symbol_name


class ShapeSpecializationOptions(NoOptions):
    input_shapes: dict[str, list[int]] = Field(
        default_factory=dict, description="graph input name -> pinned dims"
    )


def _bind(shape: ir.Shape | None, bindings: dict[str, int]) -> ir.Shape | None:
    if shape is None:
        return None
    return ir.Shape([bindings.get(symbol_name(d) or "", d) for d in shape.dims])


@register
class ShapeSpecialization(ModelPass):
    """Pin dynamic input dimensions to the given sizes and propagate them.

    Matches: the graph inputs named in ``input_shapes``. Every symbolic dimension name they
    carry is bound to its pinned size everywhere it appears (other inputs, outputs,
    intermediate values), then shape inference runs so that constant folding can remove the
    shape arithmetic. Guarantees: the model computes the same outputs for inputs of the
    pinned shapes; it no longer accepts other shapes (that is the point). Input names,
    dtypes and ranks are unchanged. Without ``input_shapes`` it does nothing.
    Lossless for inputs of the pinned shapes.
    """

    name = "shape_specialization"
    family = PassFamily.SHAPES
    lossless = True
    Options = ShapeSpecializationOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, ShapeSpecializationOptions)
        pinned = self.options.input_shapes
        if not pinned:
            return PassOutcome()
        bindings = check_input_shapes(model, pinned)
        for value in model.graph.inputs:
            if value.name in pinned:
                value.shape = ir.Shape(pinned[value.name])
        if bindings:
            for graph in model.graphs():
                for value in ir.convenience.create_value_mapping(graph).values():
                    value.shape = _bind(value.shape, bindings)
            for node in traversal.all_nodes(model):
                for out in node.outputs:
                    out.shape = _bind(out.shape, bindings)
        notes = [
            f"pinned {name} to {'x'.join(map(str, dims)) or 'a scalar'}"
            for name, dims in pinned.items()
        ]
        notes += [f"bound symbol {s}={v}" for s, v in sorted(bindings.items())]
        notes += infer_shapes(model)[1]
        return PassOutcome(changed=True, notes=notes)
