"""The job page (``GET /v1/jobs/{id}/view``): one self-contained HTML document.

Contract of :func:`render_job_page`: what the job did at a glance — status, before/after
statistics, the per-op latency chart and the memory timeline (the job's ``op_latency.png``
and ``memory_timeline.png`` artifacts, inlined as ``data:`` URIs so the page needs nothing
but itself), the pass table, verification, and download links. Inline CSS, no script, no
external asset. Every value taken from the job, its model or its report is escaped
(``html.escape``); the report is read as plain JSON, so reports of older or newer schema
versions render what they have. A queued or running job's page reloads itself every 2 s.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from sqlalchemy import Row

from graphopt.api import job_catalog, model_catalog
from graphopt.api.deps import Services

IMAGES = {
    "op_latency.png": "Per-op kernel time (ms per run), original vs optimized",
    "memory_timeline.png": "Activation memory: live bytes per step and the arena layout",
}
MAX_INLINE_IMAGE_BYTES = 8 << 20
"""Larger images are linked, not inlined."""

TERMINAL = {"succeeded", "failed", "cancelled"}
DASH = "&ndash;"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 16px;
margin-bottom:16px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eceef2;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.l,th.l{text-align:left}
th{background:#f0f2f5;font-weight:600}
tr.quiet td{color:#8a93a3}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.succeeded,.passed{background:#1f883d}.failed{background:#cf222e}.running{background:#0969da}
.queued,.skipped,.unavailable,.cancelled{background:#6e7781}
.better{color:#1f883d}.worse{color:#cf222e}
.muted{color:#6e7781}.meta td{text-align:left;border:0;padding:2px 12px 2px 0}
img{max-width:100%;height:auto;border:1px solid #eceef2;border-radius:4px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
"""


def render_job_page(services: Services, job_id: str) -> str:
    """The page of job ``job_id`` (404 ``not_found`` when there is none)."""
    job, artifacts, _ = job_catalog.get(services, job_id)
    model = model_catalog.get(services, job.model_id)
    by_name = {a.name: a for a in artifacts}
    report = _read_json(services, by_name.get("report.json"))
    images = {
        name: _image_src(services, job.id, by_name[name]) for name in IMAGES if name in by_name
    }
    refresh = job.status not in TERMINAL
    body = [
        _header(job, model.filename),
        _outcome(job),
        _stats(job, report),
        _profile(report, images),
        _memory(report, images),
        _passes(report),
        _verification(report),
        _selection(report),
        _warnings(report),
        _downloads(job.id, artifacts),
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        + ('<meta http-equiv=refresh content="2">' if refresh else "")
        + f"<title>graphopt job {escape(job.id)}</title><style>{CSS}</style></head>"
        + f"<body><main>{''.join(part for part in body if part)}</main></body></html>"
    )


def _read_json(services: Services, row: Row[Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    try:
        data = json.loads(services.blobs.local_path(row.sha256).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _image_src(services: Services, job_id: str, row: Row[Any]) -> str:
    """A ``data:`` URI of the artifact, or its download URL when it is too large or gone."""
    url = f"/v1/jobs/{job_id}/artifacts/{row.name}"
    if row.size_bytes > MAX_INLINE_IMAGE_BYTES:
        return url
    try:
        data = services.blobs.local_path(row.sha256).read_bytes()
    except OSError:
        return url
    return f"data:{row.media_type};base64,{base64.b64encode(data).decode('ascii')}"


# -- formatting ---------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return escape(str(value))


def _bytes(value: Any) -> str:
    if not isinstance(value, int | float):
        return DASH
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.2f} {unit}"
        size /= 1024
    return f"{size:,.2f} GiB"


def _change(before: Any, after: Any) -> str:
    """``after`` relative to ``before`` as a signed percentage (lower is better)."""
    if not isinstance(before, int | float) or not isinstance(after, int | float) or not before:
        return ""
    ratio = (after - before) / before * 100
    css = "better" if ratio < 0 else "worse" if ratio > 0 else "muted"
    return f'<span class="{css}">{ratio:+.1f}%</span>'


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] = ()
) -> str:
    """A table; ``headers`` and cells are already escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    lines = []
    for index, row in enumerate(rows):
        css = row_classes[index] if index < len(row_classes) else ""
        attribute = f' class="{css}"' if css else ""
        lines.append(f"<tr{attribute}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _badge(status: Any) -> str:
    text = escape(str(status))
    return f'<span class="badge {text}">{text}</span>'


def _section(title: str, *content: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{''.join(content)}</section>"


# -- sections -----------------------------------------------------------------------------


def _header(job: Row[Any], filename: str) -> str:
    pipeline = job.pipeline
    passes = ", ".join(pipeline.get("passes", []))
    meta = [
        ("model", f"{escape(filename)} <code>{escape(job.model_id)}</code>"),
        (
            "pipeline",
            f"{escape(str(pipeline.get('name')))} <span class=muted>({escape(passes)})</span>",
        ),
        ("created", _fmt(job.created_at.isoformat(timespec="seconds"))),
        (
            "finished",
            _fmt(job.finished_at.isoformat(timespec="seconds")) if job.finished_at else DASH,
        ),
        ("duration", f"{job.duration_ms / 1000:,.2f} s" if job.duration_ms is not None else DASH),
        ("attempts", _fmt(job.attempts)),
    ]
    rows = "".join(f"<tr><td class=muted>{k}</td><td>{v}</td></tr>" for k, v in meta)
    return (
        f"<h1>graphopt job <code>{escape(job.id)}</code> {_badge(job.status)}</h1>"
        f"<table class=meta>{rows}</table>"
    )


def _outcome(job: Row[Any]) -> str:
    if job.error:
        detail = json.dumps(job.error.get("detail") or {}, indent=1)
        return _section(
            "Error",
            f"<p><b>{escape(str(job.error.get('code')))}</b>: "
            f"{escape(str(job.error.get('message')))}</p><pre>{escape(detail)}</pre>",
        )
    if job.status not in TERMINAL and job.progress:
        progress = job.progress
        fraction = progress.get("fraction")
        share = f" ({fraction * 100:.0f}%)" if isinstance(fraction, int | float) else ""
        return _section(
            "Progress",
            f"<p>{escape(str(progress.get('stage')))}{share}: "
            f"{escape(str(progress.get('message') or ''))}</p>",
        )
    return ""


STAT_ROWS = (
    ("nodes", "nodes", _fmt),
    ("main-graph nodes", "main_graph_nodes", _fmt),
    ("initializers", "initializers", _fmt),
    ("parameters", "params", _fmt),
    ("parameter bytes", "param_bytes", _bytes),
    ("MACs", "macs", _fmt),
    ("depth (ops on the longest path)", "depth", _fmt),
    ("parallelism", "parallelism", _fmt),
)


def _stats(job: Row[Any], report: dict[str, Any]) -> str:
    before, after = report.get("original") or {}, report.get("optimized") or {}
    if not before and not job.summary:
        return ""
    if not before:  # a report-less job: the summary's headline numbers
        summary = job.summary or {}
        before = {k.removesuffix("_before"): v for k, v in summary.items() if k.endswith("_before")}
        after = {k.removesuffix("_after"): v for k, v in summary.items() if k.endswith("_after")}
    rows = [
        (
            label,
            show(before.get(key)),
            show(after.get(key)),
            _change(before.get(key), after.get(key)),
        )
        for label, key, show in STAT_ROWS
        if key in before or key in after
    ]
    profile = report.get("profile") or {}
    for side_label, key in (("latency p50 (ms)", "p50_ms"), ("latency p90 (ms)", "p90_ms")):
        a = ((profile.get("original") or {}).get("latency") or {}).get(key)
        b = ((profile.get("optimized") or {}).get("latency") or {}).get(key)
        if a is not None or b is not None:
            rows.append((side_label, _fmt(a), _fmt(b), _change(a, b)))
    if profile:
        a = _rss_added(profile.get("original"))
        b = _rss_added(profile.get("optimized"))
        rows.append(("peak RSS added by the session", _bytes(a), _bytes(b), _change(a, b)))
    ops = _op_changes(before.get("op_histogram") or {}, after.get("op_histogram") or {})
    return _section("Before / after", _table(("", "original", "optimized", "change"), rows), ops)


def _rss_added(side: Any) -> int | None:
    memory = (side or {}).get("memory") or {}
    peak, base = memory.get("peak_rss_bytes"), memory.get("baseline_rss_bytes")
    return peak - base if isinstance(peak, int) and isinstance(base, int) else None


def _op_changes(before: dict[str, int], after: dict[str, int]) -> str:
    changed = sorted(op for op in set(before) | set(after) if before.get(op) != after.get(op))
    if not changed:
        return ""
    items = ", ".join(f"{escape(op)} {before.get(op, 0)}&rarr;{after.get(op, 0)}" for op in changed)
    return f"<p><b>op types changed:</b> {items}</p>"


def _image(src: str | None, caption: str) -> str:
    if src is None:
        return ""
    return f'<figure><img src="{escape(src)}" alt="{escape(caption)}"><figcaption class=muted>{escape(caption)}</figcaption></figure>'


def _profile(report: dict[str, Any], images: dict[str, str]) -> str:
    profile = report.get("profile")
    if not profile:
        return _section(
            "Latency", "<p class=muted>Not profiled (job option <code>profile</code>).</p>"
        )
    session = profile.get("session") or {}
    lines = [
        f"<p>onnxruntime session {escape(_session_label(session))}; "
        f"{_fmt(profile.get('runs'))} interleaved runs per model after "
        f"{_fmt(profile.get('warmup'))} warm-up runs; latency ratio (p50 optimized / "
        f"original) <b>{_fmt(profile.get('latency_ratio'))}</b>.</p>",
        _image(images.get("op_latency.png"), IMAGES["op_latency.png"]),
    ]
    tuning = profile.get("tuning")
    if tuning:
        trials = tuning.get("trials") or []
        best = ((trials[0] if trials else {}).get("latency") or {}).get("p50_ms")
        rows = []
        for trial in trials:
            latency = trial.get("latency") or {}
            p50 = latency.get("p50_ms")
            relative = f"{p50 / best:.2f}x" if isinstance(p50, int | float) and best else DASH
            rows.append(
                (
                    escape(_session_label(trial.get("session") or {})),
                    _fmt(p50),
                    _fmt(latency.get("p90_ms")),
                    relative,
                )
            )
        lines.append(
            "<h3>Session tuning</h3>"
            f"<p>Recommended: <b>{escape(_session_label(tuning.get('recommended') or {}))}</b> "
            f"({_fmt(tuning.get('speedup'))}x faster than the slowest setting; "
            f"{_fmt(tuning.get('rounds'))} interleaved runs each).</p>"
            + _table(
                ("session (intra x inter, mode, level)", "p50 (ms)", "p90 (ms)", "vs best"), rows
            )
        )
    return _section("Latency", *lines)


def _session_label(session: dict[str, Any]) -> str:
    return (
        f"{session.get('intra_op_threads', '?')}x{session.get('inter_op_threads', '?')} "
        f"{session.get('execution_mode', '?')} {session.get('graph_optimization_level', '?')}"
    )


def _memory(report: dict[str, Any], images: dict[str, str]) -> str:
    memory = report.get("memory")
    if not memory:
        return ""
    schedule = memory.get("schedule") or {}
    rows = [
        ("arena (planned)", _bytes(memory.get("arena_bytes"))),
        ("lower bound for this order", _bytes(memory.get("lower_bound_bytes"))),
        ("naive (no reuse)", _bytes(memory.get("naive_bytes"))),
        ("peak before scheduling", _bytes(schedule.get("peak_before"))),
        ("peak after scheduling", _bytes(schedule.get("peak_after"))),
        ("schedule method", _fmt(schedule.get("method"))),
        ("tensors planned", _fmt(memory.get("tensors_planned"))),
        ("computed in place", _fmt(memory.get("in_place"))),
    ]
    return _section(
        "Activation memory",
        _table(("", "value"), rows),
        _image(images.get("memory_timeline.png"), IMAGES["memory_timeline.png"]),
    )


def _passes(report: dict[str, Any]) -> str:
    records = report.get("passes")
    if records is None:
        return ""
    rows, classes = [], []
    for record in records:
        name = escape(str(record.get("name")))
        if record.get("iteration") is not None:
            name += f" <span class=muted>#{_fmt(record.get('iteration'))}</span>"
        rows.append(
            (
                name,
                escape(str(record.get("family", ""))),
                _fmt(record.get("changed")),
                f"{_fmt(record.get('nodes_before'))}&rarr;{_fmt(record.get('nodes_after'))}",
                _fmt(record.get("nodes_removed")),
                _fmt(record.get("nodes_added")),
                _fmt(record.get("nodes_rewritten")),
                _fmt(record.get("params_delta")),
                _fmt(record.get("ms")),
                escape("; ".join(record.get("notes") or [])),
            )
        )
        classes.append("" if record.get("changed") else "quiet")
    headers = (
        "pass",
        "family",
        "changed",
        "nodes",
        "removed",
        "added",
        "rewritten",
        "params &Delta;",
        "ms",
        "notes",
    )
    return _section("Passes", _table(headers, rows, classes))


def _verification(report: dict[str, Any]) -> str:
    verification = report.get("verification")
    if not verification:
        return ""
    inputs = verification.get("inputs") or {}
    lines = [
        f"<p>{_badge(verification.get('status'))} atol {_fmt(verification.get('atol'))}, "
        f"rtol {_fmt(verification.get('rtol'))}"
        + (
            f"; {_fmt(inputs.get('sets'))} {escape(str(inputs.get('source')))} input set(s)"
            if inputs
            else ""
        )
        + (f" &mdash; {escape(str(verification['reason']))}" if verification.get("reason") else "")
        + "</p>"
    ]
    outputs = verification.get("outputs") or []
    if outputs:
        rows = [
            (
                escape(str(o.get("name"))),
                _fmt(o.get("shape_match")),
                _fmt(o.get("max_abs")),
                _fmt(o.get("max_rel")),
                _fmt(o.get("cosine")),
                _fmt(o.get("mismatched")),
                _badge("passed" if o.get("passed") else "failed"),
            )
            for o in outputs
        ]
        lines.append(
            _table(
                ("output", "shape match", "max abs", "max rel", "cosine", "mismatched", ""), rows
            )
        )
    rolled = verification.get("rolled_back") or []
    if rolled:
        items = "".join(
            f"<li><b>{escape(str(r.get('name')))}</b> ({escape(str(r.get('reason')))}): "
            f"{escape(str(r.get('error')))}</li>"
            for r in rolled
        )
        lines.append(f"<p>Rolled back:</p><ul>{items}</ul>")
    return _section("Verification", *lines)


def _selection(report: dict[str, Any]) -> str:
    selection = report.get("selection")
    if not selection:
        return ""
    rows = [
        (
            escape(str(c.get("name"))),
            escape(str(c.get("status"))),
            _fmt(c.get("verified")),
            _fmt(c.get("nodes")),
            _fmt((c.get("latency") or {}).get("p50_ms")),
            _fmt(c.get("ratio")),
            _fmt(c.get("p_value")),
        )
        for c in selection.get("candidates") or []
    ]
    return _section(
        "Measured selection",
        f"<p>{escape(str(selection.get('status')))}: chose <b>{escape(str(selection.get('chosen')))}</b>"
        f" &mdash; {escape(str(selection.get('reason')))}</p>",
        _table(("candidate", "status", "verified", "nodes", "p50 (ms)", "ratio", "p"), rows),
    )


def _warnings(report: dict[str, Any]) -> str:
    warnings = report.get("warnings") or []
    if not warnings:
        return ""
    items = "".join(
        f"<li><code>{escape(str(w.get('code')))}</code> {escape(str(w.get('message')))}</li>"
        for w in warnings
    )
    return _section("Warnings", f"<ul>{items}</ul>")


def _downloads(job_id: str, artifacts: list[Row[Any]]) -> str:
    if not artifacts:
        return ""
    rows = [
        (
            f'<a href="/v1/jobs/{escape(job_id)}/artifacts/{escape(a.name)}" download>'
            f"{escape(a.name)}</a>",
            _bytes(a.size_bytes),
            f"<code>{escape(a.sha256[:16])}…</code>",
        )
        for a in sorted(artifacts, key=lambda a: a.name)
    ]
    note = (
        "<p class=muted>The <code>ort_profile_*.json</code> files are Chrome traces: open them "
        "in Perfetto (ui.perfetto.dev) or chrome://tracing.</p>"
        if any(a.name.startswith("ort_profile_") for a in artifacts)
        else ""
    )
    return _section("Downloads", _table(("artifact", "size", "sha256"), rows), note)
