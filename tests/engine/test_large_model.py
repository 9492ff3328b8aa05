"""A model over the 2 GB protobuf limit, its weights in external data, end to end.

The weights file is sparse (``truncate``), so the test costs little disk to set up; intake
must memory-map it (resident memory grows by far less than the weights), the checker must
run on the path, and optimize must verify and write the result with its data external.
"""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graphs import external_tensor
from onnx import TensorProto, helper

from graphopt.engine import OptimizeOptions, load_model, optimize
from graphopt.engine.inspection import model_stats

ROWS, COLS = 524_800, 1024  # 2,149,580,800 bytes of float32: past 2**31
WEIGHT_BYTES = ROWS * COLS * 4
MIB = 1 << 20


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


@pytest.fixture(scope="module")
def large_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``z = Identity(Relu(Gather(table, ids)))`` with a 2.15 GB external ``table``."""
    directory = tmp_path_factory.mktemp("large")
    table = external_tensor(
        "table", TensorProto.FLOAT, [ROWS, COLS], "weights.bin", length=WEIGHT_BYTES
    )
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["g"]),
            helper.make_node("Relu", ["g"], ["y"]),
            helper.make_node("Identity", ["y"], ["z"]),
        ],
        "large",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, COLS])],
        initializer=[table],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, directory / "large.onnx")
    with open(directory / "weights.bin", "wb") as weights:
        weights.truncate(WEIGHT_BYTES)
    return directory / "large.onnx"


def test_intake_maps_the_weights_instead_of_reading_them(large_model: Path) -> None:
    before = _rss_bytes()
    with load_model(large_model) as loaded:
        stats = model_stats(loaded.model)
        grown = _rss_bytes() - before
        assert loaded.data_bytes == WEIGHT_BYTES
        assert loaded.has_external_data
    assert stats.param_bytes == WEIGHT_BYTES
    assert stats.nodes == 3
    assert grown < 64 * MIB, f"intake made {grown / MIB:.0f} MiB resident"


def test_optimize_verifies_and_keeps_the_weights_external(
    large_model: Path, tmp_path: Path
) -> None:
    output = tmp_path / "large.opt.onnx"
    try:
        with optimize(large_model, OptimizeOptions(), output=output) as result:
            report = result.report
        assert report.verification.status == "passed"
        assert report.optimized.nodes == 2
        assert output.stat().st_size < MIB  # the protobuf alone; weights stayed external
        data_files = [p for p in tmp_path.iterdir() if p != output]
        assert sum(p.stat().st_size for p in data_files) >= WEIGHT_BYTES
        onnx.checker.check_model(str(output), full_check=True)
        session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        (z,) = session.run(None, {"ids": np.array([0, 1, ROWS - 1, 7], dtype=np.int64)})
        assert z.shape == (4, COLS) and not z.any()
    finally:
        for path in tmp_path.iterdir():
            path.unlink()
