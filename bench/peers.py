"""graphopt against its peers on one model, measured side by side.

Each optimizer runs in its own subprocess with a timeout (a crash, a hang or a non-zero
exit is recorded, not raised), so its wall time and peak RSS are its own:

- ``graphopt``: ``graphopt optimize MODEL -o OUT`` (the engine's default pipeline and
  options, verification included; ``--input-shape`` pins passed on), and ``graphopt-ort``:
  the same with ``--target onnxruntime``;
- ``onnxsim`` (``simplify``, pinned shapes as ``overwrite_input_shapes``), ``onnxslim``
  (``slim``, pinned shapes as ``input_shapes``), ``onnxoptimizer`` (its default passes);
- ``ort-basic`` / ``ort-extended``: onnxruntime's offline optimizer
  (``SessionOptions.optimized_model_filepath`` at ORT_ENABLE_BASIC / ORT_ENABLE_EXTENDED);
- ``ort-transformers``: ``onnxruntime.transformers.optimizer.optimize_model`` (transformer
  models only, with ``--architecture``).

Every variant is verified against the original with onnxruntime (ORT_DISABLE_ALL) on the
same random inputs (2 sets; graphopt's default tolerances: float32 atol 1e-4, rtol 1e-3);
``max_abs`` is the largest absolute difference. A variant whose outputs differ is
``broken``; one onnxruntime cannot load is ``broken`` too. Then every variant that ran is
timed interleaved round-robin (each round runs every variant once, the order rotated round
by round) in four onnxruntime configurations: ORT_ENABLE_ALL and ORT_DISABLE_ALL, each with
1 intra-op thread and with onnxruntime's default thread count (spinning off, so that one
session's idle pool threads do not steal the cores from the next one in the round). The latency ratio is the
median over rounds of ``variant time / original time in the same round``, which cancels
most of a shared machine's drift; ``p50_ms`` is also kept.

    .venv/bin/python bench/peers.py MODEL [--input-shape x=1,3,320,320] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
GRAPHOPT = Path(sys.executable).parent / "graphopt"
CONFIGS = {  # name -> (graph optimization level, intra-op threads; 0 = onnxruntime decides)
    "all-1t": (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, 1),
    "all-mt": (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, 0),
    "disable-1t": (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, 1),
    "disable-mt": (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, 0),
}
TOOLS = (
    "graphopt",
    "graphopt-ort",
    "onnxsim",
    "onnxslim",
    "onnxoptimizer",
    "ort-basic",
    "ort-extended",
    "ort-transformers",
)
TOLERANCES = {"float64": (1e-9, 1e-7), "float32": (1e-4, 1e-3), "float16": (1e-2, 1e-2)}


@dataclass
class Variant:
    """One optimized form of a model and what measuring it found."""

    tool: str
    status: str = "ok"  # ok | broken | failed | timeout | absent | skipped
    reason: str | None = None
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    nodes: int | None = None
    max_abs: float | None = None
    ratio: dict[str, float] = field(default_factory=dict)  # config -> median paired ratio
    spread: dict[str, float] = field(default_factory=dict)  # config -> IQR of paired ratios
    p50_ms: dict[str, float] = field(default_factory=dict)
    path: str | None = None
    identical: bool = False  # same graph and opsets as the original: its ratio is noise


def same_graph(a: Path, b: Path) -> bool:
    """Whether two models have byte-identical graphs (external data not compared) and opsets."""
    first = onnx.load(str(a), load_external_data=False)
    second = onnx.load(str(b), load_external_data=False)
    return (
        first.graph.SerializeToString() == second.graph.SerializeToString()
        and list(first.opset_import) == list(second.opset_import)
        and list(first.functions) == list(second.functions)
    )


def count_nodes(path: Path) -> int:
    """Nodes in every body: the main graph, subgraphs (If/Loop/Scan) and functions."""
    model = onnx.load(str(path), load_external_data=False)

    def graph_nodes(graph: onnx.GraphProto) -> int:
        total = 0
        for node in graph.node:
            total += 1
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    total += graph_nodes(attribute.g)
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    total += sum(graph_nodes(g) for g in attribute.graphs)
        return total

    functions = sum(len(f.node) for f in model.functions)
    return graph_nodes(model.graph) + functions


def external_files(path: Path) -> set[str]:
    """The external-data locations the model at ``path`` refers to."""
    model = onnx.load(str(path), load_external_data=False)
    return {
        entry.value
        for tensor in model.graph.initializer
        for entry in tensor.external_data
        if entry.key == "location"
    }


# --- the optimizers, run in a child process (`peers.py --build TOOL SRC OUT PINS`) -------------


def _build(tool: str, source: str, out: str, pins: dict[str, list[int]], arch: str) -> None:
    if tool == "onnxsim":
        import onnxsim

        model, _ = onnxsim.simplify(onnx.load(source), overwrite_input_shapes=pins or None)
        onnx.save(model, out)
    elif tool == "onnxslim":
        import onnxslim

        shapes = [f"{k}:{','.join(map(str, v))}" for k, v in pins.items()]
        onnx.save(onnxslim.slim(onnx.load(source), input_shapes=shapes or None), out)
    elif tool == "onnxoptimizer":
        import onnxoptimizer

        onnx.save(onnxoptimizer.optimize(onnx.load(source)), out)
    elif tool in ("ort-basic", "ort-extended"):
        options = ort.SessionOptions()
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            if tool == "ort-basic"
            else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        )
        options.optimized_model_filepath = out
        options.log_severity_level = 4
        ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    elif tool == "ort-transformers":
        from onnxruntime.transformers.optimizer import optimize_model

        heads, hidden = (4, 128) if arch in ("bert", "gpt2", "vit") else (0, 0)
        optimized = optimize_model(source, model_type=arch, num_heads=heads, hidden_size=hidden)
        optimized.save_model_to_file(out)
    else:
        raise SystemExit(f"unknown tool {tool}")


def _command(
    tool: str, source: Path, out: Path, pins: dict[str, list[int]], arch: str | None
) -> list[str]:
    if tool.startswith("graphopt"):
        command = [str(GRAPHOPT), "optimize", str(source), "-o", str(out)]
        for name, dims in pins.items():
            command += ["--input-shape", f"{name}={'x'.join(map(str, dims))}"]
        if tool == "graphopt-ort":
            command += ["--target", "onnxruntime"]
        if tool == "graphopt-noverify":  # the pipeline alone: no verification, no selection
            command += ["--no-verify"]
        return command
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--build",
        tool,
        str(source),
        str(out),
        json.dumps(pins),
        arch or "",
    ]


def _high_water_kb(pid: int) -> int:
    """The process's peak resident set so far (VmHWM), 0 once it is gone.

    Read from /proc while the child runs: the rusage a parent gets from wait4 would count
    the parent's own resident set at fork time (it survives exec), which is this process's.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_tool(
    tool: str,
    source: Path,
    out: Path,
    pins: dict[str, list[int]],
    arch: str | None,
    timeout: float,
) -> Variant:
    """Run one optimizer in a subprocess; wall time and the child's own peak RSS (VmHWM
    polled every 10 ms, so a peak in the last few milliseconds before exit can be missed)."""
    variant = Variant(tool, path=str(out))
    if tool.startswith("ort-"):  # onnxruntime's output refers to the original's data files
        for location in external_files(source):
            link = out.parent / location
            if not link.exists():  # onnxruntime refuses data paths leading out of the folder
                link.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source.parent / location, link)  # a link is refused
    log = out.with_suffix(".log")
    started = time.perf_counter()
    with log.open("w") as sink:
        child = subprocess.Popen(
            _command(tool, source, out, pins, arch),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _high_water_kb(child.pid))
            pid, status, _ = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                os.killpg(child.pid, 9)
                pid, status, _ = os.wait4(child.pid, 0)
                variant.status, variant.reason = "timeout", f"killed after {timeout:.0f} s"
                break
            time.sleep(0.01)
        child.returncode = os.waitstatus_to_exitcode(status)
    variant.wall_s = round(time.perf_counter() - started, 3)
    variant.peak_rss_mb = round(peak_kb / 1024, 1) if peak_kb else None
    if variant.status == "ok" and child.returncode == 4 and out.exists():
        variant.reason = "graphopt exit 4: its own verification failed"
    elif variant.status == "ok" and (child.returncode != 0 or not out.exists()):
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        variant.status = "absent" if "ModuleNotFoundError" in " ".join(tail) else "failed"
        variant.reason = f"exit {child.returncode}: " + " | ".join(t.strip()[:160] for t in tail)
    return variant


# --- verification and timing ------------------------------------------------------------------


def _session(path: Path, level: ort.GraphOptimizationLevel, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    if threads != 1:  # spinning pool threads of one session would slow the next one down
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def make_feeds(
    path: Path, pins: dict[str, list[int]], values: dict[str, np.ndarray], sets: int = 2
) -> list[dict[str, np.ndarray]]:
    """Random inputs at the pinned shapes (free dims: 1 for batch, 32 elsewhere).

    Integer inputs that index a constant table (token ids) stay below its first axis, other
    integers are 0/1 (masks); ``values`` fixes inputs whose values matter.
    """
    model = onnx.load(str(path), load_external_data=False)
    bounds: dict[str, int] = {}
    initializers = {i.name: list(i.dims) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gather" and len(node.input) == 2 and node.input[0] in initializers:
            table = initializers[node.input[0]]
            bounds[node.input[1]] = min(bounds.get(node.input[1], table[0]), table[0])
    session = _session(path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL, 1)
    rng = np.random.default_rng(0)
    feeds = []
    for _ in range(sets):
        feed = {}
        for meta in session.get_inputs():
            if meta.name in values:
                feed[meta.name] = values[meta.name]
                continue
            shape = pins.get(meta.name) or [
                d if isinstance(d, int) and d >= 0 else (1 if i == 0 else 32)
                for i, d in enumerate(meta.shape)
            ]
            kind = meta.type
            if "float16" in kind:
                feed[meta.name] = rng.standard_normal(shape).astype(np.float16)
            elif "double" in kind:
                feed[meta.name] = rng.standard_normal(shape)
            elif "float" in kind:
                feed[meta.name] = rng.standard_normal(shape).astype(np.float32)
            elif "bool" in kind:
                feed[meta.name] = rng.integers(0, 2, shape).astype(np.bool_)
            else:
                dtype = np.int32 if "int32" in kind else np.int64
                feed[meta.name] = rng.integers(0, bounds.get(meta.name, 2), shape).astype(dtype)
        feeds.append(feed)
    return feeds


def run_outputs(path: Path, feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
    session = _session(path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL, 1)
    wanted = {i.name for i in session.get_inputs()}
    return [
        [np.asarray(v) for v in session.run(None, {k: a for k, a in f.items() if k in wanted})]
        for f in feeds
    ]


def verify(variant: Variant, expected: list[list[np.ndarray]], feeds: list[dict]) -> None:
    """Compare the variant's outputs with the original's; mark it ``broken`` when they differ."""
    assert variant.path is not None
    try:
        actual = run_outputs(Path(variant.path), feeds)
    except Exception as exc:
        variant.status, variant.reason = "broken", f"does not run: {str(exc)[:200]}"
        return
    worst = 0.0
    for got_set, want_set in zip(actual, expected, strict=True):
        if len(got_set) != len(want_set):
            variant.status, variant.reason = "broken", "different number of outputs"
            return
        for index, (got, want) in enumerate(zip(got_set, want_set, strict=True)):
            if got.shape != want.shape or got.dtype != want.dtype:
                variant.status = "broken"
                variant.reason = (
                    f"output {index}: {got.dtype}{got.shape} != {want.dtype}{want.shape}"
                )
                return
            if want.dtype.kind != "f":
                if not np.array_equal(got, want):
                    variant.status, variant.reason = "broken", f"output {index} differs"
                worst = max(worst, 0.0 if np.array_equal(got, want) else float("inf"))
                continue
            atol, rtol = TOLERANCES.get(want.dtype.name, (1e-1, 1e-1))
            finite = np.isfinite(want) & np.isfinite(got)
            if not np.array_equal(np.isfinite(want), np.isfinite(got)):
                variant.status, variant.reason = "broken", f"output {index}: NaN/inf differ"
            diff = np.abs(got[finite].astype(np.float64) - want[finite].astype(np.float64))
            worst = max(worst, float(diff.max()) if diff.size else 0.0)
            limit = atol + rtol * np.abs(want[finite].astype(np.float64))
            if diff.size and (diff > limit).any():
                variant.status = "broken"
                variant.reason = f"output {index} differs (max abs {float(diff.max()):.3g})"
    variant.max_abs = worst


def _runner(session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
    return lambda: session.run(None, feeds)


def time_config(
    variants: list[Variant],
    feeds: dict[str, np.ndarray],
    config: str,
    *,
    warmup: int,
    min_rounds: int,
    max_rounds: int,
    budget_s: float,
) -> None:
    """Time ``variants`` (the original first) interleaved in one configuration."""
    level, threads = CONFIGS[config]
    runners: dict[str, Callable[[], object]] = {}
    for v in variants:
        try:
            session = _session(Path(v.path or ""), level, threads)
        except Exception as exc:  # loads at DISABLE_ALL but not here: a result too
            note = f"does not load at {config}: {str(exc)[:150]}"
            v.reason = note if not v.reason else f"{v.reason}; {note}"
            continue
        wanted = {i.name for i in session.get_inputs()}
        own = {k: a for k, a in feeds.items() if k in wanted}
        runners[v.tool] = _runner(session, own)
    names = list(runners)
    started = time.perf_counter()
    for _ in range(max(warmup, 1)):
        for name in names:
            runners[name]()
    per_round = (time.perf_counter() - started) / max(warmup, 1)
    if per_round * min_rounds > 4 * budget_s:  # a heavy model: fewer rounds, still paired
        min_rounds = min(min_rounds, 3)
    rounds = int(min(max_rounds, max(min_rounds, budget_s / max(per_round, 1e-6))))
    samples: dict[str, list[float]] = {n: [] for n in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            begin = time.perf_counter()
            runners[name]()
            samples[name].append(time.perf_counter() - begin)
    base = samples["original"]
    for v in variants:
        if v.tool not in samples:
            continue
        paired = sorted(t / b for t, b in zip(samples[v.tool], base, strict=True))
        quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else [paired[0]] * 3
        v.ratio[config] = round(statistics.median(paired), 4)
        v.spread[config] = round(quartiles[2] - quartiles[0], 4)
        v.p50_ms[config] = round(statistics.median(samples[v.tool]) * 1000, 4)


def bench_model(
    source: Path,
    *,
    pins: dict[str, list[int]],
    values: dict[str, np.ndarray],
    architecture: str | None,
    tools: list[str],
    configs: list[str],
    timeout: float,
    warmup: int,
    min_rounds: int,
    max_rounds: int,
    budget_s: float,
    workdir: Path,
) -> dict:
    """Build, verify and time every variant of ``source``; the result as a JSON-able dict."""
    feeds = make_feeds(source, pins, values)
    expected = run_outputs(source, feeds)
    original = Variant("original", wall_s=0.0, nodes=count_nodes(source), path=str(source))
    original.max_abs = 0.0
    variants = [original]
    for tool in tools:
        if tool == "ort-transformers" and not architecture:
            continue
        out = workdir / tool / f"{source.stem}.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        variant = run_tool(tool, source, out, pins, architecture, timeout)
        if variant.status == "ok":
            variant.nodes = count_nodes(out)
            variant.identical = same_graph(source, out)
            verify(variant, expected, feeds)
        variants.append(variant)
        print(
            f"  {tool:17s} {variant.status:8s} nodes={variant.nodes} wall={variant.wall_s}s "
            f"rss={variant.peak_rss_mb}MB max_abs={variant.max_abs} {variant.reason or ''}",
            flush=True,
        )
    timed = [v for v in variants if v.status in ("ok", "broken") and v.max_abs is not None]
    for config in configs:
        time_config(
            timed,
            feeds[0],
            config,
            warmup=warmup,
            min_rounds=min_rounds,
            max_rounds=max_rounds,
            budget_s=budget_s,
        )
        line = "  ".join(f"{v.tool}={v.ratio.get(config)}" for v in timed[1:])
        print(f"  {config:10s} {line}", flush=True)
    return {
        "model": source.stem,
        "path": str(source),
        "pins": pins,
        "architecture": architecture,
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "variants": [{**asdict(v), "path": None} for v in variants],
    }


def table(result: dict, configs: list[str]) -> str:
    """The one-model result as a markdown table."""
    head = "| tool | status | nodes | wall s | peak RSS MB | max abs | " + " | ".join(configs)
    lines = [head + " |", "|---" * (6 + len(configs)) + "|"]
    for v in result["variants"]:
        cells = [
            v["tool"],
            v["status"] + (f" ({v['reason'][:60]})" if v["status"] != "ok" and v["reason"] else ""),
            str(v["nodes"]),
            str(v["wall_s"]),
            str(v["peak_rss_mb"]),
            f"{v['max_abs']:.2g}" if v["max_abs"] is not None else "-",
            *(f"{v['ratio'][c]:.3f}" if c in v["ratio"] else "-" for c in configs),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_pins(items: list[str]) -> dict[str, list[int]]:
    pins = {}
    for item in items:
        name, dims = item.split("=", 1)
        pins[name] = [int(d) for d in dims.replace("x", ",").split(",") if d]
    return pins


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--build":  # child mode: one optimizer run
        _, _, tool, source, out, pins, arch = sys.argv
        _build(tool, source, out, json.loads(pins), arch)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument(
        "--input-shape", action="append", default=[], metavar="NAME=D1,D2,...", help="repeatable"
    )
    parser.add_argument(
        "--input-value",
        action="append",
        default=[],
        metavar="NAME=V",
        help="a scalar int64 input fixed to V (e.g. sr=16000), repeatable",
    )
    parser.add_argument("--architecture", choices=["bert", "gpt2", "vit"], default=None)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--timeout", type=float, default=300.0, help="per optimizer, seconds")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up rounds")
    parser.add_argument("--min-rounds", type=int, default=7)
    parser.add_argument("--max-rounds", type=int, default=200)
    parser.add_argument("--budget", type=float, default=6.0, help="timing seconds per config")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("--keep", type=Path, default=None, help="keep the variants here")
    args = parser.parse_args()
    values = {
        name: np.array(int(v), dtype=np.int64)
        for name, v in (item.split("=", 1) for item in args.input_value)
    }
    configs = [c for c in args.configs.split(",") if c]
    workdir = Path(tempfile.mkdtemp(prefix="graphopt-peers-"))
    try:
        result = bench_model(
            args.model,
            pins=parse_pins(args.input_shape),
            values=values,
            architecture=args.architecture,
            tools=[t for t in args.tools.split(",") if t],
            configs=configs,
            timeout=args.timeout,
            warmup=args.warmup,
            min_rounds=args.min_rounds,
            max_rounds=args.max_rounds,
            budget_s=args.budget,
            workdir=workdir,
        )
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(table(result, configs))


if __name__ == "__main__":
    main()
