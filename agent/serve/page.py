"""What an operator reads: the ``/`` landing page (HTML) and ``anomaly-agent status`` (text).

Both render the same :class:`Section` list, built from the ``/healthz`` and
``/model`` documents (:mod:`agent.serve.status`) -- the CLI fetches them over HTTP,
the landing page calls the same functions -- so the two never disagree.
Plain HTML (headings, tables, links), no script and no
style sheet: a text browser shows it as it is.  Every value is HTML-escaped,
and a missing key (an older agent, a test stub) renders as ``-``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.history.scores import Entry
from agent.serve.rollback_page import rollback_items, rollback_notice
from agent.serve.timeline import alert_periods, summary, svg

TITLE = "host-anomaly-exporter"
MAX_ALERTS = 10  # rows of the landing page's alerts table
LINKS = (
    ("metrics", "Prometheus metrics (text or OpenMetrics)"),
    ("healthz", "200 while scores are fresh, else 503 (JSON)"),
    ("model", "the model bundle in use and the host calibration (JSON)"),
    ("api/v1/history", "the last day of scores and top contributors, ?since=ISO-time (JSON)"),
)
STATUS_TEXT = {
    "ok": "ok: scores are fresh",
    "calibrating": "calibrating: learning this host, no score until calibrated",
    "warming_up": "warming up: filling the first window",
    "stale": "stale: the last score is too old",
}
CALIBRATION_TEXT = {
    "off": "off (replayed data, or a bundle trained on this host)",
    "calibrating": "calibrating (warm-up: collecting this host's rows)",
    "provisional": "provisional (scoring, the calibration is not final yet; see /model)",
    "calibrated": "calibrated",
}


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    empty: str = "none"


@dataclass(frozen=True)
class Section:
    title: str
    items: list[tuple[str, str]] = field(default_factory=list)  # (label, value) pairs
    table: Table | None = None
    table_title: str = ""
    note: str = ""  # a sentence under the heading


def _get(doc: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(k)
    return doc


def _num(v: Any, fmt: str = ".3g") -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _pct(v: Any, fmt: str = ".0%") -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _score(v: Any) -> str:
    """3 significant digits, but no exponent for large feature scores (1280, not 1.28e+03)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 1000:
        return f"{v:.0f}"
    return _num(v)


def _str(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


def age_text(seconds: Any) -> str:
    """``4 s``, ``3 min 20 s``, ``2 h 5 min``, ``3 d 4 h``."""
    if not isinstance(seconds, (int, float)) or seconds != seconds:
        return "-"
    s = max(int(round(seconds)), 0)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if s >= size:
            rest = (s % size) // subsize
            return f"{s // size} {unit}" + (f" {rest} {sub}" if rest else "")
    return f"{s} s"


def sections(health: dict[str, Any], model: dict[str, Any]) -> list[Section]:
    """The page's content, from the ``/healthz`` and ``/model`` documents."""
    status = _get(health, "status")
    score = _get(health, "score")
    verdict = (
        ""
        if not isinstance(score, (int, float))
        else (" (above 1: anomalous)" if score > 1 else " (1 is the threshold)")
    )
    age = _get(health, "last_score_age_seconds")
    when = _get(health, "last_score_at")
    last = "none yet" if when is None else f"{when} ({age_text(age)} ago)"
    score_items = [
        ("Status", STATUS_TEXT.get(status, _str(status))),
        ("Score", ("none yet" if score is None else _num(score)) + verdict),
        ("Last score", last),
        ("Window filled", _pct(_get(health, "window_fill_ratio"))),
    ]
    if _get(health, "replay_label") is not None:
        score_items.append(("Replay label", f"{health['replay_label']} (ground truth of the replayed row)"))
    contributors = Table(
        ("rank", "feature", "share of the error", "feature score"),
        [
            (str(i), _str(_get(c, "feature")), _pct(_get(c, "share"), ".1%"), _score(_get(c, "feature_score")))
            for i, c in enumerate(_get(health, "top_contributors") or [], start=1)
        ],
        empty="none (no score yet)",
    )

    cal = _get(model, "calibration") or {}
    state = _get(cal, "state") or _get(health, "calibration_state")
    cal_items = [("State", CALIBRATION_TEXT.get(state, _str(state)))]
    if _get(cal, "target_rows") is not None:
        cal_items.append(
            ("Progress", f"{_str(_get(cal, 'rows'))}/{_get(cal, 'target_rows')} rows ({_pct(_get(cal, 'progress'))})")
        )
    result = _get(cal, "result")
    if isinstance(result, dict):
        fallbacks = _get(result, "details", "feature_fallbacks")
        cal_items += [
            (
                "Calibrated at",
                f"{_str(result.get('calibrated_at'))} on {_str(result.get('rows'))} rows "
                f"({_str(result.get('windows'))} windows)",
            ),
            (
                "Window threshold",
                f"{_num(result.get('threshold'), '.4g')} (raw error)"
                + ("" if fallbacks is None else f", {fallbacks} feature POT fallbacks"),
            ),
        ]

    sha = _str(_get(model, "sha256"))
    features = _get(model, "features")
    reloads = _get(model, "reloads") or {}
    model_items = [
        ("Model", _str(_get(model, "model_id") or _get(health, "model_id"))),
        ("Architecture", _str(_get(model, "architecture"))),
        ("sha256", sha[:12] if sha != "-" else sha),
        ("Window", f"{_str(_get(model, 'window'))} samples"),
        ("Features", str(len(features)) if isinstance(features, list) else "-"),
        ("Runtime", _str(_get(model, "runtime"))),
        ("Path", _str(_get(model, "path"))),
        ("Loaded at", _str(_get(model, "loaded_at"))),
        ("Reloads", f"{_str(reloads.get('accepted'))} accepted, {_str(reloads.get('rejected'))} rejected"),
        *rollback_items(_get(model, "rollback") or {}),
    ]
    errors = _get(health, "collector_errors") or {}
    error_table = Table(
        ("source", "errors"), [(str(k), str(v)) for k, v in sorted(errors.items())], empty="no sources reported yet"
    )
    return [
        Section("Score", score_items, contributors, "Top contributors"),
        Section("Calibration", cal_items),
        Section("Model", model_items),
        Section(
            "Collector errors",
            [],
            error_table,
            note="Reads that failed since the agent started, per source (0: every read worked).",
        ),
    ]


def intro(health: dict[str, Any]) -> str:
    """The line under the title: version, revision, what the score is."""
    rev = _str(_get(health, "revision"))
    return (
        f"version {_str(_get(health, 'version'))} (revision {rev[:12] if rev != 'unknown' else rev}). "
        "Anomaly score of this host, computed once per sampling interval."
    )


# -- HTML ---------------------------------------------------------------------
def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _html_table(t: Table) -> list[str]:
    if not t.rows:
        return [f"<p>{_e(t.empty)}</p>"]
    out = ['<table border="1" cellpadding="3">', "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in t.header) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in t.rows]
    return [*out, "</table>"]


def history_html(entries: Sequence[Entry], now: float, interval: float) -> list[str]:
    """The last 24 h (:mod:`agent.serve.timeline`): a sentence, the SVG, and the last alerts as a table."""
    every = alert_periods(entries, interval)  # once: the sentence, the picture and the table share them
    periods = every[-MAX_ALERTS:][::-1]
    rows: list[tuple[str, ...]] = [
        (
            str(p["start"]),
            str(p["end"]),
            f"{p['peak']:g}",
            ", ".join(f"{c['feature']} {c['share']:.0%}" for c in p["top"]) or "-",
        )
        for p in periods
    ]
    text, picture = summary(entries, now, interval, periods=every), svg(entries, now, interval, periods=every)
    out = ["<h2>Last 24 hours</h2>", f"<p>{_e(text)}</p>", picture]
    out.append(f"<h3>Last alerts (newest first, at most {MAX_ALERTS})</h3>")
    return out + _html_table(Table(("start", "end", "peak", "top contributors at the peak"), rows, "no alert"))


def render_html(
    health: dict[str, Any],
    model: dict[str, Any],
    history: Sequence[Entry] | None = None,
    now: float = 0.0,
    interval: float = 60.0,
) -> str:
    """The landing page: headings, tables and links; every value escaped."""
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(TITLE)}: {_e(_str(_get(health, 'status')))}</title></head><body>",
        f"<h1>{_e(TITLE)}</h1>",
        f"<p>{_e(intro(health))}</p>",
    ]
    notice = rollback_notice(model, now)
    if notice:
        out.append(f"<p><strong>{_e(notice)}</strong></p>")
    if history is not None:
        out += history_html(history, now, interval)
    for s in sections(health, model):
        out.append(f"<h2>{_e(s.title)}</h2>")
        if s.note:
            out.append(f"<p>{_e(s.note)}</p>")
        if s.items:  # a two-column table: one line per item in lynx and w3m (a <dl> takes two)
            out.append("<table>")
            out += [f'<tr><th align="left">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in s.items]
            out.append("</table>")
        if s.table is not None:
            if s.table_title:
                out.append(f"<h3>{_e(s.table_title)}</h3>")
            out += _html_table(s.table)
    out += ["<h2>Endpoints</h2>", "<ul>"]
    out += [f'<li><a href="{_e(path)}">/{_e(path)}</a>: {_e(text)}</li>' for path, text in LINKS]
    out += ["</ul>", "</body></html>", ""]
    return "\n".join(out)


# -- text ---------------------------------------------------------------------
def _text_table(t: Table, indent: str = "  ") -> list[str]:
    if not t.rows:
        return [indent + t.empty]
    widths = [max(len(r[i]) for r in (t.header, *t.rows)) for i in range(len(t.header))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in (t.header, *t.rows)]


def render_text(health: dict[str, Any], model: dict[str, Any], base_url: str) -> str:
    """The landing page's content as plain text, for a terminal."""
    out = [f"{TITLE} at {base_url}", intro(health)]
    for s in sections(health, model):
        out += ["", s.title]
        if s.note:
            out.append(f"  {s.note}")
        if s.items:
            width = max(len(k) for k, _ in s.items)
            out += [f"  {k.ljust(width)}  {v}" for k, v in s.items]
        if s.table is not None:
            if s.table_title:
                out.append(f"  {s.table_title}:")
            out += _text_table(s.table, "    " if s.items else "  ")
    out += ["", "Endpoints"]
    urls = [f"{base_url.rstrip('/')}/{path}" for path, _ in LINKS]
    out += [f"  {u.ljust(max(map(len, urls)))}  {text}" for u, (_, text) in zip(urls, LINKS)]
    return "\n".join(out) + "\n"
