"""Channel dependency groups on hand-built graphs whose right groups are known."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
from graphs import apply_one, assert_equivalent, check, init, node
from nets import Net, residual_cnn

from graphopt.engine.pruning.channel_groups import ChannelGroup, discover_channels


def groups(model: ir.Model) -> dict[tuple[str, ...], ChannelGroup]:
    return {g.producers: g for g in discover_channels(model).groups}


def zero_channels(model: ir.Model, channels: dict[str, list[int]]) -> None:
    """Zero the weight rows and bias entries of output ``channels`` of the named nodes."""
    nodes = {n.name: n for n in model.graph}
    for name, picked in channels.items():
        for index in (1, 2):
            value = nodes[name].inputs[index]
            assert value is not None and value.const_value is not None
            array = value.const_value.numpy().copy()
            array[picked] = 0
            value.const_value = ir.tensor(array, name=value.name)


def weight(model: ir.Model, name: str, index: int = 1) -> np.ndarray:
    node = next(n for n in model.graph if n.name == name)
    value = node.inputs[index]
    assert value is not None and value.const_value is not None
    return value.const_value.numpy()


def test_residual_add_couples_every_producer_and_depthwise_conv() -> None:
    found = groups(residual_cnn())
    assert set(found) == {("depthwise", "project", "stem"), ("expand",), ("y",)}
    assert found[("depthwise", "project", "stem")].channels == 8
    assert not found[("depthwise", "project", "stem")].reasons
    assert found[("y",)].reasons == ["reaches graph output 'y'"]


def test_residual_pruning_is_exact_when_pruned_channels_are_zero() -> None:
    model = residual_cnn()
    zero_channels(model, {"stem": [1, 5], "project": [1, 5], "depthwise": [1, 5]})
    zero_channels(model, {"expand": [0, 3, 7, 9, 12]})
    bn = next(n for n in model.graph if n.op_type == "BatchNormalization")
    for index in (2, 3):  # beta and mean: a zero channel stays zero after BN
        value = bn.inputs[index]
        assert value is not None and value.const_value is not None
        array = value.const_value.numpy().copy()
        array[[0, 3, 7, 9, 12]] = 0
        value.const_value = ir.tensor(array, name=value.name)
    pruned, record = apply_one(model, "channel_pruning", round_to=1, ratio=0.3)
    check(pruned)
    assert weight(pruned, "stem").shape == (6, 3, 3, 3)
    assert weight(pruned, "depthwise").shape == (6, 1, 3, 3)
    assert next(n for n in pruned.graph if n.name == "depthwise").attributes["group"].value == 6
    assert weight(pruned, "expand").shape == (12, 6, 3, 3)
    assert weight(pruned, "y").shape == (4, 6, 1, 1)
    assert_equivalent(model, pruned, atol=1e-5)
    assert "channel groups pruned: 2" in record.notes


def test_concat_remaps_consumer_columns() -> None:
    net = Net()
    a = net.relu(net.conv("x", 3, 4, name="a"))
    b = net.relu(net.conv("x", 3, 6, name="b"))
    cat = net.op("Concat", [a, b], axis=1)
    net.conv(cat, 10, 5, k=1, name="y")
    model = net.model([("x", [1, 3, 6, 6])], [("y", [1, 5, 6, 6])])
    found = groups(model)
    assert {p: g.channels for p, g in found.items()} == {("a",): 4, ("b",): 6, ("y",): 5}
    zero_channels(model, {"a": [0, 2], "b": [1, 4, 5]})
    pruned, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.5)
    original = weight(model, "y")
    np.testing.assert_array_equal(weight(pruned, "y"), original[:, [1, 3, 4, 6, 7]])
    assert_equivalent(model, pruned, atol=1e-5)


def test_split_sizes_follow_the_kept_channels() -> None:
    net = Net()
    a = net.relu(net.conv("x", 3, 8, name="a"))
    net.inits.append(init("sizes", np.array([4, 4], np.int64)))
    net.nodes.append(node("Split", [a, "sizes"], ["s1", "s2"], axis=1, name="split"))
    left = net.conv("s1", 4, 2, k=1, name="left")
    right = net.conv("s2", 4, 2, k=1, name="right")
    net.op("Add", [left, right], name="y")
    net_model = net.model([("x", [1, 3, 4, 4])], [("y", [1, 2, 4, 4])])
    zero_channels(net_model, {"a": [0, 1, 2, 7]})
    pruned, _ = apply_one(net_model, "channel_pruning", round_to=1, ratio=0.5)
    check(pruned)
    assert weight(pruned, "left").shape == (2, 1, 1, 1)
    assert weight(pruned, "right").shape == (2, 3, 1, 1)
    assert_equivalent(net_model, pruned, atol=1e-5)


def test_grouped_conv_prunes_whole_groups() -> None:
    net = Net()
    a = net.relu(net.conv("x", 3, 8, name="a"))
    g = net.relu(net.conv(a, 8, 8, group=2, name="grouped"))
    net.conv(g, 8, 2, k=1, name="y")
    model = net.model([("x", [1, 3, 5, 5])], [("y", [1, 2, 5, 5])])
    found = groups(model)
    assert found[("a", "grouped")].channels == 8
    assert len(found[("a", "grouped")].classes) == 2
    zero_channels(model, {"a": [4, 5, 6, 7], "grouped": [4, 5, 6, 7]})
    pruned, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.5)
    assert weight(pruned, "grouped").shape == (4, 4, 3, 3)
    assert next(n for n in pruned.graph if n.name == "grouped").attributes["group"].value == 1
    assert_equivalent(model, pruned, atol=1e-5)


def test_grouped_conv_on_a_graph_input_is_skipped_with_reason() -> None:
    net = Net()
    net.conv("x", 4, 4, group=4, name="y")
    net.op("Relu", ["y"], name="out")
    model = net.model([("x", [1, 4, 5, 5])], [("out", [1, 4, 5, 5])])
    reasons = groups(model)[("y",)].reasons
    assert "grouped Conv 'y' reads channels that cannot be pruned" in reasons


def test_mlp_hidden_dim_is_a_group_and_attention_heads_are_skipped() -> None:
    net = Net()
    h = net.op("Add", [net.matmul("x", 16, 32, name="fc1"), net.weight((32,), "b")])
    act = net.op("Mul", [h, net.op("Sigmoid", [h])])
    out = net.op("Add", [net.matmul(act, 32, 16, name="fc2"), net.weight((16,), "b")])
    net.op("Add", [out, "x"], name="y")
    q = net.matmul("x", 16, 16, name="query")
    net.op("Reshape", [q, "heads"], name="q_heads")
    net.inits.append(init("heads", np.array([1, 4, 2, 8], np.int64)))
    model = net.model([("x", [1, 4, 16])], [("y", [1, 4, 16]), ("q_heads", [1, 4, 2, 8])])
    found = groups(model)
    assert found[("fc1",)].channels == 32 and not found[("fc1",)].reasons
    assert "Reshape 'q_heads' splits or mixes the channel axis" in found[("query",)].reasons
    assert found[("fc2",)].reasons
    zero_channels_mm = weight(model, "fc1").copy()
    zero_channels_mm[:, :8] = 0
    fc1 = next(n for n in model.graph if n.name == "fc1").inputs[1]
    assert fc1 is not None
    fc1.const_value = ir.tensor(zero_channels_mm, name=fc1.name)
    pruned, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.25)
    assert weight(pruned, "fc1").shape == (16, 24)
    assert weight(pruned, "fc2").shape == (24, 16)
    check(pruned)


def test_flatten_into_gemm_slices_blocks_of_features() -> None:
    net = Net()
    a = net.relu(net.conv("x", 3, 4, name="a"))
    flat = net.op("Flatten", [a], axis=1)
    net.op("Gemm", [flat, net.weight((16, 3)), net.weight((3,), "b")], name="y")
    model = net.model([("x", [1, 3, 2, 2])], [("y", [1, 3])])
    zero_channels(model, {"a": [1, 2]})
    pruned, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.5)
    assert weight(pruned, "y").shape == (8, 3)
    assert_equivalent(model, pruned, atol=1e-5)


def test_unknown_op_blocks_with_its_name() -> None:
    net = Net()
    a = net.conv("x", 3, 4, name="a")
    lrn = net.op("LRN", [a], name="lrn", size=3)
    net.conv(lrn, 4, 2, name="y")
    model = net.model([("x", [1, 3, 4, 4])], [("y", [1, 2, 4, 4])])
    assert groups(model)[("a",)].reasons == ["LRN 'lrn' is not channel-transparent"]


def test_squeeze_excitation_gate_couples_the_gate_with_its_input() -> None:
    net = Net()
    a = net.relu(net.conv("x", 3, 8, name="a"))
    squeeze = net.relu(net.conv(net.op("GlobalAveragePool", [a]), 8, 4, k=1, name="squeeze"))
    gate = net.op("HardSigmoid", [net.conv(squeeze, 4, 8, k=1, name="excite")])
    net.conv(net.op("Mul", [a, gate]), 8, 2, k=1, name="y")
    model = net.model([("x", [1, 3, 5, 5])], [("y", [1, 2, 5, 5])])
    found = groups(model)
    assert set(found) == {("a", "excite"), ("squeeze",), ("y",)}
    zero_channels(model, {"a": [2, 6], "excite": [2, 6], "squeeze": [1]})
    pruned, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.25)
    assert weight(pruned, "excite").shape == (6, 3, 1, 1)
    assert weight(pruned, "y").shape == (2, 6, 1, 1)
    assert_equivalent(model, pruned, atol=1e-5)


def test_conv_transpose_reads_and_makes_channels() -> None:
    net = Net()
    a = net.relu(net.conv("x", 3, 8, name="a"))
    up = net.op("ConvTranspose", [a, net.weight((8, 6, 2, 2)), net.weight((6,), "b")], name="up")
    net.conv(net.relu(up), 6, 2, k=1, name="y")
    model = net.model([("x", [1, 3, 4, 4])], [("y", [1, 2, 5, 5])])
    found = groups(model)
    assert {p: g.channels for p, g in found.items()} == {("a",): 8, ("up",): 6, ("y",): 2}
    zero_channels(model, {"a": [0, 5]})
    pruned, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.25, exclude=["up"])
    assert weight(pruned, "up").shape == (6, 6, 2, 2)
    assert_equivalent(model, pruned, atol=1e-5)
    both, _ = apply_one(model, "channel_pruning", round_to=1, ratio=0.25)
    assert weight(both, "up").shape == (6, 5, 2, 2)
    assert weight(both, "y").shape == (2, 5, 1, 1)
    check(both)
