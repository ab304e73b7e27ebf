"""Figures of ``anomaly-train report``: matplotlib plots, and a figure as a PNG data URI or text as PDF pages.

Every figure function is pure (arrays in, a new ``Figure`` out) and draws on
the Agg canvas through :class:`matplotlib.figure.Figure` directly, never
``pyplot``: no global figure registry, no display, nothing to close by name.
Matplotlib is imported on first use so ``anomaly-train --help`` stays fast.
Sections, tables and the HTML/PDF writers: :mod:`training.report_writer`.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Iterable, Sequence
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
