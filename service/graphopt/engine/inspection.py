"""Describing a model: its interface (``ModelInfo``) and statistics (``GraphStats``)."""

from __future__ import annotations

import onnx_ir as ir

from graphopt.engine.graph_view.stats import compute_stats
from graphopt.engine.intake import LoadedModel
from graphopt.engine.report import GraphStats, ModelInfo, TensorSpec
from graphopt.engine.shapes import all_values, check_input_shapes, infer_shapes


def tensor_specs(values: list[ir.Value]) -> list[TensorSpec]:
    """Name, dtype and shape (ints, symbol names, or null) of each value."""
    specs = []
    for value in values:
        shape = None
        if value.shape is not None:
            shape = [
                (d if d >= 0 else None) if isinstance(d, int) else (d.value or None)
                for d in value.shape.dims
            ]
        dtype = value.dtype.name if value.dtype else None
        specs.append(TensorSpec(name=value.name or "", dtype=dtype, shape=shape))
    return specs


def model_info(loaded: LoadedModel) -> ModelInfo:
    """The report's description of a loaded model."""
    model = loaded.model
    return ModelInfo(
        name=loaded.name,
        sha256=loaded.sha256,
        size_bytes=loaded.size_bytes,
        data_bytes=loaded.data_bytes,
        ir_version=model.ir_version,
        opset=dict(model.opset_imports),
        producer=" ".join(p for p in (model.producer_name, model.producer_version) if p),
        inputs=tensor_specs([v for v in model.graph.inputs if not v.is_initializer()]),
        outputs=tensor_specs(list(model.graph.outputs)),
    )


def model_stats(model: ir.Model, input_shapes: dict[str, list[int]] | None = None) -> GraphStats:
    """Stats with shapes inferred after pinning ``input_shapes``. ``model`` carries those
    annotations only while the stats are computed: every value's shape and type are put
    back afterwards (cheaper than a clone of a large model)."""
    input_shapes = input_shapes or {}
    check_input_shapes(model, input_shapes)
    saved = [(value, value.shape, value.type) for value in all_values(model)]
    try:
        for value in model.graph.inputs:
            if value.name in input_shapes:
                value.shape = ir.Shape(input_shapes[value.name])
        infer_shapes(model)
        return compute_stats(model)
    finally:
        for value, shape, kind in saved:
            value.shape, value.type = shape, kind
