"""Measured selection ("do no harm"): keep the fastest verified candidate, or the original.

Contract of :func:`select`:

- candidates come as :class:`Variant` specs in priority order: the original first (always
  a candidate), then the pipeline for each target, the lossless clean-up, and, after those
  are built, one variant per fusion pass that fired in the primary candidate, without it
  (:func:`drop_one_variants`). The caller's ``build`` turns a spec into a :class:`Built`
  (it runs the pipeline and verifies the result; this module never runs passes itself);
- only verified candidates are timed; candidates whose saved files are byte-identical are
  timed once (the first in priority order stands for the others);
- timing uses one onnxruntime session per candidate with the caller's session options
  (the job's profiling session) on one input set, ``warmup`` untimed rounds, then rounds
  in which every candidate runs once, in an order rotated round by round
  (:func:`~graphopt.engine.profiling.timing.interleaved_samples`);
- the rule (:func:`decide`): a candidate beats the original when its median is lower AND a
  one-sided sign test over the paired rounds (faster than the original in ``wins`` of
  ``n`` rounds) gives ``p <= 1 - confidence``. Among those that beat the original, the
  ones whose median is within ``tie`` (a fraction) of the fastest tie, and the one with
  the fewest nodes is chosen (then the earlier in priority order), so noise does not
  decide between equally fast candidates. When none does, ``nothing_helped`` is set, and
  among the candidates *as fast within noise* (median within ``tie`` of the original's,
  and the original not faster in enough rounds for the same one-sided test) with fewer
  nodes than the original, the one with the fewest nodes is kept (an optimized graph that
  costs no measurable time); without one, the original itself;
- budget: building stops once half of ``max_seconds`` is spent (or ``max_candidates`` are
  built), but the original and the primary candidate are always built; timing gets the
  rest of the budget, at least half of it, so selection adds about ``max_seconds`` to the
  primary's own optimization (more when a build started in time runs long); rounds are as
  many as that allows, between ``min_runs`` and ``max_runs``; when even ``min_runs``
  rounds do not fit, the lowest-priority candidates are not timed (never fewer than the
  original and one other). A model whose single run takes longer than the budget can
  therefore overrun it by ``min_runs`` runs of two candidates;
- timing failures never fail the optimization: selection is then ``skipped`` and the
  primary candidate (the requested pipeline and target) is returned.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir

from graphopt.engine.options import SelectOptions
from graphopt.engine.passes.base import PassFamily
from graphopt.engine.passes.manager import PipelineRun
from graphopt.engine.profiling.session_config import SessionConfig, bound_run, open_session
from graphopt.engine.profiling.timing import interleaved_samples, summarize
from graphopt.engine.report import Selection, SelectionCandidate

ORIGINAL = "original"
LOSSLESS = "lossless"


def rule_text(confidence: float, tie: float) -> str:
    """The selection rule in words, as the report states it."""
    return (
        "a candidate replaces the original as faster when its median latency is lower and it "
        f"ran faster than the original in enough interleaved rounds for a one-sided sign test "
        f"at p <= {1 - confidence:.3g}; among those, medians within {tie:.0%} of the lowest "
        "tie and the one with the fewest nodes wins (then the earlier candidate). When none "
        f"is faster, the candidate with the fewest nodes (fewer than the original's) among "
        f"those as fast within noise (median within {tie:.0%} of the original's, and not "
        "slower in enough rounds for the same test) is kept, else the original."
    )


@dataclass(frozen=True)
class Variant:
    """A candidate to build: ``pipeline`` None is the original model itself."""

    name: str
    target: str | None = None
    pipeline: str | list[str] | None = None
    excluded: frozenset[str] = frozenset()


@dataclass
class Built:
    """A built candidate. ``path``: its saved file, set only when it is verified.

    ``state`` is the caller's own data (what the optimizer needs to report the candidate).
    """

    variant: Variant
    model: ir.Model
    verified: bool
    path: Path | None
    run: PipelineRun = field(default_factory=PipelineRun)
    reason: str | None = None
    state: Any = None


@dataclass
class Outcome:
    """The selection section and the candidate to return."""

    selection: Selection
    chosen: Built
    built: list[Built]


def base_variants(pipeline: str | list[str], target: str, options: SelectOptions) -> list[Variant]:
    """Original, the pipeline per target (the requested one first), the lossless clean-up.

    The requested target is always tried; ``options.targets`` adds others, by default
    ``portable`` when ``onnxruntime`` is requested (``portable`` output also runs there; the
    reverse does not hold, so ``onnxruntime`` is only tried when asked for).
    """
    default = ["portable"] if target == "onnxruntime" else []
    targets = list(dict.fromkeys([target, *(options.targets or default)]))
    variants = [Variant(ORIGINAL)]
    variants += [Variant(t, target=t, pipeline=pipeline) for t in targets]
    if pipeline != LOSSLESS:
        variants.append(Variant(LOSSLESS, target=target, pipeline=LOSSLESS))
    return variants


def drop_one_variants(primary: Built) -> list[Variant]:
    """One variant per fusion pass that changed the primary candidate, without that pass."""
    fired: list[str] = []
    for record in primary.run.records:
        if record.family == PassFamily.FUSION and record.changed and record.name not in fired:
            fired.append(record.name)
    base = primary.variant
    return [
        Variant(
            f"{base.name}-without-{name}",
            target=base.target,
            pipeline=base.pipeline,
            excluded=base.excluded | {name},
        )
        for name in fired
    ]


def sign_test_p(wins: int, rounds: int) -> float:
    """P(X >= wins) for X ~ Binomial(rounds, 1/2): the one-sided sign-test p-value."""
    if rounds == 0:
        return 1.0
    return sum(math.comb(rounds, k) for k in range(wins, rounds + 1)) / 2**rounds


@dataclass
class Verdict:
    """What :func:`decide` concluded."""

    chosen: str
    reason: str
    nothing_helped: bool
    wins: dict[str, int]
    paired: dict[str, int]
    p_values: dict[str, float]


def decide(
    samples: dict[str, list[float]],
    confidence: float,
    *,
    tie: float = 0.0,
    nodes: dict[str, int] | None = None,
    original: str = ORIGINAL,
) -> Verdict:
    """Apply the module's rule to interleaved samples (``samples[name][r]``: round r, ms, in
    priority order); ``nodes`` (node count by candidate) breaks ties, missing counts last."""
    base = samples[original]
    base_median = statistics.median(base)
    count = nodes or {}
    wins: dict[str, int] = {}
    paired: dict[str, int] = {}
    p_values: dict[str, float] = {}
    winners: list[tuple[float, str]] = []
    steady: list[tuple[float, str]] = []
    for name, values in samples.items():
        if name == original:
            continue
        pairs = [(c, o) for c, o in zip(values, base, strict=True) if c != o]
        wins[name] = sum(c < o for c, o in pairs)
        paired[name] = len(pairs)
        p_values[name] = sign_test_p(wins[name], len(pairs))
        median = statistics.median(values)
        if median < base_median and p_values[name] <= 1 - confidence:
            winners.append((median, name))
        elif (
            median <= base_median * (1 + tie)
            and sign_test_p(paired[name] - wins[name], paired[name]) > 1 - confidence
            and (nodes is None or count.get(name, math.inf) < count.get(original, math.inf))
        ):
            steady.append((median, name))  # as fast within noise, and smaller
    if winners:
        fastest = min(median for median, _ in winners)
        tied = [(m, n) for m, n in winners if m <= fastest * (1 + tie)]
        # fewest nodes, then the earlier (higher-priority) candidate: min() keeps the first
        median, name = min(tied, key=lambda w: count.get(w[1], math.inf))
        return Verdict(
            name,
            f"{name}: median {median:.4g} ms vs {base_median:.4g} ms for the original "
            f"(ratio {median / base_median:.3f}), faster in {wins[name]} of {paired[name]} "
            f"rounds (sign test p={p_values[name]:.3g})",
            False,
            wins,
            paired,
            p_values,
        )
    reason = "no candidate was faster than the original beyond measurement noise"
    if steady:
        median, name = min(steady, key=lambda w: count.get(w[1], math.inf))
        reason += (
            f"; {name} is kept: as fast within noise (median {median:.4g} ms vs "
            f"{base_median:.4g} ms, slower in {paired[name] - wins[name]} of {paired[name]} "
            "rounds, not significantly)"
            + (f", {count[name]} nodes instead of {count[original]}" if nodes else "")
        )
        return Verdict(name, reason, True, wins, paired, p_values)
    return Verdict(original, reason, True, wins, paired, p_values)


def _digest(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes())
    data = path.with_name(f"{path.name}.data")
    if data.exists():
        digest.update(data.read_bytes())
    return digest.hexdigest()


def _entry(built: Built, status: str, reason: str | None = None) -> SelectionCandidate:
    variant = built.variant
    pipeline = variant.pipeline
    return SelectionCandidate(
        name=variant.name,
        target=variant.target,
        pipeline=pipeline if isinstance(pipeline, str) or pipeline is None else "custom",
        excluded=sorted(variant.excluded),
        status=status,
        reason=reason if reason is not None else built.reason,
        verified=built.verified,
        nodes=_node_count(built.model),
    )


def _node_count(model: ir.Model) -> int:
    return sum(1 for _ in ir.traversal.RecursiveGraphIterator(model.graph))


def select(
    variants: Sequence[Variant],
    build: Callable[[Variant], Built],
    feeds: dict[str, np.ndarray],
    session: SessionConfig,
    options: SelectOptions,
    *,
    primary: str,
    more_variants: Callable[[Built], list[Variant]] = drop_one_variants,
) -> Outcome:
    """Build, time and choose (see module contract); ``primary`` names the fallback
    candidate when timing fails (it must be among ``variants``)."""
    started = time.perf_counter()
    budget = options.max_seconds
    queue = list(variants)
    built: list[Built] = []
    entries: dict[str, SelectionCandidate] = {}
    expanded = False
    while queue and len(built) < options.max_candidates:
        variant = queue.pop(0)
        late = time.perf_counter() - started > budget / 2
        if built and late and variant.name != primary:  # the primary is always built
            queue.insert(0, variant)
            break
        candidate = build(variant)
        built.append(candidate)
        if variant.name == primary and not expanded and options.drop_fusions:
            expanded = True
            queue += more_variants(candidate)
    by_name = {b.variant.name: b for b in built}
    fallback = by_name[primary]

    timed: dict[str, Built] = {}
    seen: dict[str, str] = {}
    for candidate in built:
        name = candidate.variant.name
        if not candidate.verified or candidate.path is None:
            status = "failed" if candidate.reason else "unverified"
            entries[name] = _entry(candidate, status)
            continue
        digest = _digest(candidate.path)
        if digest in seen:
            entries[name] = _entry(candidate, "not_timed", f"identical to {seen[digest]}")
            continue
        seen[digest] = name
        timed[name] = candidate
    for variant in queue:
        entries[variant.name] = SelectionCandidate(
            name=variant.name,
            target=variant.target,
            excluded=sorted(variant.excluded),
            status="not_timed",
            reason="not built: max_candidates or half the time budget reached",
            verified=False,
        )

    def finish(status: str, reason: str, chosen: Built, nothing: bool, **extra: Any) -> Outcome:
        ordered = [entries[b.variant.name] for b in built] + [entries[v.name] for v in queue]
        selection = Selection(
            status=status,
            reason=reason,
            rule=rule_text(options.confidence, options.tie),
            session=session,
            budget_s=budget,
            candidates=ordered,
            chosen=chosen.variant.name,
            nothing_helped=nothing,
            ms=round((time.perf_counter() - started) * 1000, 3),
            **extra,
        )
        return Outcome(selection, chosen, built)

    if ORIGINAL not in timed or len(timed) < 2:
        for name, candidate in timed.items():
            entries[name] = _entry(candidate, "not_timed", "nothing to compare with")
        only = next(iter(timed.values()), fallback)
        return finish(
            "done", "only one distinct verified candidate", only, only is by_name.get(ORIGINAL)
        )
    calls: dict[str, Callable[[], object]] = {}
    try:
        for name, candidate in timed.items():
            assert candidate.path is not None
            calls[name] = bound_run(open_session(candidate.path, session), feeds)
        left = max(budget - (time.perf_counter() - started), budget / 2)
        rounds, warmup = _fit(calls, timed, options, left)
        samples = interleaved_samples(calls, warmup=0, rounds=rounds)
    except Exception as exc:  # onnxruntime raises its own exception hierarchy
        for name, candidate in timed.items():
            entries[name] = _entry(candidate, "not_timed", f"timing failed: {exc}")
        return finish("skipped", f"timing failed: {exc}", fallback, False)
    finally:
        calls.clear()  # closes the sessions
    for name in list(timed):
        if name not in samples:
            entries[name] = _entry(timed.pop(name), "not_timed", "did not fit the time budget")
    nodes = {name: _node_count(timed[name].model) for name in samples}
    verdict = decide(samples, options.confidence, tie=options.tie, nodes=nodes)
    base_median = statistics.median(samples[ORIGINAL])
    for name, candidate in timed.items():
        stats = summarize(samples[name])
        entry = _entry(candidate, "timed")
        entry.latency = stats
        entry.spread = (
            round((stats.p90_ms - stats.min_ms) / stats.p50_ms, 4) if stats.p50_ms else None
        )
        entry.ratio = (
            round(statistics.median(samples[name]) / base_median, 4) if base_median else None
        )
        if name != ORIGINAL:
            entry.wins = verdict.wins[name]
            entry.p_value = round(verdict.p_values[name], 6)
        entries[name] = entry
    return finish(
        "done",
        verdict.reason,
        timed[verdict.chosen],
        verdict.nothing_helped,
        warmup=warmup,
        rounds=rounds,
    )


def _fit(
    calls: dict[str, Callable[[], object]],
    timed: dict[str, Built],
    options: SelectOptions,
    remaining_s: float,
) -> tuple[int, int]:
    """Warm up, then the number of rounds that fits ``remaining_s``; drops from ``calls`` the
    lowest-priority candidates when even ``min_runs`` rounds would not fit."""
    cost = {name: 0.0 for name in calls}
    for _ in range(max(options.warmup, 1)):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            cost[name] = time.perf_counter() - started
    remaining_s -= sum(cost.values()) * max(options.warmup, 1)
    names = list(calls)
    while len(names) > 2 and options.min_runs * sum(cost[n] for n in names) > remaining_s:
        names.pop()
    for name in list(calls):
        if name not in names:
            del calls[name]
    per_round = sum(cost[n] for n in names) or 1e-6
    rounds = int(remaining_s / per_round) if remaining_s > 0 else 0
    return min(options.max_runs, max(options.min_runs, rounds)), max(options.warmup, 1)
