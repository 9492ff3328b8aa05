"""Structured channel pruning on CNNs and a BERT-like encoder: MACs, latency, time taken.

Each model goes through ``optimize`` twice: the default pipeline alone (``base``), and the
default pipeline plus ``--prune structured:RATIO`` (``pruned``, verified on one random set).
Latency is the median of interleaved single-thread onnxruntime runs (CPU EP, all graph
optimizations on) of the original, base and pruned files; the ratio that isolates pruning
is pruned / base. MACs, groups and output deviation come from the report's ``pruning``
section; ``prune ms`` is the ``channel_pruning`` pass alone, ``optimize s`` the whole
pruned run (verification and bisection included).

    .venv/bin/python bench/pruning.py                        # PP-OCRv4 det + light_resnet50
    .venv/bin/python bench/pruning.py --synthetic 60 --bert  # + ResNet-like stack, BERT-like
    .venv/bin/python bench/pruning.py --ratio 0.5 --runs 30

Light zoo weights are constant-generated: their deviation numbers mean nothing, their
MACs and latency do. Prints a markdown table; ``--json FILE`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from graphopt.engine import optimize
from graphopt.engine.options import OptimizeOptions, VerifyOptions
from graphopt.engine.shapes import infer_shapes
from memory_models import CORPUS, LIGHT, load_light

DET = "ch_PP-OCRv4_det_infer.onnx"


def _finish(nodes: list, inits: list, inputs: list, outputs: list, name: str) -> ir.Model:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    model = ir.serde.deserialize_model(proto)
    infer_shapes(model)
    return model


def resnet_stack(blocks: int, channels: int = 64, size: int = 56) -> ir.Model:
    """A stem conv and ``blocks`` bottleneck blocks (conv-BN-relu x3, residual Add, Relu),
    then GlobalAveragePool -> Flatten -> Gemm(1000): 10 nodes per block, 6 more."""
    rng = np.random.default_rng(0)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def tensor(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv_bn(x: str, out: str, cin: int, cout: int, k: int, relu: bool = True) -> str:
        fan_in = cin * k * k
        w = tensor(f"{out}_w", rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / fan_in))
        nodes.append(helper.make_node("Conv", [x, w], [f"{out}_c"], pads=[k // 2] * 4, name=out))
        bn = [
            tensor(f"{out}_{p}", v)
            for p, v in (
                ("g", rng.uniform(0.2, 1.0, cout)),
                ("b", rng.standard_normal(cout) * 0.1),
                ("m", rng.standard_normal(cout) * 0.1),
                ("v", rng.uniform(0.5, 1.5, cout)),
            )
        ]
        nodes.append(helper.make_node("BatchNormalization", [f"{out}_c", *bn], [f"{out}_bn"]))
        if not relu:
            return f"{out}_bn"
        nodes.append(helper.make_node("Relu", [f"{out}_bn"], [f"{out}_r"]))
        return f"{out}_r"

    x = conv_bn("x", "stem", 3, channels, 3)
    for b in range(blocks):
        p = f"block{b}"
        h = conv_bn(x, f"{p}_a", channels, channels, 1)
        h = conv_bn(h, f"{p}_b", channels, channels, 3)
        h = conv_bn(h, f"{p}_c", channels, channels, 1, relu=False)
        nodes.append(helper.make_node("Add", [h, x], [f"{p}_add"]))
        nodes.append(helper.make_node("Relu", [f"{p}_add"], [f"{p}_out"]))
        x = f"{p}_out"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], axis=1))
    fc = tensor("fc_w", rng.standard_normal((1000, channels)) * 0.05)
    nodes.append(helper.make_node("Gemm", ["flat", fc, tensor("fc_b", np.zeros(1000))], ["y"]))
    nodes[-1].attribute.append(helper.make_attribute("transB", 1))
    return _finish(
        nodes,
        inits,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])],
        "resnet_stack",
    )


def bert_like(
    layers: int = 4, hidden: int = 256, ffn: int = 1024, heads: int = 4, seq: int = 128
) -> ir.Model:
    """Post-LN encoder layers: Q/K/V MatMul+Add, heads by Reshape/Transpose, Softmax,
    output projection, residual + LayerNormalization, then MatMul -> Gelu (erf) -> MatMul."""
    rng = np.random.default_rng(0)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    count = Counter[str]()

    def name(prefix: str) -> str:
        count[prefix] += 1
        return f"{prefix}{count[prefix]}"

    def tensor(prefix: str, array: Any, dtype: Any = np.float32) -> str:
        out = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(array).astype(dtype), out))
        return out

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def linear(x: str, n_in: int, n_out: int) -> str:
        w = tensor("w", rng.standard_normal((n_in, n_out)) / np.sqrt(n_in))
        return op("Add", [op("MatMul", [x, w]), tensor("b", rng.standard_normal(n_out) * 0.02)])

    def layer_norm(x: str) -> str:
        scale, bias = tensor("ln_g", np.ones(hidden)), tensor("ln_b", np.zeros(hidden))
        return op("LayerNormalization", [x, scale, bias], axis=-1)

    split = tensor("heads_shape", [1, seq, heads, hidden // heads], np.int64)
    merge = tensor("merge_shape", [1, seq, hidden], np.int64)
    x = "x"
    for _ in range(layers):
        q, k, v = (
            op("Transpose", [op("Reshape", [linear(x, hidden, hidden), split])], perm=p)
            for p in ([0, 2, 1, 3], [0, 2, 3, 1], [0, 2, 1, 3])
        )
        scores = op("Mul", [op("MatMul", [q, k]), tensor("scale", 1 / np.sqrt(hidden // heads))])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        merged = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge])
        x = layer_norm(op("Add", [linear(merged, hidden, hidden), x]))
        h = linear(x, hidden, ffn)
        erf = op("Erf", [op("Div", [h, tensor("sqrt2", np.sqrt(2.0))])])
        gelu = op("Mul", [op("Mul", [h, tensor("half", 0.5)]), op("Add", [erf, tensor("one", 1)])])
        x = layer_norm(op("Add", [linear(gelu, ffn, hidden), x]))
    nodes[-1].output[0] = "y"
    return _finish(
        nodes,
        inits,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, hidden])],
        "bert_like",
    )


def latencies(paths: list[Path], pins: dict[str, list[int]], runs: int) -> list[float]:
    """Median single-thread latency (ms) of each model, runs interleaved."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions = [
        ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in paths
    ]
    rng = np.random.default_rng(0)
    feeds = {
        i.name: rng.standard_normal(pins.get(i.name) or i.shape).astype(np.float32)
        for i in sessions[0].get_inputs()
    }
    times: list[list[float]] = [[] for _ in sessions]
    for session in sessions:
        session.run(None, feeds)
    for _ in range(runs):
        for session, samples in zip(sessions, times, strict=True):
            started = time.perf_counter()
            session.run(None, feeds)
            samples.append((time.perf_counter() - started) * 1000)
    return [statistics.median(samples) for samples in times]


def measure(
    name: str,
    path: Path,
    pins: dict[str, list[int]],
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """One row: the pruned run's report numbers and the three latencies."""
    base, pruned = workdir / f"{name}.base.onnx", workdir / f"{name}.pruned.onnx"
    with optimize(
        path, OptimizeOptions(input_shapes=pins, verify=VerifyOptions(enabled=False)), output=base
    ):
        pass
    started = time.perf_counter()
    options = OptimizeOptions(
        input_shapes=pins,
        prune=[f"structured:{args.ratio}"],
        pass_options={"channel_pruning": {"round_to": args.round_to}} if args.round_to else {},
        verify=VerifyOptions(sets=1),
    )
    with optimize(path, options, output=pruned) as result:
        report = result.report
    elapsed = time.perf_counter() - started
    section = report.pruning
    assert section is not None
    assert _io(ir.load(pruned)) == _io(ir.load(base)), "graph IO shapes changed"
    statuses = Counter(g.status for g in section.groups)
    skipped = Counter((g.reason or "").split("; ")[0] for g in section.groups if g.reason)
    prune_ms = sum(r.ms for r in report.passes if r.name == "channel_pruning")
    t_orig, t_base, t_pruned = latencies([path, base, pruned], pins, args.runs)
    worst = section.outputs[0] if section.outputs else None
    return {
        "model": name,
        "nodes": report.original.nodes,
        "groups": dict(statuses),
        "skip_reasons": dict(skipped.most_common(5)),
        "macs_before": section.macs_before,
        "macs_after": section.macs_after,
        "macs_reduction": 1 - section.macs_after / section.macs_before,
        "params_before": section.params_before,
        "params_after": section.params_after,
        "latency_original_ms": t_orig,
        "latency_base_ms": t_base,
        "latency_pruned_ms": t_pruned,
        "ratio_vs_base": t_pruned / t_base,
        "ratio_vs_original": t_pruned / t_orig,
        "prune_ms": prune_ms,
        "optimize_s": elapsed,
        "max_abs": None if worst is None else worst.max_abs,
        "cosine": None if worst is None else worst.cosine,
        "top1": None if worst is None else worst.top1_agreement,
        "verification": report.verification.status,
        "rolled_back": [r.name for r in report.verification.rolled_back],
    }


def _io(model: ir.Model) -> list[tuple[str | None, object]]:
    """Names and shapes of the graph inputs and outputs."""
    values = [*model.graph.inputs, *model.graph.outputs]
    return [(v.name, None if v.shape is None else list(v.shape.dims)) for v in values]


def table(rows: list[dict[str, Any]], spec: str) -> str:
    head = (
        f"| model ({spec}) | nodes | groups pruned/skipped | MACs before -> after "
        "| latency orig / base / pruned ms | pruned/base | prune ms | optimize s | cosine |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        g = r["groups"]
        cos = "-" if r["cosine"] is None else f"{r['cosine']:.4f}"
        lines.append(
            f"| {r['model']} | {r['nodes']} | {g.get('pruned', 0)}/{g.get('skipped', 0)} "
            f"| {r['macs_before'] / 1e6:.1f}M -> {r['macs_after'] / 1e6:.1f}M "
            f"(-{r['macs_reduction']:.1%}) "
            f"| {r['latency_original_ms']:.2f} / {r['latency_base_ms']:.2f} / "
            f"{r['latency_pruned_ms']:.2f} | {r['ratio_vs_base']:.3f} | {r['prune_ms']:.0f} "
            f"| {r['optimize_s']:.1f} | {cos} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per model")
    parser.add_argument("--synthetic", type=int, default=0, help="ResNet-like stack blocks")
    parser.add_argument("--bert", action="store_true", help="also a 4-layer BERT-like encoder")
    parser.add_argument("--round-to", type=int, help="channel_pruning round_to (default 8)")
    parser.add_argument("--only", default="", help="run only models whose name contains this")
    parser.add_argument("--det-size", type=int, default=640)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        models: list[tuple[str, Path, dict[str, list[int]]]] = []
        if (CORPUS / DET).exists():
            models.append((DET, CORPUS / DET, {"x": [1, 3, args.det_size, args.det_size]}))
        if (LIGHT / "light_resnet50.onnx").exists():
            light = workdir / "light_resnet50.onnx"
            ir.save(load_light(LIGHT / "light_resnet50.onnx"), light)
            models.append(("light_resnet50.onnx", light, {}))
        if args.synthetic:
            stack = workdir / f"resnet_stack_{args.synthetic}.onnx"
            ir.save(resnet_stack(args.synthetic), stack)
            models.append((stack.name, stack, {}))
        if args.bert:
            bert = workdir / "bert_like.onnx"
            ir.save(bert_like(), bert)
            models.append((bert.name, bert, {}))
        for name, path, pins in models:
            if args.only in name:
                rows.append(measure(name, path, pins, args, workdir))
                print(json.dumps(rows[-1]), flush=True)
    print(table(rows, f"structured:{args.ratio}, round_to={args.round_to or 8}"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
