"""Session settings shared by verification, profiling, tuning and measured selection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field

OptimizationLevel = Literal["disable_all", "basic", "extended", "all"]
ExecutionMode = Literal["sequential", "parallel"]

_LEVELS = {
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_MODES = {
    "sequential": ort.ExecutionMode.ORT_SEQUENTIAL,
    "parallel": ort.ExecutionMode.ORT_PARALLEL,
}


class SessionConfig(BaseModel):
    """onnxruntime session options (CPU execution provider). 0 threads: onnxruntime decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intra_op_threads: int = Field(1, ge=0, le=256)
    inter_op_threads: int = Field(1, ge=0, le=256)
    execution_mode: ExecutionMode = "sequential"
    graph_optimization_level: OptimizationLevel = "all"

    def options(self, *, profile_prefix: Path | None = None) -> ort.SessionOptions:
        """The ``SessionOptions`` for this configuration (profiling on when a prefix is given)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = _MODES[self.execution_mode]
        options.graph_optimization_level = _LEVELS[self.graph_optimization_level]
        options.log_severity_level = 4
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = str(profile_prefix)
        return options

    def label(self) -> str:
        """A short human label, e.g. ``1x1 sequential all``."""
        return (
            f"{self.intra_op_threads}x{self.inter_op_threads} {self.execution_mode} "
            f"{self.graph_optimization_level}"
        )


def open_session(
    path: Path, config: SessionConfig, *, profile_prefix: Path | None = None
) -> ort.InferenceSession:
    """A CPU session for the model at ``path``."""
    return ort.InferenceSession(
        str(path), config.options(profile_prefix=profile_prefix), providers=["CPUExecutionProvider"]
    )


def bound_run(session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
    """A no-argument callable running ``session`` on the feeds it declares as inputs."""
    wanted = {i.name for i in session.get_inputs()}
    own = {k: v for k, v in feeds.items() if k in wanted}
    return lambda: session.run(None, own)
