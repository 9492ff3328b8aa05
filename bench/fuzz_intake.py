"""Model-intake fuzz: hypothesis mutates valid models and feeds them to the engine's loader.

``python bench/fuzz_intake.py [--examples N] [--seed S] [--json out.json]``

Every mutated input must either load or be refused with a :class:`GraphoptError` (a stable
code); anything else (another exception, a crash, a hang past ``--timeout-s``) is a finding.
Mutations: byte-level (flip, truncate, splice, insert junk) on the serialized protobuf, and
structural (huge or negative dims, opset versions, renamed/duplicated tensors, removed
nodes, cycles, external-data locations and offsets) on the ModelProto before serializing.
Half the inputs are zip bundles with external data. Runs in-process, single-threaded, under
an address-space limit, so an allocation bomb shows up as a MemoryError finding.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import resource
import signal
import sys
import time
import traceback
import zipfile
from typing import Any

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from graphopt.engine import GraphoptError, load_model

FLOAT = TensorProto.FLOAT


def _seed_models() -> list[onnx.ModelProto]:
    """Small valid models: a conv net with initializers, a graph with an If, a chain."""
    conv = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1),
        ],
        "conv",
        [helper.make_tensor_value_info("x", FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", FLOAT, [1, 10])],
        initializer=[
            numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w"),
            numpy_helper.from_array(np.zeros(4, np.float32), "b"),
            numpy_helper.from_array(np.ones((10, 4), np.float32), "fw"),
        ],
    )
    then = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", FLOAT, [2])],
    )
    other = helper.make_graph(
        [helper.make_node("Abs", ["x"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", FLOAT, [2])],
    )
    branchy = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)],
        "if",
        [
            helper.make_tensor_value_info("x", FLOAT, [2]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", FLOAT, [2])],
    )
    chain = helper.make_graph(
        [
            helper.make_node(op, [a], [b])
            for op, a, b in (("Relu", "x", "a"), ("Sigmoid", "a", "y"))
        ],
        "chain",
        [helper.make_tensor_value_info("x", FLOAT, [3, 4])],
        [helper.make_tensor_value_info("y", FLOAT, [3, 4])],
    )
    models = []
    for graph in (conv, branchy, chain):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        models.append(model)
    return models


SEEDS = _seed_models()


def _externalize(model: onnx.ModelProto) -> tuple[onnx.ModelProto, bytes]:
    """Move every initializer's bytes into one ``weights.bin``; (model, weights)."""
    weights = bytearray()
    for tensor in model.graph.initializer:
        raw = numpy_helper.to_array(tensor).tobytes()
        offset = len(weights)
        weights += raw
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", "weights.bin"),
            ("offset", str(offset)),
            ("length", str(len(raw))),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return model, bytes(weights)


@st.composite
def structural(draw: st.DrawFn, model: onnx.ModelProto) -> onnx.ModelProto:
    """Apply 1-3 structural mutations to a copy of ``model``."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    graph = proto.graph
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "dims",
                    "opset",
                    "rename",
                    "duplicate",
                    "drop",
                    "cycle",
                    "location",
                    "offset",
                    "ir",
                    "domain",
                ]
            )
        )
        values = list(graph.input) + list(graph.output)
        if kind == "dims" and values:
            value = draw(st.sampled_from(values))
            for dim in value.type.tensor_type.shape.dim:
                dim.dim_value = draw(st.sampled_from([0, 1, 2**31, 2**40, 2**62]))
        elif kind == "opset":
            proto.opset_import[0].version = draw(st.integers(-5, 1000))
        elif kind == "ir":
            proto.ir_version = draw(st.integers(-1, 100))
        elif kind == "rename" and graph.node:
            node = draw(st.sampled_from(list(graph.node)))
            if node.input:
                node.input[0] = draw(st.sampled_from(["ghost", "", "y", node.output[0]]))
        elif kind == "duplicate" and graph.node:
            graph.node.append(draw(st.sampled_from(list(graph.node))))
        elif kind == "drop" and graph.node:
            del graph.node[draw(st.integers(0, len(graph.node) - 1))]
        elif kind == "cycle" and len(graph.node) > 1 and graph.node[0].input:
            graph.node[0].input[0] = graph.node[-1].output[0]
        elif kind == "domain" and graph.node:
            draw(st.sampled_from(list(graph.node))).domain = draw(
                st.sampled_from(["com.evil", "ai.onnx.ml", "com.microsoft", "\x00"])
            )
        elif kind in ("location", "offset"):
            tensor = graph.initializer.add()
            tensor.name, tensor.data_type = f"ext{len(graph.initializer)}", FLOAT
            tensor.dims.extend([draw(st.sampled_from([1, 4, 2**20, 2**40]))])
            tensor.data_location = TensorProto.EXTERNAL
            location = draw(
                st.sampled_from(
                    ["weights.bin", "../weights.bin", "/etc/passwd", "a/../../x", "\x00", "", "."]
                )
            )
            offset = draw(st.sampled_from(["0", "-1", "999999999", "x", str(2**63)]))
            for key, value in (("location", location), ("offset", offset), ("length", "16")):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
    return proto


@st.composite
def mutated_inputs(draw: st.DrawFn) -> tuple[str, bytes]:
    """(kind, bytes): a mutated ``.onnx`` file or ``.zip`` bundle."""
    model = draw(st.sampled_from(SEEDS))
    if draw(st.booleans()):
        model = draw(structural(model))
    bundle = draw(st.booleans()) and len(model.graph.initializer) > 0
    weights = b""
    if bundle:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        try:
            model, weights = _externalize(copy)
        except Exception:
            bundle = False
    data = bytearray(model.SerializeToString())
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "insert"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            data[at : at + draw(st.integers(1, 16))] = b""
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    if not bundle:
        return "onnx", bytes(data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.onnx", bytes(data))
        archive.writestr("weights.bin", weights)
    return "zip", buffer.getvalue()


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def run(examples: int, seed: int, timeout_s: float, memory_bytes: int) -> dict[str, Any]:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    signal.signal(signal.SIGALRM, _alarm)
    outcomes: collections.Counter[str] = collections.Counter()
    findings: list[dict[str, str]] = []
    durations: list[float] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(sample=mutated_inputs())
    def one(sample: tuple[str, bytes]) -> None:
        kind, data = sample
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            load_model(data).close()  # zip bytes are recognized as a bundle
            outcomes["loaded"] += 1
        except GraphoptError as error:
            outcomes[str(error.code)] += 1
        except _Hang:
            outcomes["FINDING:hang"] += 1
            findings.append({"kind": "hang", "input": kind})
        except BaseException as error:  # anything but a typed refusal is a finding
            outcomes[f"FINDING:{type(error).__name__}"] += 1
            findings.append(
                {
                    "kind": type(error).__name__,
                    "input": kind,
                    "trace": traceback.format_exc(limit=3),
                }
            )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        durations.append(time.perf_counter() - start)

    started = time.perf_counter()
    one()
    elapsed = time.perf_counter() - started
    return {
        "examples": len(durations),
        "seconds": round(elapsed, 1),
        "per_second": round(len(durations) / elapsed, 1),
        "max_ms": round(max(durations) * 1000, 1) if durations else 0,
        "outcomes": dict(outcomes.most_common()),
        "findings": findings[:20],
        "finding_count": len(findings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--memory-bytes", type=int, default=4 << 30)
    parser.add_argument("--json", help="write the result here too")
    args = parser.parse_args()
    result = run(args.examples, args.seed, args.timeout_s, args.memory_bytes)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as sink:
            sink.write(text)
    sys.exit(1 if result["finding_count"] else 0)


if __name__ == "__main__":
    main()
