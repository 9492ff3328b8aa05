"""Structured pruning options: ratios, min/max, exclude, round_to, importance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_ir as ir
from graphs import apply_one
from nets import Net

from graphopt.engine.passes import run_pipeline
from graphopt.engine.passes.base import PassContext
from graphopt.engine.passes.pipeline import Pipeline, step
from graphopt.engine.pruning.report import DETAILS_KEY, ChannelGroupReport, PruningDetails


def two_convs(c: int = 10) -> ir.Model:
    """a: conv(3->c) -> relu -> b: conv(c->c) -> relu -> y: conv(c->2)."""
    net = Net()
    a = net.relu(net.conv("x", 3, c, name="a"))
    b = net.relu(net.conv(a, c, c, name="b"))
    net.conv(b, c, 2, k=1, name="y")
    return net.model([("x", [1, 3, 6, 6])], [("y", [1, 2, 6, 6])])


def groups(model: ir.Model, **options: object) -> dict[str, ChannelGroupReport]:
    ctx = PassContext()
    pruning = step("channel_pruning", **{"round_to": 1, **options})
    run_pipeline(model.clone(), Pipeline(name="t", steps=[pruning]), ctx)
    details = ctx.details[DETAILS_KEY]
    assert isinstance(details, PruningDetails)
    return {g.producers[0]: g for g in details.groups}


def test_round_to_min_and_max_bound_the_kept_channels() -> None:
    model = two_convs()
    assert groups(model, ratio=0.3)["a"].channels_after == 7
    assert groups(model, ratio=0.3, round_to=4)["a"].channels_after == 8
    assert groups(model, ratio=0.95, max_ratio=0.5)["a"].channels_after == 5
    assert groups(model, ratio=0.8, min_channels=4)["a"].channels_after == 4
    kept = groups(model, ratio=0.05)["a"]
    assert (kept.status, kept.channels_after) == ("kept", 10)


def test_round_to_rounds_to_the_nearest_multiple_unless_asked_up() -> None:
    model = two_convs(16)  # 30% of 16 removes 4: keep 12, halfway between 8 and 16
    assert groups(model, ratio=0.3, round_to=8)["a"].channels_after == 16  # ties go up
    assert groups(model, ratio=0.35, round_to=8)["a"].channels_after == 8  # 11 -> 8
    assert groups(model, ratio=0.35, round_to=8, round_mode="up")["a"].channels_after == 16
    # rounding down to 8 would remove more than max_ratio allows: up instead
    assert groups(model, ratio=0.35, round_to=8, max_ratio=0.4)["a"].channels_after == 16


def test_exclude_and_layer_ratios_by_producer_name() -> None:
    found = groups(two_convs(), ratio=0.5, exclude=["a*"], layer_ratios={"b": 0.2})
    assert found["a"].status == "skipped" and found["a"].reason == "excluded by 'a*'"
    assert (found["b"].status, found["b"].channels_after) == ("pruned", 8)


def test_activation_importance_ranks_by_calibration_outputs(tmp_path: Path) -> None:
    model = two_convs(4)
    a = next(n for n in model.graph if n.name == "a")
    weight, bias = a.inputs[1], a.inputs[2]
    assert weight is not None and weight.const_value is not None
    assert bias is not None and bias.const_value is not None
    w, b = weight.const_value.numpy().copy(), bias.const_value.numpy().copy()
    w[0] *= 1e-3  # channel 0: tiny weights (last by L1) but a large constant output
    b[0] = 100.0
    weight.const_value = ir.tensor(w, name=weight.name)
    bias.const_value = ir.tensor(b, name=bias.name)
    calibration = tmp_path / "calibration.npz"
    x = np.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype(np.float32)
    np.savez(calibration, x=x)

    def kept_bias(**options: object) -> np.ndarray:
        pruned, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.25, **options)
        node = next(n for n in pruned.graph if n.name == "a")
        value = node.inputs[2]
        assert value is not None and value.const_value is not None
        return value.const_value.numpy()

    assert 100.0 not in kept_bias(importance="l1")
    assert 100.0 in kept_bias(importance="activation", calibration=calibration)


def test_l1_and_l2_rank_channels_differently() -> None:
    model = two_convs(4)
    a = next(n for n in model.graph if n.name == "a")
    weight = a.inputs[1]
    assert weight is not None and weight.const_value is not None
    w = np.full((4, 3, 3, 3), 1.0, np.float32)
    w[0] = 0.5  # L1 13.5, L2 2.6: first by L1, last by L2
    w[1] = 0.0
    w[1, 0, 0, 0] = 10.0  # L1 10, L2 10: last by L1, first by L2
    weight.const_value = ir.tensor(w, name=weight.name)

    def kept_rows(importance: str) -> list[float]:
        pruned, _ = apply_one(
            model, "channel_pruning", round_to=1, ratio=0.25, importance=importance
        )
        node = next(n for n in pruned.graph if n.name == "a")
        value = node.inputs[1]
        assert value is not None and value.const_value is not None
        return sorted(float(np.abs(row).max()) for row in value.const_value.numpy())

    assert kept_rows("l1") == [0.5, 1.0, 1.0]
    assert kept_rows("l2") == [1.0, 1.0, 10.0]
