"""``summary.md``: one markdown table built from every ``<name>.json`` in the results directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import BENCHMARKS
from bench.common import fmt

COLUMNS = ("benchmark", "metric", "value", "unit", "reference", "ratio", "target", "met")


def load_results(out: Path) -> list[dict[str, Any]]:
    """Result documents in :data:`BENCHMARKS` order (unreadable or foreign files are skipped)."""
    docs = []
    for name in BENCHMARKS:
        path = out / f"{name}.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("summary"), list):
            docs.append(doc)
    return docs


def summary_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for doc in docs:
        for r in doc["summary"]:
            rows.append({"benchmark": doc["benchmark"] + (" (quick)" if doc.get("quick") else ""), **r})
    return rows


def render(docs: list[dict[str, Any]]) -> str:
    rows = summary_rows(docs)
    out = ["# Benchmark summary", ""]
    if docs:
        m = docs[0]["machine"]
        dates = sorted(d["date"] for d in docs)
        out += [
            f"Measured {dates[0][:10]}"
            + (f" .. {dates[-1][:10]}" if dates[-1][:10] != dates[0][:10] else "")
            + f" on {m['cpu']} ({m['cores']} cores), Linux {m['kernel']}, Python {m['python']}, "
            f"numpy {m['numpy']}, ai-edge-litert {m['ai_edge_litert']}.",
            f"Default model: {docs[0].get('default_bundle', '?')}.",
            "",
        ]
    out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        met = r.get("met")
        cells = [fmt(r.get(c)) if c != "met" else ("" if met is None else "yes" if met else "**no**") for c in COLUMNS]
        out.append("| " + " | ".join(cells) + " |")
    notes = [(d["benchmark"], n) for d in docs for n in d.get("notes", [])]
    if notes:
        out += ["", "Notes:", ""] + [f"- {b}: {n}" for b, n in notes]
    out += [
        "",
        "Details per benchmark: `bench/results/<name>.json`; method: `docs/benchmarks.md`. "
        "`reference` is measured in the same run; `ratio` = value / reference.",
        "",
    ]
    return "\n".join(out)


def write_summary(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.md"
    path.write_text(render(load_results(out)))
    return path
