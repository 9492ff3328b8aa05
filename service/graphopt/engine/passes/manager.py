"""The pass manager: runs a pipeline over a model and records what every pass did.

Contract of :func:`run_pipeline`:

- steps run in order; a fixed-point group repeats its passes until an iteration changes
  nothing or ``max_iterations`` is reached;
- a :class:`GraphPass` is applied to every graph body (main graph, subgraphs, functions;
  outer before inner, or inner first when the pass asks), between its ``start`` and
  ``finish`` hooks, which run once each;
- each application of a pass is numbered; ``max_applications`` stops the run after that
  many applications. Passes are deterministic, so the first ``k`` applications of two runs
  of the same pipeline on the same model are identical: this is what bisection relies on;
- a pass that raises stops the run with :class:`PassCrash` (the model is then in an unknown
  state: callers restart from a fresh copy without that pass);
- every application yields a :class:`PassRecord` with wall time, nodes before/after,
  nodes removed/added (by node identity), nodes rewritten (reported by the pass) and the
  parameter/byte deltas over all stored tensors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import onnx_ir as ir

from graphopt.engine import traversal
from graphopt.engine.passes.base import GraphPass, ModelPass, Pass, PassContext, PassOutcome
from graphopt.engine.passes.pipeline import FixedPointGroup, PassStep, Pipeline
from graphopt.engine.passes.registry import create_pass
from graphopt.engine.progress import Progress, ProgressCallback, ignore_progress
from graphopt.engine.report import PassRecord


class PassCrash(Exception):
    """A pass raised; ``application`` is its 1-based application number in the run."""

    def __init__(self, pass_name: str, application: int, cause: BaseException) -> None:
        super().__init__(f"pass {pass_name!r} raised {type(cause).__name__}: {cause}")
        self.pass_name = pass_name
        self.application = application
        self.cause = cause


@dataclass
class PipelineRun:
    """The records of one run; ``complete`` is false when ``max_applications`` cut it short."""

    records: list[PassRecord] = field(default_factory=list)
    complete: bool = True

    @property
    def applications(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class _Tally:
    node_ids: frozenset[int]
    params: int
    bytes: int


_TensorSizes = dict[int, tuple[ir.TensorProtocol, int, int]]
"""id(tensor) -> (tensor, elements, bytes); holding the tensor keeps its id from reuse."""


def _tally(model: ir.Model, known: _TensorSizes) -> tuple[_Tally, _TensorSizes]:
    """Nodes, parameters and bytes of ``model``; sizes of tensors seen in the previous tally
    (``known``) are reused, since tensors are not edited in place. One walk over the bodies:
    this runs before and after every pass."""
    params = nbytes = 0
    sizes: _TensorSizes = {}
    found = traversal.inventory(model)
    for tensor in found.tensors:
        entry = known.get(id(tensor))
        if entry is None:
            try:
                entry = (tensor, tensor.size, tensor.nbytes)
            except (TypeError, ValueError):  # strings and other types without a fixed width
                entry = (tensor, 0, 0)
        sizes[id(tensor)] = entry
        params += entry[1]
        nbytes += entry[2]
    return _Tally(frozenset(map(id, found.nodes)), params, nbytes), sizes


class _Stop(Exception):
    """Raised internally when ``max_applications`` is reached."""


class _Runner:
    def __init__(
        self,
        model: ir.Model,
        ctx: PassContext,
        pass_options: dict[str, dict[str, Any]],
        max_applications: int | None,
        progress: ProgressCallback,
        total_steps: int,
    ) -> None:
        self.model = model
        self.ctx = ctx
        self.pass_options = pass_options
        self.max_applications = max_applications
        self.progress = progress
        self.total_steps = max(total_steps, 1)
        self.step_index = 0
        self.run = PipelineRun()
        self.tally, self.tensor_sizes = _tally(model, {})

    def instantiate(self, s: PassStep) -> Pass:
        return create_pass(s.pass_name, {**s.options, **self.pass_options.get(s.pass_name, {})})

    def apply(self, s: PassStep, iteration: int | None) -> bool:
        if self.max_applications is not None and self.run.applications >= self.max_applications:
            raise _Stop
        fraction = self.step_index / self.total_steps
        self.progress(Progress("passes", f"running {s.pass_name}", fraction, s.pass_name))
        pass_ = self.instantiate(s)
        started = time.perf_counter()
        try:
            outcome = self._execute(pass_)
        except Exception as exc:
            raise PassCrash(s.pass_name, self.run.applications + 1, exc) from exc
        ms = (time.perf_counter() - started) * 1000
        before = self.tally
        after, self.tensor_sizes = _tally(self.model, self.tensor_sizes)
        self.tally = after
        removed = len(before.node_ids - after.node_ids)
        added = len(after.node_ids - before.node_ids)
        changed = bool(
            removed
            or added
            or outcome.rewritten
            or outcome.changed
            or before.params != after.params
            or before.bytes != after.bytes
        )
        self.run.records.append(
            PassRecord(
                name=pass_.name,
                family=str(pass_.family),
                lossless=pass_.lossless,
                iteration=iteration,
                changed=changed,
                ms=round(ms, 3),
                nodes_before=len(before.node_ids),
                nodes_after=len(after.node_ids),
                node_delta=len(after.node_ids) - len(before.node_ids),
                nodes_removed=removed,
                nodes_added=added,
                nodes_rewritten=outcome.rewritten,
                params_delta=after.params - before.params,
                bytes_delta=after.bytes - before.bytes,
                notes=outcome.summary(),
            )
        )
        return changed

    def _execute(self, pass_: Pass) -> PassOutcome:
        if isinstance(pass_, ModelPass):
            return pass_.run(self.model, self.ctx)
        assert isinstance(pass_, GraphPass)
        outcome = pass_.start(self.model, self.ctx)
        bodies = traversal.graph_bodies(self.model)
        for body in reversed(list(bodies)) if pass_.inner_first else bodies:
            outcome.merge(pass_.run_on_body(body, self.model, self.ctx))
        outcome.merge(pass_.finish(self.model, self.ctx))
        return outcome

    def steps(self, steps: Iterable[PassStep | FixedPointGroup], exclude: set[str]) -> None:
        for self.step_index, s in enumerate(steps):
            if isinstance(s, FixedPointGroup):
                group = [g for g in s.fixed_point if g.pass_name not in exclude]
                for iteration in range(1, s.max_iterations + 1):
                    changed = [self.apply(g, iteration) for g in group]
                    if not any(changed):
                        break
            elif s.pass_name not in exclude:
                self.apply(s, None)


def run_pipeline(
    model: ir.Model,
    pipeline: Pipeline,
    ctx: PassContext,
    *,
    pass_options: dict[str, dict[str, Any]] | None = None,
    exclude: set[str] | None = None,
    max_applications: int | None = None,
    progress: ProgressCallback = ignore_progress,
) -> PipelineRun:
    """Run ``pipeline`` on ``model`` in place (see the module contract)."""
    runner = _Runner(
        model, ctx, pass_options or {}, max_applications, progress, len(pipeline.steps)
    )
    try:
        runner.steps(pipeline.steps, exclude or set())
    except _Stop:
        runner.run.complete = False
    return runner.run
