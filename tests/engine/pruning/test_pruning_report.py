"""The report's ``pruning`` section, end to end: its numbers are checked against the files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import onnx_ir as ir
import pytest
from graphs import run
from nets import classifier

from graphopt.engine import OptimizeOptions, VerifyOptions, optimize
from graphopt.engine.graph_view.stats import compute_stats
from graphopt.engine.passes.pruning.magnitude_pruning import SPEED_NOTE


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "classifier.onnx"
    ir.save(classifier(), path)
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    path = tmp_path / "inputs.npz"
    x = np.random.default_rng(7).standard_normal((8, 3, 8, 8)).astype(np.float32)
    np.savez(path, x=x)
    return path


def io_shapes(model: ir.Model) -> list[tuple[str | None, tuple[object, ...] | None]]:
    values = [*model.graph.inputs, *model.graph.outputs]
    return [(v.name, None if v.shape is None else tuple(v.shape.dims)) for v in values]


def bn_scale(model: ir.Model) -> np.ndarray:
    (bn,) = (n for n in model.graph if n.op_type == "BatchNormalization")
    value = bn.inputs[1]
    assert value is not None and value.const_value is not None
    return value.const_value.numpy()


def serialized(path: Path) -> bytes:
    return ir.serde.serialize_model(ir.load(path)).SerializeToString()


def test_structured_pruning_is_kept_and_its_cost_reported(
    source: Path, inputs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pruned.onnx"
    options = OptimizeOptions(
        pipeline="lossless",  # BatchNormalization stays: its parameters are sliced too
        prune=["structured:0.5"],
        pass_options={"channel_pruning": {"importance": "bn_scale"}},
        verify=VerifyOptions(inputs=inputs),
    )
    with optimize(source, options, output=out) as result:
        report = result.report
    verification, pruning = report.verification, report.pruning
    assert pruning is not None and pruning.passes == ["channel_pruning"]
    assert verification.rolled_back == [] and verification.status == "failed"
    assert verification.reason is not None and "lossy pass 'channel_pruning'" in verification.reason
    by_head = {tuple(g.producers): g for g in pruning.groups}
    assert (
        by_head[("body", "stem")].channels_before,
        by_head[("body", "stem")].channels_after,
    ) == (
        16,
        8,
    )
    assert by_head[("y",)].status == "skipped"
    assert by_head[("y",)].reason == "reaches graph output 'y'"

    original, pruned = ir.load(source), ir.load(out)
    assert io_shapes(pruned) == io_shapes(original)
    gamma_before, gamma_after = (bn_scale(m) for m in (original, pruned))
    largest = np.sort(np.argsort(-np.abs(gamma_before))[:8])
    np.testing.assert_array_equal(gamma_after, gamma_before[largest])  # importance bn_scale
    stats_before, stats_after = compute_stats(original), compute_stats(pruned)
    assert (pruning.macs_before, pruning.macs_after) == (stats_before.macs, stats_after.macs)
    assert pruning.macs_after < 0.3 * pruning.macs_before  # both convs lose half their channels
    assert (pruning.params_before, pruning.params_after) == (
        stats_before.params,
        stats_after.params,
    )
    assert pruning.file_bytes_after == len(serialized(out))
    assert pruning.gzip_bytes_after == len(gzip.compress(serialized(out), compresslevel=6))
    assert pruning.gzip_bytes_after < pruning.gzip_bytes_before

    x = np.load(inputs)["x"]
    want, got = run(original, {"x": x})["y"], run(pruned, {"x": x})["y"]
    (deviation,) = pruning.outputs
    assert deviation.max_abs == pytest.approx(float(np.abs(got - want).max()), rel=1e-4)
    cosine = float(np.dot(got.ravel(), want.ravel()) / np.linalg.norm(got) / np.linalg.norm(want))
    assert deviation.cosine == pytest.approx(cosine, abs=1e-5)
    top1 = float(np.mean(got.argmax(-1) == want.argmax(-1)))
    assert deviation.top1_agreement == top1


def test_unstructured_pruning_reports_sizes_and_no_speed_gain(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "sparse.onnx"
    options = OptimizeOptions(
        prune=["unstructured:0.6"], pass_options={"magnitude_pruning": {"min_elements": 1}}
    )
    with optimize(source, options, output=out) as result:
        pruning = result.report.pruning
    assert pruning is not None and SPEED_NOTE in pruning.notes
    zeroed = sum(layer.zeros_after - layer.zeros_before for layer in pruning.layers)
    assert zeroed == round(0.6 * sum(layer.elements for layer in pruning.layers))
    assert pruning.macs_after == pruning.macs_before  # dense: nothing physically removed
    assert pruning.gzip_bytes_after < pruning.gzip_bytes_before
    assert io_shapes(ir.load(out)) == io_shapes(ir.load(source))


def test_bad_prune_specs_are_refused() -> None:
    for spec in ("structured:1.5", "unstructured", "nm:2", "channels:0.3"):
        with pytest.raises(ValueError, match="is not a pruning spec"):
            OptimizeOptions(prune=[spec])
