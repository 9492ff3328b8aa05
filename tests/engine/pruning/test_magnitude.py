"""Unstructured magnitude pruning: exact zero counts, N:M patterns, shapes untouched."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
from graphs import apply_one, check, counts, random_feeds, run
from nets import Net

from graphopt.engine.passes import run_pipeline
from graphopt.engine.passes.base import PassContext
from graphopt.engine.passes.pipeline import Pipeline, step
from graphopt.engine.passes.pruning.magnitude_pruning import SPEED_NOTE
from graphopt.engine.pruning.report import DETAILS_KEY, PruningDetails


def mlp() -> ir.Model:
    """x[2,64] -> fc1 (64x64) -> Relu -> fc2 (64x32) -> small (32x4): 4096, 2048, 128 weights."""
    net = Net()
    h = net.relu(net.matmul("x", 64, 64, name="fc1"))
    h = net.matmul(h, 64, 32, name="fc2")
    net.matmul(h, 32, 4, name="y")
    return net.model([("x", [2, 64])], [("y", [2, 4])])


def weights(model: ir.Model) -> dict[str, np.ndarray]:
    found = {}
    for n in model.graph:
        value = n.inputs[1] if len(n.inputs) > 1 else None
        if value is not None and value.const_value is not None:
            found[n.name or ""] = value.const_value.numpy()
    return found


def zeros(array: np.ndarray) -> int:
    return int(array.size - np.count_nonzero(array))


def test_global_sparsity_is_exact_over_all_eligible_tensors() -> None:
    model = mlp()
    pruned, record = apply_one(model, "magnitude_pruning", sparsity=0.5, min_elements=1000)
    after = weights(pruned)
    assert zeros(after["fc1"]) + zeros(after["fc2"]) == round(0.5 * (4096 + 2048))
    assert zeros(after["y"]) == 0  # below min_elements
    assert counts(record)["weights zeroed"] == 3072
    kept = np.abs(np.concatenate([after["fc1"].ravel(), after["fc2"].ravel()]))
    dropped = np.abs(np.concatenate([weights(model)[k].ravel() for k in ("fc1", "fc2")]))
    dropped = dropped[np.concatenate([after["fc1"].ravel(), after["fc2"].ravel()]) == 0]
    assert kept[kept > 0].min() >= dropped.max()  # one threshold for all tensors
    check(pruned)
    assert run(pruned, random_feeds(pruned))["y"].shape == (2, 4)


def test_layer_scope_prunes_each_tensor_to_its_own_sparsity() -> None:
    pruned, _ = apply_one(
        mlp(),
        "magnitude_pruning",
        scope="layer",
        sparsity=0.25,
        layer_sparsity={"fc2": 0.75},
        min_elements=1,
        exclude=["y"],
    )
    after = weights(pruned)
    assert zeros(after["fc1"]) == 1024
    assert zeros(after["fc2"]) == 1536
    assert zeros(after["y"]) == 0


def test_two_of_four_keeps_the_two_largest_along_the_reduction_axis() -> None:
    model = mlp()
    pruned, _ = apply_one(model, "magnitude_pruning", nm="2:4", min_elements=1)
    for name in ("fc1", "fc2", "y"):
        before, after = weights(model)[name], weights(pruned)[name]
        blocks = after.T.reshape(after.shape[1], -1, 4)  # MatMul reduces over axis 0
        assert (np.count_nonzero(blocks, axis=-1) == 2).all()
        original = np.abs(before.T.reshape(blocks.shape))
        smallest_kept = np.where(blocks != 0, original, np.inf).min(axis=-1)
        largest_dropped = np.where(blocks == 0, original, -np.inf).max(axis=-1)
        assert (smallest_kept >= largest_dropped).all()


def test_conv_kernels_and_axes_that_do_not_divide_are_reported() -> None:
    net = Net()
    a = net.relu(net.conv("x", 3, 8, name="odd"))  # reduction axis of 3: not 2:4-able
    net.conv(a, 8, 8, name="y")
    model = net.model([("x", [1, 3, 6, 6])], [("y", [1, 8, 6, 6])])
    pruned, record = apply_one(model, "magnitude_pruning", nm="2:4", min_elements=1)
    assert "1 tensors left dense: axis not a multiple of 4" in record.notes
    assert zeros(weights(pruned)["odd"]) == 0
    y = weights(pruned)["y"]
    assert (np.count_nonzero(np.moveaxis(y, 1, -1).reshape(-1, 4), axis=-1) <= 2).all()

    kernels, _ = apply_one(
        model,
        "magnitude_pruning",
        scope="layer",
        sparsity=0.5,
        granularity="kernel",
        norm="l2",
        min_elements=1,
    )
    norms = (weights(kernels)["y"] ** 2).sum(axis=(2, 3))
    assert (norms == 0).sum() == 32  # half of the 64 kernels, whole kernels zeroed


def test_details_list_every_tensor_and_the_speed_note() -> None:
    model = mlp()
    ctx = PassContext()
    run_pipeline(model, Pipeline(name="t", steps=[step("magnitude_pruning", sparsity=0.5)]), ctx)
    details = ctx.details[DETAILS_KEY]
    assert isinstance(details, PruningDetails)
    assert [(layer.node, layer.elements) for layer in details.layers] == [
        ("fc1", 4096),
        ("fc2", 2048),
    ]
    assert sum(layer.zeros_after for layer in details.layers) == 3072
    assert SPEED_NOTE in details.notes
