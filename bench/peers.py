"""graphopt against its peers on one or more models, measured side by side.

For every model: build each variant (the original; graphopt's ``default`` pipeline for the
``portable`` and ``onnxruntime`` targets; onnxsim, onnxslim and onnxoptimizer when
installed; onnxruntime's own offline optimizer at the extended and all levels), record
optimizer wall time (ms) and node count, verify each variant against the original with
onnxruntime (optimizations off, graphopt's default tolerances), then time every verified
variant interleaved round-robin in this one process with single-threaded sessions at
ORT_ENABLE_ALL (and ORT_DISABLE_ALL with ``--disable-all``). A peer that crashes or
changes outputs is a result, recorded as ``failed`` or ``broken``.

    .venv/bin/python bench/peers.py /tmp/models/corpus/*.onnx --rounds 30
    .venv/bin/python bench/peers.py --corpus --rounds 30   # bench/corpus.py's models

Writes ``bench/results/<model>.json`` per model and ``bench/results/summary.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort

from graphopt.engine import optimize, traversal
from graphopt.engine.options import OptimizeOptions, VerifyOptions
from graphopt.engine.profiling.session_config import SessionConfig, bound_run, open_session
from graphopt.engine.profiling.timing import time_interleaved
from graphopt.engine.verify.compare import compare_arrays
from graphopt.engine.verify.inputs import random_inputs, resolve_shapes

RESULTS = Path(__file__).resolve().parent / "results"
Builder = Callable[[Path, Path], None]  # (original path, output path)


@dataclass
class Variant:
    """One optimized form of a model and what measuring it found."""

    tool: str
    status: str = "ok"  # ok | broken (outputs differ) | failed (crashed) | absent
    reason: str | None = None
    optimize_ms: float | None = None
    nodes: int | None = None
    max_abs_error: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)  # level -> p50 (ms)
    ratio: dict[str, float] = field(default_factory=dict)  # level -> p50 / original p50
    path: Path | None = None


def count_nodes(path: Path) -> int:
    """Nodes in every graph body (main graph, subgraphs, functions)."""
    model = ir.load(path)
    return sum(1 for _ in traversal.all_nodes(model))


def _graphopt(target: str) -> Builder:
    def build(source: Path, out: Path) -> None:
        options = OptimizeOptions(target=target, verify=VerifyOptions(enabled=False))
        with optimize(source, options, output=out):
            pass

    return build


def _onnxsim(source: Path, out: Path) -> None:
    import onnxsim

    model, _ = onnxsim.simplify(onnx.load(source))
    onnx.save(model, out)


def _onnxslim(source: Path, out: Path) -> None:
    import onnxslim

    onnx.save(onnxslim.slim(onnx.load(source)), out)


def _onnxoptimizer(source: Path, out: Path) -> None:
    import onnxoptimizer

    onnx.save(onnxoptimizer.optimize(onnx.load(source)), out)


def _ort_offline(level: ort.GraphOptimizationLevel) -> Builder:
    def build(source: Path, out: Path) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        options.optimized_model_filepath = str(out)
        options.log_severity_level = 4
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])

    return build


TOOLS: dict[str, Builder] = {
    "graphopt": _graphopt("portable"),
    "graphopt-ort": _graphopt("onnxruntime"),
    "onnxsim": _onnxsim,
    "onnxslim": _onnxslim,
    "onnxoptimizer": _onnxoptimizer,
    "ort-offline-extended": _ort_offline(ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
    "ort-offline-all": _ort_offline(ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
}
LEVELS = {"all": "all", "disable_all": "disable_all"}


def _outputs(path: Path, feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
    session = open_session(path, SessionConfig(graph_optimization_level="disable_all"))
    wanted = {i.name for i in session.get_inputs()}
    return [
        [np.asarray(v) for v in session.run(None, {k: a for k, a in f.items() if k in wanted})]
        for f in feeds
    ]


def _verify(variant: Variant, expected: list[list[np.ndarray]], feeds: list[dict]) -> None:
    assert variant.path is not None
    try:
        actual = _outputs(variant.path, feeds)
    except Exception as exc:  # a variant onnxruntime cannot run is broken
        variant.status, variant.reason = "broken", f"does not run: {str(exc)[:200]}"
        return
    worst = 0.0
    for got_set, want_set in zip(actual, expected, strict=True):
        if len(got_set) != len(want_set):
            variant.status, variant.reason = "broken", "different number of outputs"
            return
        for index, (got, want) in enumerate(zip(got_set, want_set, strict=True)):
            comparison = compare_arrays(str(index), got, want)
            worst = max(worst, comparison.max_abs or 0.0)
            if not comparison.passed:
                variant.status = "broken"
                variant.reason = f"output {index} differs (max abs {comparison.max_abs})"
    variant.max_abs_error = worst


def bench_model(
    source: Path, workdir: Path, *, rounds: int, warmup: int, levels: list[str], pins: dict
) -> dict:
    """Build, verify and time every variant of ``source``; the result as a JSON-able dict."""
    model = ir.load(source)
    shapes = resolve_shapes(model, pins)
    feeds = random_inputs(model, shapes, sets=2, seed=0)
    original = Variant("original", optimize_ms=0.0, nodes=count_nodes(source), path=source)
    expected = _outputs(source, feeds)
    variants = [original]
    for tool, build in TOOLS.items():
        out = workdir / f"{source.stem}.{tool}.onnx"
        variant = Variant(tool, path=out)
        started = time.perf_counter()
        try:
            build(source, out)
        except ModuleNotFoundError as exc:
            variant.status, variant.reason = "absent", str(exc)
        except Exception as exc:
            variant.status = "failed"
            variant.reason = f"{type(exc).__name__}: {str(exc)[:300]}"
            traceback.print_exc(limit=2)
        variant.optimize_ms = round((time.perf_counter() - started) * 1000, 1)
        if variant.status == "ok":
            variant.nodes = count_nodes(out)
            _verify(variant, expected, feeds)
        variants.append(variant)
        print(
            f"  {tool:22s} {variant.status:7s} nodes={variant.nodes} "
            f"opt={variant.optimize_ms}ms {variant.reason or ''}",
            flush=True,
        )
    timed = [v for v in variants if v.status == "ok"]
    for level in levels:
        config = SessionConfig(graph_optimization_level=LEVELS[level])
        runners = {}
        for v in timed:
            assert v.path is not None
            runners[v.tool] = bound_run(open_session(v.path, config), feeds[0])
        stats = time_interleaved(runners, warmup=warmup, rounds=rounds)
        base = stats["original"].p50_ms
        for v in timed:
            v.latency_ms[level] = stats[v.tool].p50_ms
            v.ratio[level] = round(stats[v.tool].p50_ms / base, 4)
    return {
        "model": source.name,
        "input_shapes": shapes,
        "rounds": rounds,
        "variants": [{**asdict(v), "path": None} for v in variants],
    }


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def summary(results: list[dict], levels: list[str], command: str) -> str:
    """A markdown report: per-level ratio tables, node counts, and per-tool aggregates."""
    tools = ["original", *TOOLS]
    lines = [
        "# graphopt vs peers",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {platform.machine()} {platform.processor() or ''}, "
        f"onnxruntime {ort.__version__}, python {platform.python_version()}",
        f"- command: `{command}`",
        "- latency: p50 of interleaved single-threaded runs, as a ratio to the original "
        "(lower is better); `broken` = outputs differ, `failed` = the tool crashed, "
        "`absent` = not installed",
        "",
    ]

    def cell(v: dict, level: str) -> str:
        if v["status"] != "ok":
            return v["status"]
        return f"{v['ratio'][level]:.3f}"

    for level in levels:
        lines += [f"## Latency ratio, ORT {level}", "", "| model | " + " | ".join(tools) + " |"]
        lines.append("|---" * (len(tools) + 1) + "|")
        for r in results:
            by_tool = {v["tool"]: v for v in r["variants"]}
            lines.append(
                f"| {r['model']} | " + " | ".join(cell(by_tool[t], level) for t in tools) + " |"
            )
        lines += [
            "",
            "| tool | geomean ratio | worst ratio | broken | failed |",
            "|---|---|---|---|---|",
        ]
        for t in tools:
            vs = [next(v for v in r["variants"] if v["tool"] == t) for r in results]
            ok = [v["ratio"][level] for v in vs if v["status"] == "ok"]
            broken = sum(v["status"] == "broken" for v in vs)
            failed = sum(v["status"] == "failed" for v in vs)
            worst = f"{max(ok):.3f}" if ok else "-"
            lines.append(f"| {t} | {_geomean(ok):.3f} | {worst} | {broken} | {failed} |")
        lines.append("")
    lines += ["## Node count (all bodies)", "", "| model | " + " | ".join(tools) + " |"]
    lines.append("|---" * (len(tools) + 1) + "|")
    for r in results:
        by_tool = {v["tool"]: v for v in r["variants"]}
        lines.append(
            f"| {r['model']} | "
            + " | ".join(
                str(by_tool[t]["nodes"])
                if by_tool[t]["nodes"] is not None
                else by_tool[t]["status"]
                for t in tools
            )
            + " |"
        )
    lines += ["", "## Optimizer wall time (ms)", "", "| model | " + " | ".join(tools[1:]) + " |"]
    lines.append("|---" * len(tools) + "|")
    for r in results:
        by_tool = {v["tool"]: v for v in r["variants"]}
        lines.append(
            f"| {r['model']} | "
            + " | ".join(str(by_tool[t]["optimize_ms"]) for t in tools[1:])
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--corpus", action="store_true", help="add bench/corpus.py's models")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--disable-all", action="store_true", help="also time at ORT_DISABLE_ALL")
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=D1,D2,...",
        help="pin an input's shape (repeatable; applies to every model that has the input)",
    )
    args = parser.parse_args()
    models = list(args.models)
    pins_by_model: dict[str, dict[str, list[int]]] = {}
    if args.corpus:
        from corpus import corpus_models

        for path, pins in corpus_models():
            models.append(path)
            pins_by_model[path.name] = pins
    cli_pins = {
        name: [int(d) for d in dims.split(",")]
        for name, dims in (item.split("=", 1) for item in args.input_shape)
    }
    levels = ["all", "disable_all"] if args.disable_all else ["all"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="graphopt-bench-") as workdir:
        for path in models:
            print(path.name, flush=True)
            model_inputs = {v.name for v in ir.load(path).graph.inputs}
            pins = {
                **pins_by_model.get(path.name, {}),
                **{k: v for k, v in cli_pins.items() if k in model_inputs},
            }
            result = bench_model(
                path,
                Path(workdir),
                rounds=args.rounds,
                warmup=args.warmup,
                levels=levels,
                pins=pins,
            )
            (RESULTS / f"{path.stem}.json").write_text(json.dumps(result, indent=2, default=str))
            results.append(result)
    command = "bench/peers.py " + " ".join(
        [
            *(str(m) for m in args.models),
            *(["--corpus"] if args.corpus else []),
            f"--rounds {args.rounds}",
        ]
        + (["--disable-all"] if args.disable_all else [])
    )
    text = summary(results, levels, command)
    (RESULTS / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
