"""Peak resident memory of running a model, measured in a fresh process.

Each measurement starts a new Python interpreter (``sys.executable``, nothing inherited but
the environment) that imports only onnxruntime and numpy, records its resident set size,
loads the model, runs it once on the given inputs (handed over as an ``.npz`` file), and
reports its high-water resident set (``VmHWM``: unlike ``ru_maxrss`` it does not carry
over the peak of the process that started it). ``peak_rss_bytes - baseline_rss_bytes`` is what the model's session
and its run added on top of an idle onnxruntime process. Importing nothing of graphopt keeps
the baseline small and a measurement under a second for small models.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from graphopt.engine.profiling.session_config import SessionConfig

_MEASURE = """
import json, resource, sys
import numpy as np
import onnxruntime as ort

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()

args = json.loads(sys.argv[1])
baseline = rss()
config = args["session"]
options = ort.SessionOptions()
options.intra_op_num_threads = config["intra_op_threads"]
options.inter_op_num_threads = config["inter_op_threads"]
options.execution_mode = getattr(ort.ExecutionMode, args["execution_mode"])
options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, args["level"])
options.log_severity_level = 4
session = ort.InferenceSession(args["model"], options, providers=["CPUExecutionProvider"])
wanted = {i.name for i in session.get_inputs()}
with np.load(args["feeds"], allow_pickle=True) as stored:
    feeds = {name: stored[name] for name in stored.files if name in wanted}
session.run(None, feeds)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"baseline": baseline, "peak": peak}))
"""

_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}
_LEVELS = {
    "disable_all": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class MemoryUsage(BaseModel):
    """Resident memory of the measuring process, in bytes."""

    baseline_rss_bytes: int
    peak_rss_bytes: int

    @property
    def model_bytes(self) -> int:
        return self.peak_rss_bytes - self.baseline_rss_bytes


def peak_memory(path: Path, config: SessionConfig, feeds: dict[str, np.ndarray]) -> MemoryUsage:
    """Measure one model in a fresh process (see module docstring)."""
    with tempfile.TemporaryDirectory() as scratch:
        stored = Path(scratch) / "feeds.npz"
        np.savez(stored, **feeds)  # type: ignore[arg-type]
        args = {
            "model": str(path),
            "feeds": str(stored),
            "session": config.model_dump(),
            "execution_mode": _MODES[config.execution_mode],
            "level": _LEVELS[config.graph_optimization_level],
        }
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, json.dumps(args)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"the memory measurement process exited {done.returncode}: "
            f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}"
        )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryUsage(baseline_rss_bytes=measured["baseline"], peak_rss_bytes=measured["peak"])
