"""The last day at a glance: the score history as JSON, its alert periods, and an inline SVG of it.

Pure functions on :class:`agent.history.scores.Entry` lists.  An alert period
is what the shipped ``HostAnomaly`` rule would page on: a run of at least
``RULE_RUN`` consecutive scores above 1 (:mod:`agent.score.alerts`), from its
first sample above 1 to its last; a gap of more than ``GAP_INTERVALS``
sampling intervals ends a run, as a missing series resets a ``for``.  The SVG
needs no script, style sheet or font: a text browser skips it and reads the
summary line and the alerts table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from agent.history.scores import Entry
from agent.score.alerts import RULE_LEVEL, RULE_RUN

GAP_INTERVALS = 3.0
WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T = 720, 180, 40, 20, 8


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """Unix seconds from ISO 8601 (``Z`` or an offset; naive means UTC) or from a number; ValueError else."""
    try:
        return float(text)
    except ValueError:
        pass
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def entry_doc(e: Entry) -> dict[str, Any]:
    return {
        "time": iso(e.time),
        "score": round(e.score, 4) if math.isfinite(e.score) else None,
        "anomalous": e.anomalous,
        "top": [{"feature": f, "share": round(s, 4)} for f, s in e.top],
    }


def _runs(entries: Sequence[Entry], interval: float) -> list[tuple[int, int]]:
    """[first, last] indices of runs of scores above the rule's level, unbroken by gaps."""
    out: list[tuple[int, int]] = []
    start = None
    for i, e in enumerate(entries):
        gap = i > 0 and not 0 <= e.time - entries[i - 1].time <= GAP_INTERVALS * interval
        if start is not None and (gap or not e.score > RULE_LEVEL):
            out.append((start, i - 1))
            start = None
        if start is None and e.score > RULE_LEVEL:
            start = i
    if start is not None:
        out.append((start, len(entries) - 1))
    return out


Periods = list[dict[str, Any]]


def alert_periods(entries: Sequence[Entry], interval: float, run: int = RULE_RUN) -> Periods:
    """The periods the rule pages on, oldest first: start, end, peak and the peak's top contributors."""
    periods = []
    for a, b in _runs(entries, interval):
        if b - a + 1 < run:
            continue
        peak = max(entries[a : b + 1], key=lambda e: e.score)
        periods.append(
            {
                "start": iso(entries[a].time),
                "end": iso(entries[b].time),
                "start_ts": entries[a].time,
                "end_ts": entries[b].time,
                "samples": b - a + 1,
                "peak": round(peak.score, 3),
                "peak_time": iso(peak.time),
                "top": [{"feature": f, "share": round(s, 3)} for f, s in peak.top],
            }
        )
    return periods


def history_doc(entries: Sequence[Entry], interval: float, since: float | None) -> dict[str, Any]:
    """``/api/v1/history``: the entries and the alert periods among them."""
    return {
        "since": iso(since) if since is not None else None,
        "interval_seconds": interval,
        "threshold": RULE_LEVEL,
        "count": len(entries),
        "entries": [entry_doc(e) for e in entries],
        "alerts": [{k: v for k, v in p.items() if not k.endswith("_ts")} for p in alert_periods(entries, interval)],
    }


def _within(periods: Periods, t0: float) -> Periods:
    """The periods that reach into the drawn span (one computation of the periods serves the whole page)."""
    return [p for p in periods if p["end_ts"] >= t0]


def span_hours(entries: Sequence[Entry], now: float, hours: float = 24.0) -> float:
    """The drawn span: the last ``hours``, or less on a young agent (from its first score, at least an hour),
    so twelve minutes of scores are not squeezed into the last pixel of a day."""
    first = min((e.time for e in entries if now - hours * 3600 <= e.time <= now), default=now)
    return min(hours, max(1.0, math.ceil((now - first) / 3600)))


def _ticks(hours: float) -> float:
    """Hours between time labels: about five labels across the span."""
    return next(step for step in (0.25, 0.5, 1, 2, 3, 6, 12) if hours / step <= 6)


def svg(
    entries: Sequence[Entry], now: float, interval: float, hours: float = 24.0, periods: Periods | None = None
) -> str:
    """The score over the last ``hours`` (less on a young agent) as an inline SVG: the threshold line,
    alert periods shaded (``periods``: :func:`alert_periods` of ``entries``, when the caller has them)."""
    hours = span_hours(entries, now, hours)
    t0 = now - hours * 3600
    shown = [e for e in entries if t0 <= e.time <= now and math.isfinite(e.score)]
    top = max([2.0, *(e.score for e in shown)])
    top = min(top, 10.0)  # a huge peak is clipped at the top edge: the threshold stays readable

    def x(t: float) -> float:
        return PAD_L + (WIDTH - PAD_L - 4) * (t - t0) / (hours * 3600)

    def y(s: float) -> float:
        return PAD_T + (HEIGHT - PAD_T - PAD_B) * (1 - min(s, top) / top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="anomaly score over the last {hours:g} hours">',
        f"<title>anomaly score over the last {hours:g} hours</title>",
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{WIDTH - PAD_L - 4}" height="{HEIGHT - PAD_T - PAD_B}" '
        'fill="#fafafa" stroke="#ccc"/>',
    ]
    for p in _within(periods, t0) if periods is not None else alert_periods(shown, interval):
        a, b = x(max(p["start_ts"], t0)), x(p["end_ts"] + interval)
        out.append(
            f'<rect class="alert" x="{a:.1f}" y="{PAD_T}" width="{max(b - a, 2):.1f}" '
            f'height="{HEIGHT - PAD_T - PAD_B}" fill="#f4b6b6"><title>alert {p["start"]} to {p["end"]}, '
            f"peak {p['peak']}</title></rect>"
        )
    for s in (0.0, 1.0, top):
        out.append(f'<text x="{PAD_L - 4}" y="{y(s) + 4:.1f}" font-size="10" text-anchor="end">{s:.3g}</text>')
    out.append(
        f'<line class="threshold" x1="{PAD_L}" y1="{y(1.0):.1f}" x2="{WIDTH - 4}" y2="{y(1.0):.1f}" '
        'stroke="#c00" stroke-dasharray="4 3"/>'
    )
    step = _ticks(hours)
    ticks = int(round(hours / step))
    for k in range(ticks + 1):
        t = t0 + k * step * 3600
        label = datetime.fromtimestamp(t, UTC).strftime("%H:%M")
        anchor = "end" if k == ticks else "start" if k == 0 else "middle"  # the end labels inside the picture
        out.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 6}" font-size="10" text-anchor="{anchor}">{label}</text>')
    # a gap in the samples breaks the line, as it does in Prometheus
    segment: list[str] = []
    lines: list[list[str]] = [segment]
    for i, e in enumerate(shown):
        if i and e.time - shown[i - 1].time > GAP_INTERVALS * interval:
            segment = []
            lines.append(segment)
        segment.append(f"{x(e.time):.1f},{y(e.score):.1f}")
    for pts in lines:
        if pts:
            out.append(
                f'<polyline class="score" fill="none" stroke="#235" stroke-width="1.2" points="{" ".join(pts)}"/>'
            )
    out.append("</svg>")
    return "\n".join(out)


def summary(
    entries: Sequence[Entry], now: float, interval: float, hours: float = 24.0, periods: Periods | None = None
) -> str:
    """One sentence for the page (and text browsers) about the drawn period (``periods`` as for :func:`svg`)."""
    shown = [e for e in entries if now - hours * 3600 <= e.time <= now and math.isfinite(e.score)]
    if not shown:
        return f"No scores in the last {hours:g} hours yet."
    peak = max(shown, key=lambda e: e.score)
    t0 = now - hours * 3600
    n = len(_within(periods, t0) if periods is not None else alert_periods(shown, interval))
    return (
        f"{len(shown)} scores since {iso(shown[0].time)}; peak {peak.score:.3g} at {iso(peak.time)}; "
        f"{n} alert period{'s' if n != 1 else ''} (score above {RULE_LEVEL:g} for {RULE_RUN} samples or more)."
    )
