"""Measured selection ("do no harm"): the rule, the candidates, the report section, the CLI.

No assertion here depends on how fast anything ran, except that a candidate made many
times slower on purpose is never chosen over the original.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx_ir as ir
from graphs import assert_equivalent, init, make_model, node, random_feeds, vi
from typer.testing import CliRunner

from graphopt.cli import exit_codes
from graphopt.cli.app import app
from graphopt.engine import OptimizeOptions, SelectOptions, optimize
from graphopt.engine.options import VerifyOptions
from graphopt.engine.profiling.session_config import SessionConfig
from graphopt.engine.selection import (
    LOSSLESS,
    MAX_REPEATS,
    ORIGINAL,
    Built,
    Cost,
    TimingSessions,
    Variant,
    base_variants,
    decide,
    select,
    settled,
    sign_test_p,
)

FAST = SelectOptions(enabled=True, max_seconds=5.0, warmup=1, min_runs=9, max_runs=15)


def _gelu_mlp() -> ir.Model:
    """``Gelu(x @ W + b)`` in its erf form: fusions for both targets have work."""
    rng = np.random.default_rng(7)
    nodes = [
        node("MatMul", ["x", "w"], ["m"]),
        node("Add", ["m", "b"], ["a"]),
        node("Div", ["a", "sqrt2"], ["s"]),
        node("Erf", ["s"], ["e"]),
        node("Add", ["e", "one"], ["p"]),
        node("Mul", ["a", "half"], ["h"]),
        node("Mul", ["h", "p"], ["y"]),
    ]
    inits = [
        init("w", rng.standard_normal((32, 32)).astype(np.float32)),
        init("b", rng.standard_normal(32).astype(np.float32)),
        init("sqrt2", np.float32(math.sqrt(2))),
        init("one", np.float32(1)),
        init("half", np.float32(0.5)),
    ]
    return make_model(nodes, [vi("x", [4, 32])], [vi("y", [4, 32])], inits, opset=17)


def _saved(model: ir.Model, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ir.save(model, path)
    return path


# --------------------------------------------------------------------------- the rule


def test_sign_test_p_values() -> None:
    assert sign_test_p(10, 10) == 1 / 1024
    assert sign_test_p(0, 10) == 1.0
    assert math.isclose(sign_test_p(8, 10), 56 / 1024)
    assert sign_test_p(0, 0) == 1.0


def test_a_slower_candidate_is_never_chosen() -> None:
    original = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.0, 1.02, 0.98]
    samples = {ORIGINAL: original, "slow": [t * 1.5 for t in original]}
    verdict = decide(samples, 0.95)
    assert verdict.chosen == ORIGINAL and verdict.nothing_helped
    assert verdict.wins["slow"] == 0 and verdict.p_values["slow"] == 1.0


def test_a_consistently_faster_candidate_wins_and_the_fastest_among_winners() -> None:
    original = [1.0 + 0.01 * (i % 3) for i in range(12)]
    samples = {
        ORIGINAL: original,
        "fast": [t * 0.8 for t in original],
        "faster": [t * 0.7 for t in original],
    }
    verdict = decide(samples, 0.95)
    assert verdict.chosen == "faster" and not verdict.nothing_helped
    assert verdict.wins == {"fast": 12, "faster": 12}
    assert "faster in 12 of 12 rounds" in verdict.reason


def test_a_lower_median_within_noise_does_not_win() -> None:
    # lower median, but faster in only 6 of 10 rounds: p = 0.377, not beyond noise
    original = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    noisy = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.2, 1.2, 1.2, 1.2]
    verdict = decide({ORIGINAL: original, "noisy": noisy}, 0.95, nodes={ORIGINAL: 10, "noisy": 10})
    assert verdict.chosen == ORIGINAL and verdict.nothing_helped  # not smaller either
    verdict = decide({ORIGINAL: original, "noisy": noisy}, 0.95, nodes={ORIGINAL: 10, "noisy": 5})
    assert verdict.chosen == "noisy" and verdict.nothing_helped  # as fast within noise


def test_when_nothing_is_faster_the_smallest_candidate_as_fast_within_noise_is_kept() -> None:
    original = [1.0, 1.2, 0.8, 1.0, 1.1, 0.9, 1.0, 1.0, 1.0, 1.0]
    same = [1.0, 0.8, 1.2, 0.9, 1.1, 1.0, 1.0, 1.0, 1.01, 1.01]  # median equal, 4 of 10 faster
    samples = {ORIGINAL: original, LOSSLESS: same, "optimized": [t * 1.015 for t in same]}
    nodes = {ORIGINAL: 340, LOSSLESS: 78, "optimized": 77}
    verdict = decide(samples, 0.95, tie=0.02, nodes=nodes)
    assert verdict.chosen == "optimized" and verdict.nothing_helped
    assert "77 nodes instead of 340" in verdict.reason
    # beyond the tie, or slower in nearly every round, is not "as fast"
    assert decide(samples, 0.95, tie=0.0, nodes=nodes).chosen == LOSSLESS
    slower = {ORIGINAL: original, "optimized": [t + 0.05 for t in original]}
    verdict = decide(slower, 0.95, tie=0.1, nodes=nodes)  # median +5%, slower in 10 of 10
    assert verdict.chosen == ORIGINAL and verdict.nothing_helped


def test_candidate_order_and_targets() -> None:
    names = [v.name for v in base_variants("default", "onnxruntime", SelectOptions())]
    assert names == [ORIGINAL, "onnxruntime", "portable", LOSSLESS]
    # portable never tries onnxruntime unless asked: its output must stay standard ONNX
    assert [v.name for v in base_variants("default", "portable", SelectOptions())] == [
        ORIGINAL,
        "portable",
        LOSSLESS,
    ]
    both = SelectOptions(targets=["onnxruntime"])
    assert [v.name for v in base_variants("lossless", "portable", both)] == [
        ORIGINAL,
        "portable",
        "onnxruntime",
    ]


# --------------------------------------------------------------------------- select()


def _slow_equivalent(model: ir.Model) -> ir.Model:
    """``model`` followed by 60 square MatMuls by the identity: same values, much slower."""
    proto = ir.serde.serialize_model(model)
    output = proto.graph.output[0].name
    size = 32
    nodes = list(proto.graph.node)
    nodes[-1].output[0] = "chain0"
    nodes += [node("MatMul", [f"chain{i}", "eye"], [f"chain{i + 1}"]) for i in range(59)]
    nodes.append(node("MatMul", ["chain59", "eye"], [output]))
    inits = [*proto.graph.initializer, init("eye", np.eye(size, dtype=np.float32))]
    return make_model(nodes, list(proto.graph.input), list(proto.graph.output), inits, opset=17)


def test_an_injected_slower_candidate_is_not_chosen(tmp_path: Path) -> None:
    original = _gelu_mlp()
    slow = _slow_equivalent(original)
    assert_equivalent(original, slow)  # equivalent: verification would pass it
    broken = _gelu_mlp()
    broken.graph.initializers["one"].const_value = ir.tensor(np.float32(2))
    models = {ORIGINAL: original, "slow": slow, "broken": broken}

    def build(variant: Variant) -> Built:
        model = models[variant.name]
        if variant.name == "broken":
            return Built(variant, model, False, None, reason="outputs differ")
        return Built(variant, model, True, _saved(model, tmp_path / variant.name / "m.onnx"))

    variants = [Variant(ORIGINAL), Variant("slow", "portable", "custom"), Variant("broken")]
    outcome = select(variants, build, random_feeds(original), SessionConfig(), FAST, primary="slow")
    selection = outcome.selection
    assert selection.status == "done"
    assert selection.chosen == ORIGINAL and outcome.chosen.variant.name == ORIGINAL
    assert selection.nothing_helped
    by_name = {c.name: c for c in selection.candidates}
    assert list(by_name) == [ORIGINAL, "slow", "broken"]
    assert by_name["broken"].status == "failed" and by_name["broken"].latency is None
    assert by_name["slow"].status == "timed" and by_name["slow"].verified
    assert selection.rounds >= FAST.min_runs
    assert by_name["slow"].latency is not None
    assert by_name["slow"].latency.runs == selection.rounds
    assert by_name["slow"].wins is not None and by_name["slow"].p_value is not None
    assert by_name[ORIGINAL].ratio == 1.0


def test_timing_stops_once_the_verdict_is_settled(tmp_path: Path) -> None:
    original = _gelu_mlp()
    models = {ORIGINAL: original, "slow": _slow_equivalent(original)}

    def build(variant: Variant) -> Built:
        model = models[variant.name]
        return Built(variant, model, True, _saved(model, tmp_path / variant.name / "m.onnx"))

    roomy = FAST.model_copy(update={"max_seconds": 60.0, "max_runs": 200})
    variants = [Variant(ORIGINAL), Variant("slow", "portable", "custom")]
    outcome = select(
        variants, build, random_feeds(original), SessionConfig(), roomy, primary="slow"
    )
    selection = outcome.selection
    assert selection.chosen == ORIGINAL and selection.rounds is not None
    # slower in every round is beyond doubt after min_runs rounds; a few noisy rounds may
    # add some, but never the 200 the budget allows
    assert roomy.min_runs <= selection.rounds < roomy.max_runs
    assert selection.ms / 1000 < roomy.max_seconds


def test_timing_is_skipped_when_it_cannot_fit_the_budget(tmp_path: Path) -> None:
    model = _gelu_mlp()
    variants = [Variant(ORIGINAL), Variant("portable", "portable", "default")]
    paths = {v.name: _saved(model, tmp_path / v.name / "m.onnx") for v in variants}
    paths["portable"].write_bytes(paths["portable"].read_bytes() + b" ")  # a distinct file

    def build(variant: Variant) -> Built:
        slow = Cost(load_s=30.0, run_s=2.0)  # what a very large model's build measures
        return Built(variant, model, True, paths[variant.name], cost=slow)

    outcome = select(
        variants, build, random_feeds(model), SessionConfig(), FAST, primary="portable"
    )
    selection = outcome.selection
    assert selection.status == "skipped" and outcome.chosen.variant.name == "portable"
    assert "would take about 100 s" in selection.reason and "select.max_seconds" in selection.reason
    assert [c.status for c in selection.candidates] == ["not_timed", "not_timed"]
    assert selection.ms / 1000 < 1  # no session was loaded


def test_fast_models_are_timed_in_samples_of_several_runs(tmp_path: Path) -> None:
    model = _gelu_mlp()  # tens of microseconds a run
    sessions = TimingSessions(random_feeds(model), SessionConfig(), FAST)
    sessions.open(ORIGINAL, _saved(model, tmp_path / "m.onnx"))
    assert sessions.repeats is not None and 1 < sessions.repeats <= MAX_REPEATS
    sessions.open("again", _saved(model, tmp_path / "again.onnx"))
    assert sessions.repeats > 1 and set(sessions.calls) == {ORIGINAL, "again"}


def test_settled_samples() -> None:
    base = [1.0] * 9
    nodes = {ORIGINAL: 100, "fast": 50, "big": 80, "small": 40, "same": 90}
    fast = {ORIGINAL: base, "fast": [0.7] * 9}
    assert settled(fast, 0.0025, nodes)  # 9 of 9 rounds: p = 0.00195
    assert not settled({ORIGINAL: base[:8], "fast": [0.7] * 8}, 0.0025, nodes)  # p = 0.0039
    # a candidate as fast as the original is undecided...
    same = [0.9, 1.1] * 4 + [1.0]
    assert not settled({ORIGINAL: base, "same": same}, 0.0025, nodes)
    # ...but cannot change the verdict when the leader beats it beyond doubt and it is no
    # smaller than the leader
    assert settled({**fast, "same": same}, 0.0025, nodes)
    assert not settled({**fast, "small": same}, 0.0025, nodes)  # fewer nodes: it may tie
    assert settled({ORIGINAL: base, "slow": [1.5] * 9}, 0.0025, nodes | {"slow": 1})


def test_identical_candidates_are_timed_once(tmp_path: Path) -> None:
    model = _gelu_mlp()
    path = _saved(model, tmp_path / "a" / "m.onnx")

    def build(variant: Variant) -> Built:
        return Built(variant, model, True, path)

    outcome = select(
        [Variant(ORIGINAL), Variant("same", "portable", "default")],
        build,
        random_feeds(model),
        SessionConfig(),
        FAST,
        primary="same",
    )
    same = outcome.selection.candidates[1]
    assert same.status == "not_timed" and same.reason == "identical to original"
    assert outcome.selection.chosen == ORIGINAL and outcome.selection.nothing_helped


# --------------------------------------------------------------------------- optimize()


def test_optimize_with_selection_returns_a_verified_candidate(tmp_path: Path) -> None:
    source = _saved(_gelu_mlp(), tmp_path / "m.onnx")
    options = OptimizeOptions(target="onnxruntime", select=FAST)
    out = tmp_path / "out" / "m.opt.onnx"
    with optimize(source, options, output=out) as result:
        report = result.report
        selection = report.selection
        assert selection is not None and selection.status == "done"
        names = [c.name for c in selection.candidates]
        assert names[:4] == [ORIGINAL, "onnxruntime", "portable", LOSSLESS]
        assert len(names) == len(set(names))
        assert any(n.startswith("onnxruntime-without-") for n in names)  # a fusion fired
        chosen = next(c for c in selection.candidates if c.name == selection.chosen)
        assert chosen.verified and chosen.status == "timed" and chosen.latency is not None
        assert report.verification.status == "passed"
        original = next(c for c in selection.candidates if c.name == ORIGINAL)
        if selection.nothing_helped and selection.chosen != ORIGINAL:
            assert chosen.nodes < original.nodes  # kept as fast within noise, and smaller
            assert chosen.latency.p50_ms <= original.latency.p50_ms * (1 + FAST.tie)
        elif not selection.nothing_helped:
            assert chosen.p_value is not None and chosen.p_value <= 0.05
        assert report.optimized.nodes == chosen.nodes
        if selection.chosen == ORIGINAL:
            assert report.passes == [] and report.pipeline.name == ORIGINAL
        assert out.exists()
        assert_equivalent(_gelu_mlp(), ir.load(out), rtol=1e-4, atol=1e-5)
    assert selection.ms / 1000 < 60  # bounded by the budget, not a speed target


def test_selection_is_skipped_with_pruning_or_without_verification(tmp_path: Path) -> None:
    source = _saved(_gelu_mlp(), tmp_path / "m.onnx")
    options = OptimizeOptions(select=FAST, verify=VerifyOptions(enabled=False))
    with optimize(source, options) as result:
        selection = result.report.selection
        assert selection is not None and selection.status == "skipped"
        assert "verification is off" in selection.reason and not selection.candidates
    with optimize(source, OptimizeOptions()) as result:
        assert result.report.selection is None  # off unless asked for (library default)


def test_cli_selects_by_default_and_not_with_no_select(tmp_path: Path) -> None:
    source = _saved(_gelu_mlp(), tmp_path / "m.onnx")
    for flag, expected in (("--select", "done"), ("--no-select", None)):
        report = tmp_path / f"{flag}.json"
        args = ["optimize", str(source), "-o", str(tmp_path / f"{flag}.onnx")]
        args += ["--report", str(report), flag, "--select-seconds", "3"]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == exit_codes.OK, result.output
        written = json.loads(report.read_text())
        if expected is None:
            assert written["selection"] is None
        else:
            assert written["selection"]["status"] == expected
            assert f"kept {written['selection']['chosen']}" in result.output


def test_equally_fast_winners_tie_and_the_smaller_model_is_kept() -> None:
    original = [1.0 + 0.01 * (i % 3) for i in range(12)]
    samples = {
        ORIGINAL: original,
        "big": [t * 0.70 for t in original],
        "small": [t * 0.71 for t in original],  # 1.4% slower: within the 2% tie
        "slower": [t * 0.80 for t in original],
    }
    nodes = {ORIGINAL: 100, "big": 90, "small": 60, "slower": 10}
    assert decide(samples, 0.95, tie=0.02, nodes=nodes).chosen == "small"
    assert decide(samples, 0.95, tie=0.0, nodes=nodes).chosen == "big"
