"""Channel importance scores for structured pruning (higher = more important).

Per channel class (see :mod:`.channel_groups`), summed over every producer of the class:

- ``l1`` / ``l2``: the L1 / L2 norm of the producer's weights for that output channel;
- ``bn_scale``: ``|gamma|`` of the BatchNormalization(s) applied to the class (classes
  without one fall back to ``l1``, and the result says how many did);
- ``activation``: the mean ``|x|`` of each producer's output channel over calibration
  inputs (an .npz in the verifier's format), run with onnxruntime on the CPU.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np
import onnx_ir as ir
import onnxruntime as ort

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.pruning.channel_groups import ChannelAnalysis, ParamSite, constant_array
from graphopt.engine.verify.inputs import load_npz_inputs

Importance = Literal["l1", "l2", "bn_scale", "activation"]


def _norms(site: ParamSite, order: int) -> np.ndarray:
    weights = constant_array(site.node.inputs[site.index])
    assert weights is not None
    rows = np.moveaxis(weights.astype(np.float64), site.axis, 0).reshape(len(site.ids), -1)
    return np.linalg.norm(rows, ord=order, axis=1)


def _add(
    scores: dict[int, float], analysis: ChannelAnalysis, site_ids: np.ndarray, values: np.ndarray
) -> None:
    for root, value in zip(analysis.roots(site_ids), values, strict=True):
        scores[int(root)] += float(value)


def weight_norms(analysis: ChannelAnalysis, order: int) -> dict[int, float]:
    """Sum of producer weight norms (``order`` 1 or 2) per class."""
    scores: dict[int, float] = defaultdict(float)
    for site in analysis.params:
        if site.role == "producer":
            _add(scores, analysis, site.ids, _norms(site, order))
    return scores


def bn_scales(analysis: ChannelAnalysis) -> tuple[dict[int, float], int]:
    """``|gamma|`` per class, ``l1`` for classes without BatchNormalization; and their count."""
    scores: dict[int, float] = defaultdict(float)
    for site in analysis.params:
        if site.node.op_type == "BatchNormalization" and site.index == 1:
            gamma = constant_array(site.node.inputs[1])
            assert gamma is not None
            _add(scores, analysis, site.ids, np.abs(gamma.astype(np.float64)))
    fallback = weight_norms(analysis, 1)
    missing = [root for root in fallback if root not in scores]
    for root in missing:
        scores[root] = fallback[root]
    return scores, len(missing)


def activation_means(
    analysis: ChannelAnalysis, model: ir.Model, calibration: Path
) -> dict[int, float]:
    """Mean ``|x|`` per producer output channel over the calibration sets, summed per class."""
    producers = {site.node for site in analysis.params if site.role == "producer"}
    outputs = {
        site.value.name: site
        for site in analysis.values
        if site.value.producer() in producers and site.value.name
    }
    probe = model.clone()
    values = {v.name: v for node in probe.graph for v in node.outputs}
    present = {v.name for v in probe.graph.outputs}
    for name in outputs:
        if name not in present:
            probe.graph.outputs.append(values[name])
    proto = ir.serde.serialize_model(probe)
    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own hierarchy
        raise GraphoptError(
            ErrorCode.INVALID_PASS_OPTIONS, f"cannot run the model for activation statistics: {exc}"
        ) from None
    names = list(outputs)
    wanted = {i.name for i in session.get_inputs()}
    totals: dict[str, np.ndarray] = {}
    for feeds in load_npz_inputs(calibration, model):
        results = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
        for name, result in zip(names, results, strict=True):
            axis = outputs[name].axis
            other = tuple(a for a in range(result.ndim) if a != axis)
            mean = np.abs(result.astype(np.float64)).mean(axis=other)
            totals[name] = totals.get(name, 0) + mean
    scores: dict[int, float] = defaultdict(float)
    for name, total in totals.items():
        _add(scores, analysis, outputs[name].ids, total)
    return scores


def class_importance(
    analysis: ChannelAnalysis, model: ir.Model, method: Importance, calibration: Path | None
) -> tuple[dict[int, float], list[str]]:
    """Scores by class root under ``method``, and notes for the report."""
    if method == "l1":
        return weight_norms(analysis, 1), []
    if method == "l2":
        return weight_norms(analysis, 2), []
    if method == "bn_scale":
        scores, missing = bn_scales(analysis)
        notes = (
            [f"{missing} channel classes without BatchNormalization ranked by L1"]
            if missing
            else []
        )
        return scores, notes
    if calibration is None:
        raise GraphoptError(
            ErrorCode.INVALID_PASS_OPTIONS,
            "importance 'activation' needs calibration inputs (an .npz)",
        )
    return activation_means(analysis, model, calibration), []
