"""The document of ``anomaly-train report``: sections, numbers and tables for people, the HTML page and the PDF.

A report is a list of :class:`Section` (HTML fragments and figures, plus a
plain-text form); :func:`write_report` writes them as one self-contained HTML
file (inline CSS, PNGs as data URIs, no script, no external asset) and, when
asked, a PDF (the figures, then the text as monospace pages).  :func:`fmt`,
:func:`html_table` and :func:`text_table` are the cell and table formats the
sections share.  The figures themselves: :mod:`training.plots`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.plots import png_data_uri, text_pages

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
