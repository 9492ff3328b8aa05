"""A tiny network builder for the pruning tests: CNN and MLP blocks with random weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_ir as ir
from graphs import init, make_model, node, vi

from graphopt.engine.shapes import infer_shapes


class Net:
    """Appends nodes and initializers; :meth:`model` returns an onnx-ir model with shapes."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def weight(self, shape: tuple[int, ...], prefix: str = "w") -> str:
        name = self.name(prefix)
        self.inits.append(init(name, self.rng.standard_normal(shape).astype(np.float32)))
        return name

    def op(self, op: str, inputs: list[str], name: str | None = None, **attrs: Any) -> str:
        out = name or self.name(op.lower())
        self.nodes.append(node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(
        self, x: str, c_in: int, c_out: int, k: int = 3, group: int = 1, name: str | None = None
    ) -> str:
        w = self.weight((c_out, c_in // group, k, k))
        b = self.weight((c_out,), "b")
        pads = [k // 2] * 4
        return self.op("Conv", [x, w, b], name, pads=pads, group=group)

    def bn(self, x: str, c: int) -> str:
        scale, bias, mean = (self.weight((c,), p) for p in ("g", "beta", "mean"))
        var = self.name("var")
        self.inits.append(init(var, self.rng.uniform(0.5, 1.5, c).astype(np.float32)))
        return self.op("BatchNormalization", [x, scale, bias, mean, var])

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def matmul(self, x: str, k: int, n: int, name: str | None = None) -> str:
        return self.op("MatMul", [x, self.weight((k, n))], name)

    def model(
        self, inputs: list[tuple[str, list[int]]], outputs: list[tuple[str, list[int]]]
    ) -> ir.Model:
        model = make_model(
            self.nodes,
            [vi(n, s) for n, s in inputs],
            [vi(n, s) for n, s in outputs],
            self.inits,
        )
        infer_shapes(model)
        return model


def residual_cnn(seed: int = 0) -> ir.Model:
    """stem(3->8) -> [conv-bn-relu(8->16) -> conv(16->8)] + stem -> depthwise -> head(8->4)."""
    net = Net(seed)
    stem = net.relu(net.conv("x", 3, 8, name="stem"))
    inner = net.relu(net.bn(net.conv(stem, 8, 16, name="expand"), 16))
    block = net.op("Add", [net.conv(inner, 16, 8, k=1, name="project"), stem])
    dw = net.relu(net.conv(block, 8, 8, group=8, name="depthwise"))
    net.conv(dw, 8, 4, k=1, name="y")
    return net.model([("x", [1, 3, 8, 8])], [("y", [1, 4, 8, 8])])


def classifier(seed: int = 0, batch: int = 8) -> ir.Model:
    """conv-bn-relu(3->16) -> residual conv(16->16) -> pool -> flatten -> Gemm(16->10) logits."""
    net = Net(seed)
    stem = net.relu(net.bn(net.conv("x", 3, 16, name="stem"), 16))
    body = net.relu(net.conv(stem, 16, 16, name="body"))
    block = net.op("Add", [body, stem])
    pooled = net.op("GlobalAveragePool", [block])
    flat = net.op("Flatten", [pooled], axis=1)
    net.op("Gemm", [flat, net.weight((10, 16)), net.weight((10,), "b")], "y", transB=1)
    return net.model([("x", [batch, 3, 8, 8])], [("y", [batch, 10])])
