"""The pooled alert-level frontier (``bench/frontier.py``'s JSON) as a figure, a table and a report section.

``anomaly-train evaluate --frontier FILE`` prints the table (and writes the
figure with ``--frontier-plot``); ``anomaly-train report --frontier FILE`` adds
the section to the HTML report; docs/detection.md shows the same figure.  Every
candidate's curve is the share of incidents of >= 5 samples alerted against
false alerts per host per day, pooled over the held-out hosts, swept by one
global threshold multiplier; the dot is the point the selection chose
(most incidents within the budget, no host above the ceiling).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.plots import _figure
from training.report_writer import Section, html_table, text_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from training.report_data import ReportData

HEADER = ("candidate", "m", "long alerted", "all alerted", "FA/host/day", "worst host", "median delay", "at m = 1")


def _f(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def ranking_rows(doc: dict[str, Any], rules: bool = False) -> list[tuple[str, ...]]:
    """One row per candidate, best first (``rules``: also the critical-rule variants)."""
    rows: list[tuple[str, ...]] = []
    for r in doc.get("ranking", []):
        if r["candidate"].endswith("+critical") and not rules:
            continue
        rows.append(
            (
                r["candidate"],
                _f(r["multiplier"]),
                _f(r["long_alerted"]),
                _f(r["all_alerted"]),
                _f(r["fa_per_host_day"]),
                _f(r["worst_host"], 2),
                _f(r["median_delay"]),
                f"{_f(r['at_1_long_alerted'])} @ {_f(r['at_1_fa'])}/day",
            )
        )
    return rows


def ranking_text(doc: dict[str, Any]) -> str:
    p = doc.get("protocol", {})
    head = (
        f"Alert-level frontier over {len(doc.get('hosts', {}))} held-out hosts, pooled; chosen at <= "
        f"{p.get('budget_fa_per_host_day')} false alerts/host/day, no host above {p.get('host_ceiling_fa_per_day')}"
    )
    return head + "\n" + text_table(HEADER, ranking_rows(doc))


def frontier_figure(doc: dict[str, Any]) -> Figure:
    fig = _figure(8.0, 5.0)
    ax = fig.add_subplot()
    budget = doc.get("protocol", {}).get("budget_fa_per_host_day", 0.2)
    for cand, r in doc.get("candidates", {}).items():
        if cand.endswith("+critical"):
            continue
        fr = r["frontier"]
        (line,) = ax.plot(fr["fa_per_host_day"], [s or 0 for s in fr["long_alerted_share"]], marker=".", label=cand)
        if r.get("chosen"):
            c = r["chosen"]
            ax.scatter([c["fa_per_host_day"]], [c["long_alerted_share"]], s=70, color=line.get_color(), zorder=3)
    ax.axvline(budget, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("symlog", linthresh=0.05)
    ax.set_xlim(0, 20)
    ax.set_xlabel("false alerts per host per day (pooled)")
    ax.set_ylabel("share of incidents >= 5 samples alerted")
    ax.set_title("Alert-level frontier over held-out hosts (one global threshold multiplier)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return fig


def save_figure(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frontier_figure(doc).savefig(path, dpi=110)
    return path


def section_frontier(d: ReportData) -> Section | None:
    doc = d.frontier
    if not doc:
        return None  # no --frontier: no section
    note = (
        f"<p>{len(doc.get('hosts', {}))} held-out hosts ({', '.join(sorted(doc.get('hosts', {})))}), pooled; "
        "each curve sweeps one global threshold multiplier m; the dot is the chosen point. From "
        "<code>python -m bench.frontier</code>.</p>"
    )
    return Section(
        "frontier",
        "Alert-level frontier (candidates)",
        [note, html_table(HEADER, ranking_rows(doc)), frontier_figure(doc)],
        ranking_text(doc),
    )
