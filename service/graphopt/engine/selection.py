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
- budget: ``max_seconds`` bounds selection as a whole, the primary's build included,
  except that timing gets at least half of it (a primary that takes longer to build
  overruns it by that). The original and the primary are always built. Each distinct
  verified candidate gets its timing session as soon as it is built, and is warmed up
  there, which measures its run. Another candidate is built only while less than half
  the budget is spent and building it (as long as the longest build so far), loading and
  warming it up, and ``min_runs`` rounds of every candidate still fit. Before the first
  session is loaded, the cost of timing the original and the primary is estimated from
  their builds (``Built.cost``); when it does not fit the rest of the budget (at least
  half of it), timing is ``skipped`` and the primary is returned instead of overrunning
  the budget. Rounds are as many as the rest allows, between ``min_runs`` and
  ``max_runs``, dropping the lowest-priority candidates (never fewer than two) when
  ``min_runs`` rounds of all do not fit. From ``min_runs`` rounds on they stop early once
  the verdict is settled (:func:`settled`, with the sign test at p <= (1 - confidence) /
  20). A sample is several back-to-back runs on a sub-millisecond model
  (:class:`TimingSessions`); latencies are reported per run;
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


@dataclass(frozen=True)
class Cost:
    """What the build measured of a candidate, in seconds: loading it at the timing
    session's optimization level (None: not measured), and one run (an estimate)."""

    load_s: float | None
    run_s: float


@dataclass
class Built:
    """A built candidate. ``path``: its saved file, set only when it is verified.

    ``cost``: what its build measured, if anything. ``state`` is the caller's own data
    (what the optimizer needs to report the candidate).
    """

    variant: Variant
    model: ir.Model
    verified: bool
    path: Path | None
    run: PipelineRun = field(default_factory=PipelineRun)
    reason: str | None = None
    cost: Cost | None = None
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
        wins[name], paired[name] = _wins(values, base)
        p_values[name] = sign_test_p(wins[name], paired[name])
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


def settled(
    samples: dict[str, list[float]],
    alpha: float,
    nodes: dict[str, int],
    original: str = ORIGINAL,
) -> bool:
    """Whether more rounds could not change the verdict, at the sign test's ``alpha``: every
    candidate is faster or slower than the original beyond doubt, or the fastest of those
    faster beyond doubt (the leader) is also faster beyond doubt than every other candidate
    not slower than the original, none of which has fewer nodes than the leader."""
    base = samples[original]
    faster: list[str] = []
    slower: list[str] = []
    for name, values in samples.items():
        if name == original:
            continue
        if _beats(values, base, alpha):
            faster.append(name)
        elif _beats(base, values, alpha):
            slower.append(name)
    if len(faster) + len(slower) == len(samples) - 1:
        return True
    if not faster:
        return False
    leader = min(faster, key=lambda name: statistics.median(samples[name]))
    return all(
        _beats(samples[leader], samples[name], alpha) and nodes[name] >= nodes[leader]
        for name in samples
        if name not in (original, leader, *slower)
    )


def _beats(values: list[float], others: list[float], alpha: float) -> bool:
    """Whether ``values`` were lower than ``others`` in enough of the paired rounds (ties
    left out) for the one-sided sign test at ``alpha``."""
    return sign_test_p(*_wins(values, others)) <= alpha


def _wins(values: list[float], others: list[float]) -> tuple[int, int]:
    """Rounds in which ``values`` were lower than ``others``, and rounds not tied."""
    pairs = [(v, o) for v, o in zip(values, others, strict=True) if v != o]
    return sum(v < o for v, o in pairs), len(pairs)


class _TimingError(Exception):
    """onnxruntime could not load or run a candidate in its timing session."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


MIN_SAMPLE_S = 0.002
"""A timed sample lasts at least this long: a faster model is run several times per sample,
since single sub-millisecond runs are mostly timer and scheduling noise."""
MAX_REPEATS = 100


class TimingSessions:
    """Open, warmed-up timing sessions of candidates, with what one sample of each costs.

    A sample is ``repeats`` back-to-back runs, the same number for every candidate, set
    from the first candidate's run so that a sample lasts at least ``MIN_SAMPLE_S``.
    """

    def __init__(
        self, feeds: dict[str, np.ndarray], session: SessionConfig, options: SelectOptions
    ) -> None:
        self.feeds = feeds
        self.session = session
        self.warmup = max(options.warmup, 1)
        self.calls: dict[str, Callable[[], object]] = {}
        self.run_s: dict[str, float] = {}
        self.load_s = 0.0
        """the longest session load so far"""
        self.repeats: int | None = None

    def open(self, name: str, path: Path) -> None:
        """Load ``path`` and run it ``warmup`` times; the last run sets its sample's cost."""
        try:
            started = time.perf_counter()
            run = bound_run(open_session(path, self.session), self.feeds)
            self.load_s = max(self.load_s, time.perf_counter() - started)
            for _ in range(self.warmup):
                started = time.perf_counter()
                run()
                single = time.perf_counter() - started
        except Exception as exc:  # onnxruntime raises its own exception hierarchy
            raise _TimingError(exc) from exc
        if self.repeats is None:
            self.repeats = min(MAX_REPEATS, max(1, math.ceil(MIN_SAMPLE_S / max(single, 1e-9))))
        self.run_s[name] = single * self.repeats
        self.calls[name] = run if self.repeats == 1 else _repeated(run, self.repeats)

    def round_s(self) -> float:
        """Seconds of one round of every open session."""
        return sum(self.run_s[name] for name in self.calls)

    def drop(self, name: str) -> None:
        del self.calls[name]  # closes the session


def _repeated(run: Callable[[], object], times: int) -> Callable[[], None]:
    def sample() -> None:
        for _ in range(times):
            run()

    return sample


def _estimate(candidates: list[Built], options: SelectOptions) -> float | None:
    """Seconds to load and time ``candidates`` for the warm-up and ``min_runs`` rounds, from
    what their builds measured (an unmeasured load counts as the longest measured one);
    None when a build measured nothing."""
    costs = [b.cost for b in candidates]
    if any(c is None for c in costs):
        return None
    measured = [c for c in costs if c is not None]
    load = max((c.load_s for c in measured if c.load_s is not None), default=0.0)
    rounds = max(options.warmup, 1) + options.min_runs
    return sum((load if c.load_s is None else c.load_s) + rounds * c.run_s for c in measured)


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
    timed: dict[str, Built] = {}  # the distinct verified candidates, in priority order
    seen: dict[str, str] = {}  # file digest -> the candidate timed for it
    sessions = TimingSessions(feeds, session, options)
    longest_s = 0.0  # the longest build of a candidate other than the original
    expanded = False
    skipped: str | None = None  # why timing is skipped

    def spent() -> float:
        return time.perf_counter() - started

    def timing_left() -> float:
        """What is left of the budget for timing: at least half of it."""
        return max(budget - spent(), budget / 2)

    def fits_another() -> bool:
        """Whether building, loading and warming up one more candidate (costing as much
        as the costliest so far), then ``min_runs`` rounds of all, fit the budget."""
        if spent() > budget / 2:
            return False
        if not sessions.calls:
            return True
        run = max(sessions.run_s.values())  # one sample
        warm = sessions.load_s + sessions.warmup * run / (sessions.repeats or 1)
        projected = spent() + longest_s + warm + options.min_runs * (sessions.round_s() + run)
        return projected <= budget

    def admit(candidate: Built) -> None:
        name = candidate.variant.name
        if not candidate.verified or candidate.path is None:
            status = "failed" if candidate.reason else "unverified"
            entries[name] = _entry(candidate, status)
            return
        digest = _digest(candidate.path)
        if digest in seen:
            entries[name] = _entry(candidate, "not_timed", f"identical to {seen[digest]}")
            return
        seen[digest] = name
        timed[name] = candidate

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

    try:
        while queue and len(built) < options.max_candidates:
            names = {b.variant.name for b in built}
            both = ORIGINAL in names and primary in names  # always built, and first
            if both and (skipped is not None or not fits_another()):
                break
            variant = queue.pop(0)
            building = time.perf_counter()
            candidate = build(variant)
            if variant.name != ORIGINAL:
                longest_s = max(longest_s, time.perf_counter() - building)
            built.append(candidate)
            admit(candidate)
            if variant.name == primary and not expanded and options.drop_fusions:
                expanded = True
                queue += more_variants(candidate)
            if not sessions.calls and len(timed) > 1:  # before the first session is loaded
                skipped = _too_slow(list(timed.values()), options, timing_left())
            if skipped is None and len(timed) > 1:
                for name, ready in timed.items():
                    if name not in sessions.calls:
                        assert ready.path is not None
                        sessions.open(name, ready.path)
    except _TimingError as failure:
        skipped = f"timing failed: {failure.cause}"
    for variant in queue:
        entries[variant.name] = SelectionCandidate(
            name=variant.name,
            target=variant.target,
            excluded=sorted(variant.excluded),
            status="not_timed",
            reason="not built: max_candidates reached, or timing it would not fit the budget",
            verified=False,
        )
    fallback = next(b for b in built if b.variant.name == primary)
    if skipped is not None:
        for name, candidate in timed.items():
            entries[name] = _entry(candidate, "not_timed", skipped)
        sessions.calls.clear()
        return finish("skipped", skipped, fallback, False)
    if ORIGINAL not in timed or len(timed) < 2:
        sessions.calls.clear()
        for name, candidate in timed.items():
            entries[name] = _entry(candidate, "not_timed", "nothing to compare with")
        only = next(iter(timed.values()), fallback)
        nothing = only.variant.name == ORIGINAL
        return finish("done", "only one distinct verified candidate", only, nothing)
    left = timing_left()
    for name in reversed(list(timed)):
        if len(sessions.calls) <= 2 or options.min_runs * sessions.round_s() <= left:
            break
        sessions.drop(name)
        entries[name] = _entry(timed.pop(name), "not_timed", "did not fit the time budget")
    fitting = int(left / (sessions.round_s() or 1e-6)) if left > 0 else 0
    rounds = min(options.max_runs, max(options.min_runs, fitting))
    alpha = (1 - options.confidence) / 20
    nodes = {name: _node_count(timed[name].model) for name in timed}
    try:
        samples = interleaved_samples(
            sessions.calls,
            warmup=0,
            rounds=rounds,
            stop=lambda done: (
                len(done[ORIGINAL]) >= options.min_runs and settled(done, alpha, nodes)
            ),
        )
    except Exception as exc:  # onnxruntime raises its own exception hierarchy
        for name, candidate in timed.items():
            entries[name] = _entry(candidate, "not_timed", f"timing failed: {exc}")
        return finish("skipped", f"timing failed: {exc}", fallback, False)
    finally:
        sessions.calls.clear()  # closes the sessions
    per_run = sessions.repeats or 1
    samples = {name: [ms / per_run for ms in values] for name, values in samples.items()}
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
        warmup=sessions.warmup,
        rounds=len(samples[ORIGINAL]),
    )


def _too_slow(candidates: list[Built], options: SelectOptions, left_s: float) -> str | None:
    """Why timing ``candidates`` (the original and the primary) is skipped: when their
    builds' estimate of loading and timing them does not fit ``left_s``."""
    needed = _estimate(candidates, options)
    if needed is None or needed <= left_s:
        return None
    names = " and ".join(b.variant.name for b in candidates)
    rounds = max(options.warmup, 1) + options.min_runs
    return (
        f"timing {names} would take about {needed:.3g} s (loading each and {rounds} rounds), "
        f"over the {left_s:.3g} s left of the {options.max_seconds:.3g} s budget "
        "(select.max_seconds)"
    )
