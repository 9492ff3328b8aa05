"""Run the peer benchmark over the whole corpus and write docs/benchmarks.md.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/run_all.py                 # corpus + scale case, ~25 min on 2 cores
    .venv/bin/python bench/run_all.py --report-only   # rewrite the doc from the saved JSON

Steps: build the corpus (bench/corpus.py), run bench/peers.py's measurement on every model
(JSON per model in ``bench/results/``), time ``graphopt optimize`` on deep transformer-like
graphs built here with onnx.helper (5,000 to 50,000 nodes) for wall time and peak RSS
against model size, and write the tables. The hand-written analysis between the
``<!-- analysis -->`` markers of an existing docs/benchmarks.md is kept.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
import peers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
PEERS = ["onnxsim", "onnxslim", "onnxoptimizer", "ort-basic", "ort-extended", "ort-transformers"]
TOOLS = ["graphopt", "graphopt-ort", *PEERS]
CONFIG_TITLES = {
    "all-1t": "ORT_ENABLE_ALL, 1 thread",
    "all-mt": "ORT_ENABLE_ALL, default threads",
    "disable-1t": "ORT_DISABLE_ALL, 1 thread",
    "disable-mt": "ORT_DISABLE_ALL, default threads",
}
SCALE_TOOLS = ("graphopt", "graphopt-noverify", "onnxsim")
MARK_START, MARK_END = "<!-- analysis -->", "<!-- /analysis -->"


# --- the scale case: a deep transformer-like graph ------------------------------------------------


def deep_transformer(layers: int, hidden: int = 64, sequence: int = 16) -> onnx.ModelProto:
    """A BERT-like encoder as exported by TorchScript: decomposed LayerNorm, erf Gelu,
    per-head Reshape/Transpose, MatMul + Add; 50 nodes per layer (opset 17, float32)."""
    rng = np.random.default_rng(0)
    heads, ffn = 4, 4 * hidden
    head_dim = hidden // heads
    nodes: list[onnx.NodeProto] = []
    inits = [
        numpy_helper.from_array(np.array(v, dtype=np.float32), n)
        for n, v in (
            ("eps", 1e-5),
            ("two", 2.0),
            ("scale", math.sqrt(head_dim)),
            ("sqrt2", math.sqrt(2.0)),
            ("one", 1.0),
            ("half", 0.5),
        )
    ]
    inits += [
        numpy_helper.from_array(np.array(s, dtype=np.int64), n)
        for n, s in [
            ("heads_shape", [1, sequence, heads, head_dim]),
            ("flat", [1, sequence, hidden]),
        ]
    ]

    def weight(name: str, *shape: int) -> str:
        array = (rng.standard_normal(shape) / math.sqrt(shape[0])).astype(np.float32)
        inits.append(numpy_helper.from_array(array, name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def layer_norm(x: str, p: str) -> str:
        mean = node("ReduceMean", [x], f"{p}_mean", axes=[-1])
        centered = node("Sub", [x, mean], f"{p}_sub")
        square = node("Pow", [centered, "two"], f"{p}_pow")
        var = node("ReduceMean", [square], f"{p}_var", axes=[-1])
        std = node("Sqrt", [node("Add", [var, "eps"], f"{p}_addeps")], f"{p}_sqrt")
        normed = node("Div", [centered, std], f"{p}_div")
        scaled = node("Mul", [normed, weight(f"{p}_gamma", hidden)], f"{p}_mul")
        return node("Add", [scaled, weight(f"{p}_beta", hidden)], f"{p}_add")

    def linear(x: str, p: str, n_in: int, n_out: int) -> str:
        product = node("MatMul", [x, weight(f"{p}_w", n_in, n_out)], f"{p}_mm")
        return node("Add", [product, weight(f"{p}_b", n_out)], f"{p}_bias")

    x = "input"
    for i in range(layers):
        p = f"l{i}"
        h = layer_norm(x, f"{p}_ln1")
        q, k, v = (linear(h, f"{p}_{n}", hidden, hidden) for n in "qkv")
        q = node(
            "Transpose",
            [node("Reshape", [q, "heads_shape"], f"{p}_qr")],
            f"{p}_qt",
            perm=[0, 2, 1, 3],
        )
        k = node(
            "Transpose",
            [node("Reshape", [k, "heads_shape"], f"{p}_kr")],
            f"{p}_kt",
            perm=[0, 2, 3, 1],
        )
        v = node(
            "Transpose",
            [node("Reshape", [v, "heads_shape"], f"{p}_vr")],
            f"{p}_vt",
            perm=[0, 2, 1, 3],
        )
        scores = node("Div", [node("MatMul", [q, k], f"{p}_qk"), "scale"], f"{p}_scaled")
        probs = node("Softmax", [scores], f"{p}_softmax", axis=-1)
        context = node("MatMul", [probs, v], f"{p}_ctx")
        context = node("Transpose", [context], f"{p}_ctxt", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "flat"], f"{p}_ctxr")
        attended = node("Add", [x, linear(context, f"{p}_o", hidden, hidden)], f"{p}_res1")
        h = layer_norm(attended, f"{p}_ln2")
        up = linear(h, f"{p}_up", hidden, ffn)
        erf = node("Erf", [node("Div", [up, "sqrt2"], f"{p}_gdiv")], f"{p}_erf")
        gated = node("Mul", [up, node("Add", [erf, "one"], f"{p}_gadd")], f"{p}_gmul")
        gelu = node("Mul", [gated, "half"], f"{p}_gelu")
        down = linear(gelu, f"{p}_down", ffn, hidden)
        dropped = node("Identity", [down], f"{p}_dropout")
        x = node("Add", [attended, dropped], f"{p}_res2")
    graph = helper.make_graph(
        nodes,
        "deep_transformer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, sequence, hidden])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, sequence, hidden])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def scale_case(layer_counts: list[int], timeout: float, workdir: Path) -> list[dict]:
    """``graphopt optimize`` (default options) on deep graphs: wall time, peak RSS, size."""
    rows = []
    for layers in layer_counts:
        path = workdir / f"deep_{layers}.onnx"
        onnx.save(deep_transformer(layers), str(path))
        size_mb = path.stat().st_size / 1e6
        nodes = peers.count_nodes(path)
        print(f"scale: {layers} layers, {nodes} nodes, {size_mb:.1f} MB", flush=True)
        row: dict = {"layers": layers, "nodes": nodes, "size_mb": round(size_mb, 1)}
        for tool in SCALE_TOOLS:
            out = workdir / tool / path.name
            out.parent.mkdir(exist_ok=True)
            variant = peers.run_tool(tool, path, out, {}, None, timeout)
            row[tool] = {
                "status": variant.status,
                "reason": variant.reason,
                "wall_s": variant.wall_s,
                "peak_rss_mb": variant.peak_rss_mb,
                "nodes": peers.count_nodes(out) if variant.status == "ok" else None,
            }
            print(f"  {tool}: {row[tool]}", flush=True)
        rows.append(row)
    return rows


# --- the report -------------------------------------------------------------------------------


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _by_tool(result: dict) -> dict[str, dict]:
    return {v["tool"]: v for v in result["variants"]}


def _status_cell(v: dict | None) -> str | None:
    if v is None:
        return "n/a"
    if v["status"] not in ("ok",):
        return v["status"]
    return None


def _ratio_cell(v: dict | None, config: str) -> str:
    status = _status_cell(v)
    if status:
        return status
    assert v is not None
    if config not in v["ratio"]:
        return "no load"
    return f"{v['ratio'][config]:.3f}" + (" (=)" if v.get("identical") else "")


def _ratio_for(config: str) -> Callable[[dict | None], str]:
    return lambda v: _ratio_cell(v, config)


def _grid(results: list[dict], cell: Callable[[dict | None], str], tools: list[str]) -> list[str]:
    lines = ["| model | " + " | ".join(tools) + " |", "|---" + "|---:" * len(tools) + "|"]
    for r in results:
        by = _by_tool(r)
        lines.append(f"| {r['model']} | " + " | ".join(cell(by.get(t)) for t in tools) + " |")
    return lines


def best_peer(by: dict[str, dict], config: str) -> tuple[str, float] | None:
    ok = [
        (t, by[t]["ratio"][config])
        for t in PEERS
        if t in by and by[t]["status"] == "ok" and config in by[t]["ratio"]
    ]
    return min(ok, key=lambda p: p[1]) if ok else None


def target_rows(results: list[dict]) -> tuple[list[str], dict]:
    """The per-model target table and its aggregates."""
    lines = [
        "| model | graphopt ratio ±IQR/2 | best peer ratio | graphopt nodes | min peer nodes | "
        "graphopt wall s | onnxsim wall s | graphopt max abs | graphopt DISABLE_ALL ratio | "
        "graphopt-ort DISABLE_ALL ratio | ort-extended DISABLE_ALL ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    agg: dict = {"ratios": [], "peer_ratios": [], "losses": []}
    for r in results:
        by = _by_tool(r)
        g = by.get("graphopt")
        if g is None:
            continue
        peer = best_peer(by, "all-1t")
        peer_nodes = [(by[t]["nodes"], t) for t in PEERS if t in by and by[t]["status"] == "ok"]
        min_nodes = min(peer_nodes) if peer_nodes else None
        sim = by.get("onnxsim")
        measured = g["ratio"].get("all-1t") if g["status"] == "ok" else None
        # an output identical to the original runs the same: its measured ratio is noise
        ratio = 1.0 if g.get("identical") and measured is not None else measured
        if g["status"] == "ok" and ratio is None:
            agg["losses"].append(f"{r['model']}: graphopt's output {g['reason']}")
        if ratio is not None:
            agg["ratios"].append(ratio)
        if peer:
            agg["peer_ratios"].append(peer[1])
        ext = by.get("ort-extended")
        g_ort = by.get("graphopt-ort")
        lines.append(
            "| "
            + " | ".join(
                [
                    r["model"],
                    (
                        f"1.000 (= original; measured {measured:.3f})"
                        if g.get("identical")
                        else f"{ratio:.3f} ±{g['spread']['all-1t'] / 2:.2f}"
                    )
                    if ratio is not None and measured is not None
                    else _ratio_cell(g, "all-1t"),
                    f"{peer[1]:.3f} ({peer[0]})" if peer else "-",
                    str(g["nodes"]) if g["nodes"] is not None else g["status"],
                    f"{min_nodes[0]} ({min_nodes[1]})" if min_nodes else "-",
                    str(g["wall_s"]),
                    f"{sim['wall_s']} ({sim['status']})"
                    if sim and sim["status"] != "ok"
                    else str(sim["wall_s"])
                    if sim
                    else "-",
                    f"{g['max_abs']:.2g}" if g["max_abs"] is not None else "-",
                    _ratio_cell(g, "disable-1t"),
                    _ratio_cell(g_ort, "disable-1t"),
                    _ratio_cell(ext, "disable-1t"),
                ]
            )
            + " |"
        )
        if ratio is not None and ratio > 1.0:
            agg["losses"].append(f"{r['model']}: ratio {ratio:.3f} > 1.00 (ENABLE_ALL, 1 thread)")
        if ratio is not None and peer and ratio > peer[1] + 0.01:
            agg["losses"].append(
                f"{r['model']}: ratio {ratio:.3f} > best peer {peer[0]} {peer[1]:.3f} + 0.01"
            )
        if g["nodes"] is not None and min_nodes and g["nodes"] > min_nodes[0]:
            agg["losses"].append(
                f"{r['model']}: {g['nodes']} nodes > {min_nodes[1]}'s {min_nodes[0]}"
            )
        if sim and sim["status"] == "ok" and g["wall_s"] and g["wall_s"] > sim["wall_s"]:
            agg["losses"].append(
                f"{r['model']}: wall {g['wall_s']} s > onnxsim's {sim['wall_s']} s"
            )
        # ORT_DISABLE_ALL runs onnxruntime, so both targets compete with its offline output
        own = [
            v["ratio"]["disable-1t"]
            for v in (g, g_ort)
            if v and v["status"] == "ok" and "disable-1t" in v["ratio"]
        ]
        e_dis = (ext or {}).get("ratio", {}).get("disable-1t")
        if own and e_dis is not None and (ext or {}).get("status") == "ok" and min(own) > e_dis:
            agg["losses"].append(
                f"{r['model']}: DISABLE_ALL ratio {min(own):.3f} (best graphopt target) > "
                f"ort-extended's {e_dis:.3f}"
            )
        if g["status"] != "ok":
            agg["losses"].append(f"{r['model']}: graphopt {g['status']}: {g['reason']}")
    return lines, agg


def machine() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        text = ""
    info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    model = info.get("Model name", platform.processor()).strip()
    cpus = info.get("CPU(s)", "?").strip()
    return f"{model}, {cpus} CPUs ({platform.machine()})"


def write_doc(results: list[dict], scale: list[dict], meta: dict) -> str:
    old = DOC.read_text() if DOC.exists() else ""
    analysis = (
        old[old.index(MARK_START) : old.index(MARK_END) + len(MARK_END)]
        if MARK_START in old and MARK_END in old
        else f"{MARK_START}\n(no analysis written yet)\n{MARK_END}"
    )
    lines = [
        "# Benchmarks: graphopt vs its peers",
        "",
        "Generated by `bench/run_all.py` (tables) plus a hand-written analysis. Not part of the",
        "test suite.",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}; shared with other jobs during the run, so absolute",
        "  times are noisy: latencies are reported as ratios to the original, paired per round",
        f"- software: python {meta['python']}, onnxruntime {meta['onnxruntime']}, onnx "
        f"{meta['onnx']}, peers: {meta['peers']}",
        f"- commands: `{meta['command']}`; one model: `{meta['peers_command']}`",
        f"- timing: {meta['timing']}",
        "",
        "Each optimizer runs in its own subprocess with a timeout; `graphopt` is `graphopt",
        "optimize MODEL -o OUT [--input-shape ...]` with its defaults (verification and measured",
        "selection included in its wall time), `graphopt-ort` the same with `--target",
        "onnxruntime` (contrib ops allowed, as in ort-extended's output; the DISABLE_ALL target",
        "takes the better of the two targets, since that configuration is onnxruntime too; the",
        "other targets use `graphopt`). Pinned input shapes are",
        "given to graphopt, onnxsim and onnxslim. Status words: `broken` = outputs differ from",
        "the original (or onnxruntime cannot load the result), `failed` = the tool crashed or",
        "exited non-zero, `timeout`, `absent` = not installed, `n/a` = not applicable",
        "(ort-transformers only runs on the transformer models).",
        "",
        "## Targets (issue #3)",
        "",
    ]
    target, agg = target_rows(results)
    lines += target
    lines += [
        "",
        f"Geometric mean of graphopt's ENABLE_ALL 1-thread ratio: {_geomean(agg['ratios']):.3f} "
        f"over {len(agg['ratios'])} models; of the best peer's per model: "
        f"{_geomean(agg['peer_ratios']):.3f}.",
        "",
        "Where a target is missed (generated):",
        "",
        *(f"- {loss}" for loss in agg["losses"]),
        *(["- none"] if not agg["losses"] else []),
        "",
        "## Analysis",
        "",
        analysis,
        "",
    ]
    for config, title in CONFIG_TITLES.items():
        lines += [
            f"## Latency ratio to the original, {title}",
            "",
            "Median over rounds of (variant time / original time in the same round); lower is",
            "better. `(=)`: the variant's graph is byte-identical to the original's, so its",
            "distance from 1.000 is measurement noise.",
            "",
            *_grid(results, _ratio_for(config), TOOLS),
            "",
            "| tool | geomean | worst | models |",
            "|---|---:|---:|---:|",
        ]
        for t in TOOLS:
            ok = [
                _by_tool(r)[t]["ratio"][config]
                for r in results
                if t in _by_tool(r)
                and _by_tool(r)[t]["status"] == "ok"
                and config in _by_tool(r)[t]["ratio"]
            ]
            worst = f"{max(ok):.3f}" if ok else "-"
            lines.append(f"| {t} | {_geomean(ok):.3f} | {worst} | {len(ok)} |")
        lines.append("")

    def nodes_cell(v: dict | None) -> str:
        if v is None:
            return "n/a"
        return str(v["nodes"]) if v["nodes"] is not None else v["status"]

    def wall_cell(v: dict | None) -> str:
        if v is None:
            return "n/a"
        return f"{v['wall_s']:.2f}" + ("" if v["status"] == "ok" else f" ({v['status']})")

    def rss_cell(v: dict | None) -> str:
        if v is None:
            return "n/a"
        return f"{v['peak_rss_mb']:.0f}" if v["peak_rss_mb"] is not None else "-"

    def error_cell(v: dict | None) -> str:
        if v is None:
            return "n/a"
        value = "-" if v["max_abs"] is None else f"{v['max_abs']:.1e}"
        return value if v["status"] == "ok" else f"{v['status']} {value}"

    lines += [
        "## Node count (every body: main graph, subgraphs, functions)",
        "",
        *_grid(results, nodes_cell, ["original", *TOOLS]),
        "",
        "## Optimizer wall time (s, whole subprocess: interpreter start, imports, optimization)",
        "",
        *_grid(results, wall_cell, TOOLS),
        "",
        "## Optimizer peak RSS (MB, the subprocess's own maximum resident set)",
        "",
        *_grid(results, rss_cell, TOOLS),
        "",
        "## Verification: max absolute error vs the original (2 random input sets)",
        "",
        "onnxruntime ORT_DISABLE_ALL on original and variant; float32 tolerance atol 1e-4 +",
        "rtol 1e-3 x |expected| (graphopt's defaults).",
        "",
        *_grid(results, error_cell, TOOLS),
        "",
        "Failures and breakages, with the reason recorded:",
        "",
    ]
    for r in results:
        for v in r["variants"]:
            if v["status"] not in ("ok",) or (v["reason"] and v["tool"] != "original"):
                lines.append(f"- {r['model']} / {v['tool']}: {v['status']}: {v['reason']}")
    lines += [
        "",
        "## Scale: a deep transformer-like graph",
        "",
        "`bench/run_all.py`'s `deep_transformer(layers)`: a BERT-like encoder as TorchScript",
        "exports it (decomposed LayerNorm, erf Gelu, per-head Reshape/Transpose, MatMul + Add,",
        "Identity dropouts), 50 nodes per layer, hidden 64, sequence 16, float32, opset 17.",
        "`graphopt optimize` with its defaults (verification and measured selection on), the same",
        "with `--no-verify` (`graphopt-noverify`: the pipeline alone) and `onnxsim.simplify`,",
        "each in a subprocess.",
        "",
        "| layers | nodes | model MB | tool | status | wall s | peak RSS MB | RSS / model size | "
        "nodes after |",
        "|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for row in scale:
        for tool in SCALE_TOOLS:
            if tool not in row:
                continue
            t = row[tool]
            rss = t["peak_rss_mb"]
            lines.append(
                f"| {row['layers']} | {row['nodes']} | {row['size_mb']} | {tool} | "
                + (t["status"] if t["status"] == "ok" else f"{t['status']}: {t['reason']}")
                + f" | {t['wall_s']} | {rss} | "
                + (f"{rss / row['size_mb']:.2f}" if rss else "-")
                + f" | {t['nodes']} |"
            )
    text = "\n".join(lines) + "\n"
    DOC.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-only", action="store_true", help="only rewrite the doc")
    parser.add_argument("--only", default="", help="comma-separated model names to run")
    parser.add_argument("--skip", default="", help="comma-separated model names to leave out")
    parser.add_argument("--budget", type=float, default=3.0, help="timing s per config")
    parser.add_argument("--min-rounds", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--scale", default="100,1000", help="layer counts (50 nodes each)")
    parser.add_argument("--no-corpus", action="store_true", help="only the scale case")
    parser.add_argument("--resume", action="store_true", help="skip models already measured")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta_path = RESULTS / "meta.json"
    started = time.time()
    if args.scale and not args.report_only:
        with tempfile.TemporaryDirectory(prefix="graphopt-scale-") as workdir:
            layers = [int(n) for n in args.scale.split(",")]
            scale = scale_case(layers, max(args.timeout, 900.0), Path(workdir))
        (RESULTS / "scale.json").write_text(json.dumps(scale, indent=2))
    if not args.report_only and not args.no_corpus:
        corpus.build()
        only = {m for m in args.only.split(",") if m}
        skip = {m for m in args.skip.split(",") if m}
        for model in corpus.corpus_models():
            if (only and model.name not in only) or model.name in skip:
                continue
            saved = RESULTS / f"{model.name}.json"
            if args.resume and saved.exists():
                continue
            print(f"{model.name} ({time.time() - started:.0f} s)", flush=True)
            with tempfile.TemporaryDirectory(prefix="graphopt-peers-") as workdir:
                try:
                    result = peers.bench_model(
                        model.path,
                        pins=model.pins,
                        values=model.values,
                        architecture=model.architecture,
                        tools=TOOLS,
                        configs=list(peers.CONFIGS),
                        timeout=args.timeout,
                        warmup=args.warmup,
                        min_rounds=args.min_rounds,
                        max_rounds=args.max_rounds,
                        budget_s=args.budget,
                        workdir=Path(workdir),
                    )
                except Exception as exc:  # the original itself does not run: skip the model
                    print(f"  skipped: {type(exc).__name__}: {exc}", flush=True)
                    continue
            result["family"] = model.family
            saved.write_text(json.dumps(result, indent=2, default=str))
        versions = []
        for name in ("onnxsim", "onnxslim", "onnxoptimizer"):
            try:
                from importlib.metadata import version

                versions.append(f"{name} {version(name)}")
            except Exception:
                versions.append(f"{name} absent")
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "peers": ", ".join(versions),
            "command": "python bench/run_all.py " + " ".join(sys.argv[1:]),
            "peers_command": "python bench/peers.py MODEL --input-shape NAME=D1,D2,... "
            f"--budget {args.budget} --min-rounds {args.min_rounds}",
            "timing": f"{args.warmup} warm-up rounds, then rounds until {args.budget} s per "
            f"configuration (at least {args.min_rounds}, at most {args.max_rounds}), "
            f"run_all took {(time.time() - started) / 60:.1f} min",
        }
        meta_path.write_text(json.dumps(meta, indent=2))
    if not meta_path.exists():
        print(f"no corpus results in {RESULTS}: run without --no-corpus first")
        return
    meta = json.loads(meta_path.read_text())
    order = {m.name: i for i, m in enumerate(corpus.corpus_models())}
    results = sorted(
        (json.loads(p.read_text()) for p in RESULTS.glob("*.json") if p.stem in order),
        key=lambda r: order[r["model"]],
    )
    scale_path = RESULTS / "scale.json"
    scale = json.loads(scale_path.read_text()) if scale_path.exists() else []
    write_doc(results, scale, meta)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
