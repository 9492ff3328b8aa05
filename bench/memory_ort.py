"""onnxruntime's real memory before and after memory-aware scheduling, and its node order.

For each model: ``optimize`` it twice with the same pipeline, ``--memory plan`` (written
order kept) and ``--memory schedule`` (reordered); both are verified. Then, in a fresh
``spawn`` process per measurement (CPU EP, 1 thread, sequential): create the session,
reset the process's peak RSS (``/proc/self/clear_refs`` 5), run once, and read ``VmHWM``:
the peak resident bytes *during* ``session.run`` (minus the RSS before it = what the run
added). Settings: ``enable_cpu_mem_arena`` and ``enable_mem_pattern`` on/off, graph
optimization level ``all`` and ``disable_all``. Also reports whether onnxruntime
executes the nodes in the written order (from its profiler trace, level ``disable_all``),
and our peak measure of the order it actually ran.

    .venv/bin/python bench/memory_ort.py --synthetic 20
    .venv/bin/python bench/memory_ort.py ch_PP-OCRv4_det_infer.onnx
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort

from graphopt.engine import optimize
from graphopt.engine.memory.models import MemoryOptions
from graphopt.engine.memory.planner import plan_memory
from graphopt.engine.options import OptimizeOptions
from memory_models import CORPUS, CORPUS_SHAPES, inception_stack

_MIB = 1 << 20
SETTINGS = {
    "arena+pattern": (True, True),
    "arena only": (True, False),
    "no arena, no pattern": (False, False),
}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _options(arena: bool, pattern: bool, level: str) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena, options.enable_mem_pattern = arena, pattern
    options.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    options.log_severity_level = 4
    return options


def _run_once(path: str, arena: bool, pattern: bool, level: str) -> tuple[int, int]:
    session = ort.InferenceSession(path, _options(arena, pattern, level), ["CPUExecutionProvider"])
    feeds = {
        i.name: np.random.default_rng(0).standard_normal(i.shape).astype(np.float32)
        for i in session.get_inputs()
    }
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    session.run(None, feeds)
    return before, _status("VmHWM")


def run_peak(path: Path, arena: bool, pattern: bool, level: str) -> int:
    """Bytes the process's RSS grew to during one ``session.run``, above its level before."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        before, peak = pool.apply(_run_once, (str(path), arena, pattern, level))
    return peak - before


def ort_order(path: Path) -> list[str]:
    """Node names in the order onnxruntime ran them (profiler, optimizations off)."""
    with tempfile.TemporaryDirectory() as tmp:
        options = _options(True, True, "disable_all")
        options.enable_profiling, options.profile_file_prefix = True, f"{tmp}/p"
        session = ort.InferenceSession(str(path), options, ["CPUExecutionProvider"])
        feeds = {i.name: np.zeros(i.shape, dtype=np.float32) for i in session.get_inputs()}
        session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    return [
        e["name"].removesuffix("_kernel_time")
        for e in events
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
    ]


def peak_of_order(path: Path, names: list[str]) -> int | None:
    """Our peak (aligned live bytes) of the model at ``path`` run in the order ``names``
    (nodes onnxruntime does not list, e.g. ``Constant``, first); None if names differ."""
    model = ir.load(path)
    by_name = {n.name: n for n in model.graph}
    if not set(names) <= set(by_name):
        return None
    listed = set(names)
    order = [n for n in model.graph if n.name not in listed] + [by_name[n] for n in names]
    model.graph.remove(list(model.graph))
    model.graph.extend(order)
    return plan_memory(model)[0].lower_bound_bytes


def measure(source: Path | bytes, pins: dict[str, list[int]], workdir: Path) -> dict[str, Any]:
    row: dict[str, Any] = {}
    paths = {}
    for mode in ("plan", "schedule"):
        paths[mode] = workdir / f"{mode}.onnx"
        options = OptimizeOptions(
            input_shapes=pins, memory=MemoryOptions(schedule=mode == "schedule")
        )
        with optimize(source, options, output=paths[mode]) as result:
            report = result.report
            assert report.verification.status == "passed", report.verification
            assert report.memory is not None
            row["our_peak_before_MiB"] = round(report.memory.schedule.peak_before / _MIB, 2)
            if mode == "schedule":
                row["our_peak_after_MiB"] = round(report.memory.schedule.peak_after / _MIB, 2)
    for mode, path in paths.items():
        written = [n.name for n in onnx.load(str(path)).graph.node]
        order = ort_order(path)
        row[f"ort_runs_written_order[{mode}]"] = order == written
        peak = peak_of_order(path, order)
        row[f"our_peak_of_ort_order_MiB[{mode}]"] = None if peak is None else round(peak / _MIB, 2)
    for label, (arena, pattern) in SETTINGS.items():
        for level in ("all", "disable_all"):
            for mode, path in paths.items():
                key = f"ort_run_MiB[{label}, {level}, {mode}]"
                row[key] = round(run_peak(path, arena, pattern, level) / _MIB, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="corpus model file names")
    parser.add_argument("--synthetic", type=int, default=0, help="Inception blocks")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.synthetic:
            source = ir.serde.serialize_model(inception_stack(args.synthetic)).SerializeToString()
            rows[f"inception_stack({args.synthetic})"] = measure(source, {}, work)
        for name in args.models:
            rows[name] = measure(CORPUS / name, CORPUS_SHAPES.get(name, {}), work)
    text = json.dumps(rows, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
