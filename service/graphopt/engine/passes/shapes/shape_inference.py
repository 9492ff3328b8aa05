"""Pass ``shape_inference``."""

from __future__ import annotations

import onnx_ir as ir
from pydantic import Field

from graphopt.engine.passes.base import ModelPass, NoOptions, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.registry import register
from graphopt.engine.shapes import all_values, fully_known, infer_shapes, known_shape_count


class ShapeInferenceOptions(NoOptions):
    data_prop: bool = Field(True, description="propagate constant shape values (Shape->Gather...)")


@register
class ShapeInference(ModelPass):
    """Annotate values with the types and shapes onnx's shape inference derives.

    Matches: every value of the main graph and subgraphs whose type or shape is missing or
    partly unknown (when there is none, onnx's inference is not run). Guarantees: no node,
    initializer or graph input/output name changes; an integer dimension already known is
    never changed; a failure of inference leaves the model as it was, with a note.
    Lossless (annotations only).
    """

    name = "shape_inference"
    family = PassFamily.SHAPES
    lossless = True
    Options = ShapeInferenceOptions

    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        assert isinstance(self.options, ShapeInferenceOptions)
        values = list(all_values(model))
        if all(fully_known(value) for value in values):
            return PassOutcome(
                changed=False,
                notes=[f"all {len(values)} values already have a type and a static shape"],
            )
        before = known_shape_count(values)
        improved, notes = infer_shapes(model, data_prop=self.options.data_prop)
        after = known_shape_count(values)  # inference annotates these values in place
        # symbolic dims and dtypes count as changes too, not only fully static shapes
        return PassOutcome(
            changed=improved > 0, notes=[*notes, f"static shapes: {before} -> {after}"]
        )
