"""The evaluation document on disk and on screen: JSON (NaN as null) and plain-text tables."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(x: Any) -> Any:
    """``x`` with numpy scalars as Python numbers and non-finite floats as None (strict JSON)."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


# (header, dotted key into one model's machine_metrics dict): the columns of the text tables and the report
COLUMNS = (
    ("bestF1", "best_f1.f1"),
    ("P", "best_f1.precision"),
    ("R", "best_f1.recall"),
    ("F1@thr", "at_threshold.f1"),
    ("P@thr", "at_threshold.precision"),
    ("R@thr", "at_threshold.recall"),
    ("FPR@thr", "at_threshold.fpr"),
    ("AUC-PR", "auc_pr"),
    ("VUS-PR", "vus_pr"),
    ("evF1", "event_f1.f1"),
    ("PA-F1*", "pa_f1_inflated.f1"),
    ("HR@100", "hitrate@100"),
    ("HR@150", "hitrate@150"),
    ("Det5m", "detection_delay.detected_within_5min"),
    ("FA/day", "alerts.false_alerts_per_day"),
    ("IncAl", "alerts.incident_recall"),
    ("Inc5Al", "alerts.long_incident_recall"),
    ("Delay", "alerts.median_delay_samples"),
)


def get(d: dict[str, Any], dotted: str) -> Any:
    """``d["a"]["b"]`` for ``"a.b"``; None when a level is missing."""
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None  # type: ignore[assignment]
    return d


def _cell(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def format_tables(doc: dict[str, Any]) -> str:
    """Plain-text tables: one per machine, then the mean over machines."""
    res = doc["results"]
    blocks = [(m, {name: res[name]["machines"][m] for name in res}) for m in doc["machines"]]
    blocks.append((f"mean over {len(doc['machines'])} machines", {name: res[name]["mean"] for name in res}))
    width = max(len(n) for n in res) + 2
    lines = []
    for title, rows in blocks:
        lines.append(f"== {title}")
        lines.append("model".ljust(width) + "".join(h.rjust(8) for h, _ in COLUMNS))
        for name, r in rows.items():
            cells = [get(r, key) for _, key in COLUMNS]
            lines.append(name.ljust(width) + "".join(_cell(v).rjust(8) for v in cells))
        lines.append("")
    lines.append(
        "PA-F1* is point-adjusted F1: inflated (a random score reaches high values), never a headline. "
        "Det5m: share of events flagged (at the shipped threshold) within 5 minutes of their start. "
        "Alert level (the shipped rule: 5 consecutive samples above the shipped threshold): FA/day false "
        "alerts per normal day, IncAl / Inc5Al share of incidents alerted (all / >= 5 samples), "
        "Delay median samples from incident start to alert."
    )
    return "\n".join(lines)


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n", encoding="utf-8")
