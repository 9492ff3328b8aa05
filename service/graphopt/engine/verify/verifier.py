"""The verifier: runs the original once, then checks candidates against its outputs.

Contract: :class:`Verifier` loads the original in onnxruntime, prepares input sets (from
the user's .npz, or generated for the pinned shapes) and runs the original on them.

- ``loadable`` is false when onnxruntime cannot load the original: no check is possible.
- ``unavailable`` says why outputs cannot be compared (the original does not run on the
  inputs); candidates are then still required to load in onnxruntime ("load-only" checks).
- Outputs are compared under ``options.session`` (onnxruntime's own optimizations off by
  default). When the original also loads at ORT_ENABLE_ALL, the level users run, a
  candidate must load there too: onnxruntime's optimizers re-run type inference and can
  reject a graph whose (specialized) shapes the unoptimized session accepts.

:meth:`Verifier.check` saves a candidate, loads it with the same session options, runs it
on the same inputs and compares every output (:mod:`.compare`); outputs that depend on
random ops are compared by shape and dtype only. A candidate onnxruntime cannot load or
run fails the check.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx_ir as ir
import onnxruntime as ort

from graphopt.engine.errors import GraphoptError
from graphopt.engine.model_io import save_model
from graphopt.engine.op_traits import nondeterministic_outputs
from graphopt.engine.options import VerifyOptions
from graphopt.engine.profiling.session_config import SessionConfig
from graphopt.engine.report import InputsUsed, OutputComparison
from graphopt.engine.verify.compare import compare_arrays, worst_of
from graphopt.engine.verify.inputs import (
    DEFAULT_DIMS,
    InputSet,
    has_free_dims,
    load_npz_inputs,
    random_inputs,
    resolve_shapes,
)
from graphopt.engine.verify.runner import SessionError, run_session, start_session


@dataclass
class CheckResult:
    """The outcome of one candidate check; ``path`` is where the candidate was saved.

    ``load_s``: seconds onnxruntime took to load the candidate at ORT_ENABLE_ALL (None when
    not measured); ``run_s``: seconds of one run at the comparison session's settings, the
    mean over the input sets (None when it did not run).
    """

    passed: bool
    outputs: list[OutputComparison] = field(default_factory=list)
    error: str | None = None
    path: Path | None = None
    compared: bool = True
    load_s: float | None = None
    run_s: float | None = None


class Verifier:
    """See module docstring. ``workdir`` receives saved candidates, named ``model_name``."""

    def __init__(
        self,
        original: ir.Model,
        original_path: Path,
        options: VerifyOptions,
        input_shapes: dict[str, list[int]],
        workdir: Path,
        model_name: str = "model.onnx",
        dropped_outputs: frozenset[str] = frozenset(),
    ) -> None:
        self.options = options
        self.workdir = workdir
        self.model_name = model_name
        self.dropped_outputs = dropped_outputs
        self.checks = 0
        self.loadable = False
        self.unavailable: str | None = None
        self.inputs: list[InputSet] = []
        self.reference: list[dict[str, np.ndarray]] = []
        self.reference_run_s: float | None = None
        self.inputs_used: InputsUsed | None = None
        self.shape_only = nondeterministic_outputs(original)
        try:
            session = start_session(original_path, self.options.session)
        except SessionError as exc:
            self.unavailable = f"onnxruntime cannot load the original model: {exc}"
            return
        self.loadable = True
        self._original_path = original_path
        self._original_loads_at_full_level: bool | None = None
        if options.inputs is not None:
            self.inputs = load_npz_inputs(options.inputs, original)
            self._run_reference(session)
            source: Literal["random", "file"] = "file"
            seed: int | None = None
        else:
            dims = DEFAULT_DIMS if has_free_dims(original, input_shapes) else DEFAULT_DIMS[:1]
            for default_dim in dims:
                try:
                    shapes = resolve_shapes(original, input_shapes, default_dim)
                    self.inputs = random_inputs(original, shapes, options.sets, options.seed)
                except GraphoptError as exc:
                    self.unavailable = exc.message
                    return
                if self._run_reference(session):
                    break
            source, seed = "random", options.seed
        self.inputs_used = InputsUsed(
            source=source,
            sets=len(self.inputs),
            seed=seed,
            shapes={k: list(v.shape) for k, v in self.inputs[0].items()},
        )

    def _run_reference(self, session: ort.InferenceSession) -> bool:
        """Run the original on the inputs; on failure set ``unavailable`` and return False."""
        try:
            self.reference, self.reference_run_s = _timed_runs(session, self.inputs)
        except SessionError as exc:
            self.unavailable = f"onnxruntime cannot run the original model on these inputs: {exc}"
            return False
        self.unavailable = None
        return True

    def check(self, candidate: ir.Model) -> CheckResult:
        """Save ``candidate``, load it, and compare its outputs with the original's."""
        assert self.loadable
        self.checks += 1
        path = self.workdir / f"candidate-{self.checks}" / self.model_name
        save_model(candidate, path)
        try:
            results, run_s, load_s = self._run_candidate(path)
        except SessionError as exc:
            error = f"onnxruntime cannot load or run the optimized model: {exc}"
            return CheckResult(False, error=error, path=path)
        if load_s is None:
            # after the comparison session is gone: a large model is loaded once at a time
            started = time.perf_counter()
            failure = self._full_level_failure(path)
            load_s = time.perf_counter() - started
            if failure is not None:
                error = f"onnxruntime cannot load the optimized model at ORT_ENABLE_ALL: {failure}"
                return CheckResult(False, error=error, path=path)
        if results is None:
            return CheckResult(True, path=path, compared=False, load_s=load_s)
        outputs = self._compare(results)
        passed = all(o.passed for o in outputs)
        return CheckResult(passed, outputs, path=path, load_s=load_s, run_s=run_s)

    def _run_candidate(
        self, path: Path
    ) -> tuple[list[dict[str, np.ndarray]] | None, float | None, float | None]:
        """The candidate's outputs on every input set (None: load only, nothing to compare),
        the mean seconds of one run, and the seconds its session took to load when the
        comparison runs at ORT_ENABLE_ALL (None otherwise)."""
        started = time.perf_counter()
        session = start_session(path, self.options.session)
        load_s: float | None = time.perf_counter() - started
        if self.options.session.graph_optimization_level != _FULL_LEVEL.graph_optimization_level:
            load_s = None
        if self.unavailable is not None:
            return None, None, load_s
        results, run_s = _timed_runs(session, self.inputs)
        return results, run_s, load_s

    def original_result(self, original: ir.Model) -> CheckResult:
        """The original as a passed candidate, saved like the others but not run again: its
        outputs are the reference itself (``run_s`` is the reference run's)."""
        assert self.loadable and self.unavailable is None
        path = self.workdir / "original-candidate" / self.model_name
        save_model(original, path)
        return CheckResult(
            True, self._compare(self.reference), path=path, run_s=self.reference_run_s
        )

    def _full_level_failure(self, path: Path) -> str | None:
        """Why the candidate at ``path`` does not load at ORT_ENABLE_ALL when the original
        does (None: it loads, or the original does not either). The original is only tried
        after a candidate failed: on large graphs that load costs as much as the rest."""
        try:
            start_session(path, _FULL_LEVEL)
        except SessionError as exc:
            if self._original_loads_at_full_level is None:
                self._original_loads_at_full_level = _loads(self._original_path, _FULL_LEVEL)
            return str(exc) if self._original_loads_at_full_level else None
        return None

    def discard(self, result: CheckResult) -> None:
        """Delete a candidate that will not be used."""
        if result.path is not None:
            shutil.rmtree(result.path.parent, ignore_errors=True)

    def _compare(self, results: list[dict[str, np.ndarray]]) -> list[OutputComparison]:
        per_output: dict[str, list[OutputComparison]] = {}
        for expected, actual in zip(self.reference, results, strict=True):
            for name in list(expected) + [n for n in actual if n not in expected]:
                if name in self.dropped_outputs and name not in actual:
                    continue  # removed on request (keep_outputs)
                if name not in expected or name not in actual:
                    per_output.setdefault(name, []).append(_missing(name))
                    continue
                base = name.split("[")[0].split("#")[0].split("{")[0]
                per_output.setdefault(name, []).append(
                    compare_arrays(
                        name,
                        actual[name],
                        expected[name],
                        self.options.atol,
                        self.options.rtol,
                        values=base not in self.shape_only,
                    )
                )
        return [worst_of(items) for items in per_output.values()]


_FULL_LEVEL = SessionConfig()  # one thread, ORT_ENABLE_ALL: onnxruntime's default level


def _timed_runs(
    session: ort.InferenceSession, inputs: list[InputSet]
) -> tuple[list[dict[str, np.ndarray]], float]:
    """The outputs on every input set, and the mean seconds of one run."""
    started = time.perf_counter()
    results = [run_session(session, feeds) for feeds in inputs]
    return results, (time.perf_counter() - started) / max(len(inputs), 1)


def _loads(path: Path, config: SessionConfig) -> bool:
    """Whether ``path`` loads with ``config``."""
    try:
        start_session(path, config)
    except SessionError:
        return False
    return True


def _missing(name: str) -> OutputComparison:
    return OutputComparison(
        name=name,
        dtype=None,
        shape_match=False,
        dtype_match=False,
        max_abs=None,
        max_rel=None,
        cosine=None,
        passed=False,
    )
