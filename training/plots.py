"""Figures and output formats of ``anomaly-train report``: matplotlib plots, tables, HTML and PDF writers.

Every figure function is pure (arrays in, a new ``Figure`` out) and draws on
the Agg canvas through :class:`matplotlib.figure.Figure` directly, never
``pyplot``: no global figure registry, no display, nothing to close by name.
Matplotlib is imported on first use so ``anomaly-train --help`` stays fast.
The HTML is one file: inline CSS, PNGs as data URIs, no script, no external asset.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.metrics import segments

if TYPE_CHECKING:
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

DPI = 100
LOG_RATIO = 30.0  # log y-axis when the highest score is this many times the median
SCORE_FLOOR = 1e-3  # log axis: lower scores are drawn at the floor
COLORS = {"label": "#f4a261", "score": "#1d3557", "flag": "#d62828", "hit": "#2a9d8f", "bar": "#8d99ae"}


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def timeline(
    score: np.ndarray, labels: np.ndarray, threshold: float = 1.0, marks: Sequence[tuple[int, str]] = ()
) -> Figure:
    """Normalised score over the test rows with labelled spans shaded.

    Parameters
    ----------
    score : (T,) normalised score, NaN where no window was complete
    labels : (T,) 0/1 ground truth
    threshold : drawn as a dashed line; points above it are marked
    marks : (row, text) annotations, e.g. incident numbers at their peaks
    """
    s = np.asarray(score, np.float64)
    rows = np.arange(len(s))
    finite = s[np.isfinite(s)]
    log = bool(finite.size) and finite.max() > LOG_RATIO * max(float(np.median(finite)), SCORE_FLOOR)
    shown = np.maximum(s, SCORE_FLOOR) if log else s
    fig = _figure(12, 3.8)
    ax = fig.add_subplot()
    for a, b in segments(labels):
        ax.axvspan(a - 0.5, b - 0.5, color=COLORS["label"], alpha=0.35, lw=0.8)  # lw: 1-row spans stay visible
    ax.plot(rows, shown, color=COLORS["score"], lw=0.6, label="score")
    above = np.isfinite(s) & (s > threshold)
    ax.scatter(rows[above], shown[above], s=4, color=COLORS["flag"], zorder=3, label=f"score > {threshold:g}")
    ax.axhline(threshold, color=COLORS["flag"], ls="--", lw=1, label=f"threshold ({threshold:g})")
    level, last = 0, -np.inf
    for row, text in sorted(marks):
        level = level + 1 if row - last < 0.02 * len(s) else 0  # stack labels of nearby peaks
        last = row
        ax.annotate(
            text,
            (row, shown[row]),
            xytext=(0, 6 + 11 * level),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            fontweight="bold",
            arrowprops={"arrowstyle": "-", "lw": 0.5} if level else None,
        )
    if log:
        ax.set_yscale("log")
    ax.fill_between([], [], color=COLORS["label"], alpha=0.35, label="labelled anomaly")  # legend entry only
    ax.set_xlim(0, max(len(s) - 1, 1))
    ax.set_xlabel("test row (minutes)")
    ax.set_ylabel("normalised score" + (" (log)" if log else ""))
    ax.legend(loc="upper left", fontsize=8, ncols=4)
    ax.grid(alpha=0.3)
    return fig


def contribution_bars(
    names: Sequence[str], shares: Sequence[float], truth: Iterable[str] = (), title: str = ""
) -> Figure:
    """Horizontal bars of feature shares, largest on top; ground-truth features coloured."""
    truth = set(truth)
    fig = _figure(6, 0.32 * len(names) + 0.9)
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    colors = [COLORS["hit"] if n in truth else COLORS["bar"] for n in names]
    ax.barh(y, shares, color=colors)
    ax.set_yticks(y, [f"{n} ✓" if n in truth else n for n in names], fontsize=8)
    ax.set_xlabel("share of the window error (mean over the incident)")
    ax.set_xlim(0, max(max(shares, default=0.0) * 1.15, 0.05))
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return fig


def pr_curves(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray, float, tuple[float, float] | None]], base_rate: float
) -> Figure:
    """Precision-recall curves.

    Parameters
    ----------
    curves : (name, recall (K,), precision (K,), auc_pr, operating point (recall, precision) or None)
    base_rate : share of anomalous rows, the precision of a random score
    """
    fig = _figure(7, 5)
    ax = fig.add_subplot()
    for i, (name, recall, precision, auc, point) in enumerate(curves):
        color = f"C{i}"
        ax.plot(
            np.r_[0.0, recall],
            np.r_[precision[0] if len(precision) else 1.0, precision],
            drawstyle="steps-post",
            lw=1.4 if i == 0 else 1.0,
            color=color,
            label=f"{name} (AUC-PR {auc:.3f})",
        )
        if point is not None:
            ax.plot(*point, "o", color=color, ms=6, mec="black", mew=0.6)
    ax.axhline(base_rate, color="grey", ls=":", lw=1, label=f"random ({base_rate:.3f})")
    ax.plot([], [], "o", color="white", mec="black", label="at the shipped threshold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def delay_cdf(curves: Sequence[tuple[str, Sequence[float | None]]], within_minutes: float = 5.0) -> Figure:
    """Share of events detected within x minutes, per model (missed events keep a curve below 1)."""
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    top = max([d for _, ds in curves for d in ds if d is not None] + [within_minutes * 2.0])
    for i, (name, delays) in enumerate(curves):
        got = np.sort([d for d in delays if d is not None])
        if not len(delays):
            continue
        x = np.r_[0.0, got, top * 1.05]
        y = np.r_[0.0, np.arange(1, len(got) + 1), len(got)] / len(delays)
        ax.step(
            x,
            y,
            where="post",
            lw=1.6 if i == 0 else 1.0,
            color=f"C{i}",
            label=f"{name} ({len(got)}/{len(delays)} detected)",
        )
    ax.axvline(within_minutes, color="grey", ls=":", lw=1, label=f"{within_minutes:g} min")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("delay from the event's start to its first flagged row (minutes, symlog)")
    ax.set_ylabel("share of labelled events detected")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def tuning_plot(trials: Sequence[dict[str, Any]], direction: str, objective: str) -> Figure:
    """Objective value per trial and the best so far."""
    fig = _figure(7, 3.5)
    ax = fig.add_subplot()
    done = [(t["number"], t["value"]) for t in trials if isinstance(t.get("value"), (int, float))]
    if done:
        n, v = map(np.asarray, zip(*done))
        best = np.maximum.accumulate(v) if direction == "maximize" else np.minimum.accumulate(v)
        ax.plot(n, v, "o", ms=4, color="C0", label="trial")
        ax.step(n, best, where="post", color="C3", lw=1.4, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def matplotlib_version() -> str:
    import matplotlib

    return str(matplotlib.__version__)


def png_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (self-contained HTML)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def text_pages(pdf: PdfPages, text: str, lines_per_page: int = 64, width: int = 180) -> None:
    """Append ``text`` to ``pdf`` as monospace A4-landscape pages, long lines wrapped at ``width``."""
    lines = [
        part
        for line in (text.splitlines() or [""])
        for part in (textwrap.wrap(line, width, subsequent_indent=" " * 20, drop_whitespace=False) or [""])
    ]
    for i in range(0, len(lines), lines_per_page):
        fig = _figure(11.69, 8.27)
        fig.set_layout_engine("none")
        fig.text(0.03, 0.97, "\n".join(lines[i : i + lines_per_page]), family="monospace", fontsize=7, va="top")
        pdf.savefig(fig)


# -- tables and documents ----------------------------------------------------------------------------------------


@dataclass
class Section:
    """One part of the report: HTML fragments and figures in order, plus a plain-text form for the PDF."""

    key: str  # HTML anchor
    title: str
    blocks: list[str | Figure]  # str: trusted HTML fragment (escape data with esc()); Figure: a plot
    text: str = ""  # tables/cards as monospace text for the PDF's text pages


def esc(x: Any) -> str:
    return html.escape(str(x))


def fmt(v: Any, digits: int = 3) -> str:
    """Numbers for people: NaN/None as n/a, floats to ``digits`` places (or significant digits), dicts as k=v."""
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if v == 0:
            return "0"
        a = abs(float(v))
        return f"{v:.{digits}g}" if a >= 1e4 or a < 1e-2 else f"{v:.{digits}f}".rstrip("0").rstrip(".")
    if isinstance(v, dict):
        return ", ".join(
            f"{k}={fmt(x)}" if not isinstance(x, dict) else f"{k}=({fmt(x)})" for k, x in v.items() if x is not None
        )
    return str(v)


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d3557;max-width:1240px;margin:1.5em auto;
padding:0 1em}h1{font-size:1.5em}h2{border-bottom:2px solid #a8dadc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin:1.4em 0 .3em}img{max-width:100%;height:auto;display:block;margin:.4em 0}
table{border-collapse:collapse;font-size:12.5px;margin:.6em 0}th,td{border:1px solid #d0d7de;padding:3px 7px;
text-align:left;vertical-align:top}thead th{background:#f1faee}table.metrics td:not(:first-child){text-align:right;
font-variant-numeric:tabular-nums}table.card th{background:#f1faee;white-space:nowrap}
table.card td{word-break:break-all}
nav a{margin-right:1em}code{background:#f1f3f5;padding:0 3px}footer{margin-top:3em;color:#6c757d;font-size:12px}
"""


def write_report(
    sections: Sequence[Section],
    title: str,
    header: Sequence[tuple[str, str]],
    html_path: Path,
    pdf_path: Path | None = None,
) -> None:
    """Write the self-contained HTML page and, when asked, the PDF (figure pages, then text pages)."""
    from matplotlib.figure import Figure

    parts = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>\n<h1>{esc(title)}</h1>",
        '<table class="card">'
        + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in header)
        + "</table>",
        "<nav>" + "".join(f'<a href="#{s.key}">{esc(s.title)}</a>' for s in sections) + "</nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{s.key}"><h2>{esc(s.title)}</h2>')
        parts += [
            f'<img alt="{esc(s.title)}" src="{png_data_uri(b)}">' if isinstance(b, Figure) else b for b in s.blocks
        ]
        parts.append("</section>")
    parts.append("<footer>anomaly-train report: one file, no external assets.</footer></body></html>\n")
    Path(html_path).parent.mkdir(parents=True, exist_ok=True)
    Path(html_path).write_text("\n".join(parts), encoding="utf-8")
    if pdf_path is None:
        return
    from matplotlib.backends.backend_pdf import PdfPages

    Path(pdf_path).parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(pdf_path, metadata={"Title": title, "Creator": "anomaly-train report"}) as pdf:
        text_pages(pdf, title + "\n\n" + "\n".join(f"{k:<20}{v}" for k, v in header))
        for s in sections:
            for b in s.blocks:
                if isinstance(b, Figure):
                    b.suptitle(s.title, fontsize=10)
                    pdf.savefig(b)
        text_pages(pdf, "\n\n\n".join(s.text for s in sections if s.text))
