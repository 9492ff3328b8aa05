"""Models for the memory benchmarks: the corpus, onnx's light zoo models, a synthetic net.

onnx's ``light_*`` models replace every weight by a ``ConstantOfShape`` node fed by a
shape input; :func:`load_light` turns those into initializers again (value 0.02, as the
node says) so that the graph has the zoo model's real topology and weights outside the
arena. :func:`inception_stack` builds an Inception-like graph of any size, written breadth-first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
from onnx import TensorProto, helper, numpy_helper

CORPUS = Path("/tmp/models/corpus")
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"

# corpus model -> pinned input shapes (NAME -> dims)
CORPUS_SHAPES: dict[str, dict[str, list[int]]] = {
    "ch_PP-OCRv4_det_infer.onnx": {"x": [1, 3, 640, 640]},
    "ch_PP-OCRv4_rec_infer.onnx": {"x": [1, 3, 48, 320]},
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": {"x": [1, 3, 48, 192]},
    "silero_vad.onnx": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_16k_op15.onnx": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_16k_sequence.onnx": {"input": [4, 576]},
    "silero_vad_half.onnx": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_op18_ifless.onnx": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_openvino_16k.onnx": {},
}


def load_light(path: Path) -> ir.Model:
    """A light zoo model with its ``ConstantOfShape`` weights turned into initializers."""
    proto = onnx.load(str(path))
    graph = proto.graph
    shapes = {i.name: list(numpy_helper.to_array(i)) for i in graph.initializer}
    keep = []
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in shapes:
            value = numpy_helper.to_array(node.attribute[0].t).reshape(-1)[0]
            dims = [int(d) for d in shapes[node.input[0]]]
            graph.initializer.append(
                numpy_helper.from_array(np.full(dims, value, dtype=np.float32), node.output[0])
            )
        else:
            keep.append(node)
    used = {name for node in keep for name in node.input}
    survivors = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(survivors)
    weights = {i.name for i in graph.initializer} | set(shapes)
    inputs = [i for i in graph.input if i.name not in weights]  # weights are not inputs
    del graph.input[:]
    graph.input.extend(inputs)
    proto.ir_version = max(proto.ir_version, 4)  # initializers need not be graph inputs
    return ir.serde.deserialize_model(proto)


def inception_stack(blocks: int, channels: int = 32, size: int = 28) -> ir.Model:
    """``blocks`` Inception-like blocks (4 branches of 1-3 convs, summed, a 1x1 conv, a residual add).

    Each block has 12 nodes, so ``blocks=417`` gives about 5,000 nodes. Branches are
    written breadth-first (all first layers, then the second ones), as converters from
    TensorFlow often emit them; a depth-first order needs less memory.
    """
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    rng = np.random.default_rng(0)

    def conv(x: str, out: str, cin: int, cout: int, k: int) -> str:
        w = f"{out}_w"
        inits.append(
            numpy_helper.from_array(
                (rng.standard_normal((cout, cin, k, k)) * 0.05).astype(np.float32), w
            )
        )
        nodes.append(helper.make_node("Conv", [x, w], [out], pads=[k // 2] * 4, name=out))
        return out

    x = "x"
    for b in range(blocks):
        p = f"b{b}"
        # breadth-first, as TF-derived exporters often write it: every branch's first
        # layer, then the second layers, then the third
        nodes.append(
            helper.make_node(
                "MaxPool", [x], [f"{p}_p"], kernel_shape=[3, 3], pads=[1] * 4, name=f"{p}_p"
            )
        )
        a = conv(x, f"{p}_a", channels, channels, 1)
        c1 = conv(x, f"{p}_c1", channels, channels * 2, 1)
        d1 = conv(x, f"{p}_d1", channels, channels * 2, 1)
        e = conv(f"{p}_p", f"{p}_e", channels, channels, 1)
        c2 = conv(c1, f"{p}_c2", channels * 2, channels, 3)
        d2 = conv(d1, f"{p}_d2", channels * 2, channels * 2, 3)
        d3 = conv(d2, f"{p}_d3", channels * 2, channels, 3)
        nodes.append(helper.make_node("Sum", [a, c2, d3, e], [f"{p}_sum"], name=f"{p}_sum"))
        r = conv(f"{p}_sum", f"{p}_r", channels, channels, 1)
        nodes.append(helper.make_node("Relu", [r], [f"{p}_relu"], name=f"{p}_relu"))
        nodes.append(helper.make_node("Add", [f"{p}_relu", x], [f"{p}_out"], name=f"{p}_out"))
        x = f"{p}_out"
    graph = helper.make_graph(
        nodes,
        "inception_stack",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, channels, size, size])],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    model = ir.serde.deserialize_model(proto)
    from graphopt.engine.shapes import infer_shapes

    infer_shapes(model)
    return model
