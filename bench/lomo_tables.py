"""bench.lomo's figures as tables: per-host vs PCA, the live path, and per-host vs fleet on the test split.

Pure: dictionaries in (the shapes :mod:`bench.lomo` and :mod:`bench.lomo_live`
write to ``lomo.json``), summaries and text out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

FIGURES = (("bestF1", "best_f1.f1"), ("AUC-PR", "auc_pr"), ("HR@150", "hitrate@150"))

# The like-for-like comparison: each model through the same backtest, figures on the TEST split only.
MODELS = (("per-host", "per-host"), ("fleet", "fleet held-out"), ("shipped", "shipped"))
# (column, key in a live run, which end is worse)
COLUMNS = (
    ("FA/day", "test_part.false_alerts_per_day", "max"),
    ("alerted", "test_part.incident_recall", "min"),
    (">=5 al.", "test_part.long_incident_recall", "min"),
    ("delay", "test_part.median_delay_samples", "max"),
    ("AUC-PR", "test_pointwise.auc_pr", "min"),
    ("bestF1", "test_pointwise.best_f1.f1", "min"),
)
FORMATS = {"FA/day": "{:.2f}", "alerted": "{:.0%}", ">=5 al.": "{:.0%}", "delay": "{:.0f}"}


def get(d: Any, dotted: str) -> Any:
    """``d["a"]["b"]`` for ``"a.b"``; None where a level is missing."""
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def _c(v: Any, fmt: str = "{:.3f}") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt.format(v)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


# -- per host vs fleet vs shipped on the test split --------------------------------------------------
def comparison(live: dict[str, dict[str, Any]], hosts: Sequence[str]) -> dict[str, Any]:
    """``{"hosts": {host: {model: {column: value}}}, "mean": {model: {column: v}}, "worst": ...}``.

    Mean and worst over ``hosts`` of every column (NaN/None left out: a host
    with no alerted incident has no delay); "worst" names its host.
    """
    table = {
        h: {m: {col: get(live[h][m], key) for col, key, _ in COLUMNS} for m, _ in MODELS if m in live[h]} for h in hosts
    }
    mean: dict[str, dict[str, float | None]] = {}
    worst: dict[str, dict[str, dict[str, Any]]] = {}
    for m, _ in MODELS:
        if not any(m in runs for runs in table.values()):
            continue  # e.g. --no-shipped
        mean[m], worst[m] = {}, {}
        for col, _, bad in COLUMNS:
            vals = {h: table[h][m][col] for h in hosts if m in table[h] and _finite(table[h][m][col])}
            if not vals:
                mean[m][col], worst[m][col] = None, {"value": None, "host": None}
                continue
            pick = max if bad == "max" else min
            host = pick(vals, key=lambda k: vals[k])
            mean[m][col] = float(np.mean(list(vals.values())))
            worst[m][col] = {"value": vals[host], "host": host}
    return {"hosts": table, "mean": mean, "worst": worst}


def format_comparison(title: str, comp: dict[str, Any]) -> str:
    widths = (14, 16) + (9,) * len(COLUMNS)
    head = ("host", "model") + tuple(col for col, _, _ in COLUMNS)

    def line(cells: Sequence[str]) -> str:
        return "".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [title, line(head)]
    for host, runs in comp["hosts"].items():
        for m, label in MODELS:
            if m in runs:
                lines.append(
                    line([host, label] + [_c(runs[m][col], FORMATS.get(col, "{:.3f}")) for col, _, _ in COLUMNS])
                )
    for m, label in MODELS:
        if m in comp["mean"]:
            lines.append(
                line(["mean", label] + [_c(comp["mean"][m][col], FORMATS.get(col, "{:.3f}")) for col, _, _ in COLUMNS])
            )
    for m, label in MODELS:
        if m not in comp["worst"]:
            continue
        cells = [_c(comp["worst"][m][col]["value"], FORMATS.get(col, "{:.3f}")) for col, _, _ in COLUMNS]
        lines.append(line(["worst host", label] + cells))
    return "\n".join(lines)


def format_cost(cost: dict[str, dict[str, Any]]) -> str:
    head = ("model", "train s", "source", "bundles/round", "bundle bytes", "calib s")
    widths = (16, 9, 28, 26, 14, 9)
    lines = ["== cost beside quality", "".join(h.ljust(w) for h, w in zip(head, widths))]
    for m, label in MODELS:
        c = cost.get(m)
        if c:
            cells = (
                label,
                _c(c["train_seconds"], "{:.1f}"),
                c["train_seconds_source"],
                c["bundles_per_round"],
                _c(c["bundle_bytes"], "{:d}"),
                _c(c["calibration_seconds"], "{:.2f}"),
            )
            lines.append("".join(str(x).ljust(w) for x, w in zip(cells, widths)))
    return "\n".join(lines)


def per_host_summary(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean, std, min and max of each figure and of its margin over PCA, over the hosts of ``rows``."""
    out: dict[str, Any] = {}
    for label, key in FIGURES:
        d = np.array([get(r["default"], key) for r in rows.values()], np.float64)
        p = np.array([get(r["pca"], key) for r in rows.values()], np.float64)
        out[label] = {
            "default": _stats(d),
            "pca": _stats(p),
            "margin": _stats(d - p),
            "worst_host": list(rows)[int(np.nanargmin(d - p))] if len(d) else None,
        }
    return out


def _stats(a: np.ndarray) -> dict[str, float | None]:
    a = a[np.isfinite(a)]
    if not len(a):
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


# -- (a) and (b) as before -----------------------------------------------------------------------------
def format_per_host(rows: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    head = ["host"] + [f"{lab} {w}" for lab, _ in FIGURES for w in ("def", "PCA", "marg")]
    lines = [
        "== (a) per host: default fit vs PCA, same test rows",
        "".join([head[0].ljust(14)] + [h.rjust(12) for h in head[1:]]),
    ]
    for name, r in rows.items():
        cells = []
        for _, key in FIGURES:
            d, p = get(r["default"], key), get(r["pca"], key)
            cells += [_c(d), _c(p), _c(None if d is None or p is None else d - p, "{:+.3f}")]
        lines.append(name.ljust(14) + "".join(c.rjust(12) for c in cells))
    for stat in ("mean", "std", "min", "max"):
        cells = []
        for lab, _ in FIGURES:
            s = summary[lab]
            cells += [_c(s["default"][stat]), _c(s["pca"][stat]), _c(s["margin"][stat], "{:+.3f}")]
        lines.append(stat.ljust(14) + "".join(c.rjust(12) for c in cells))
    return "\n".join(lines)


def format_live(rows: dict[str, dict[str, Any]]) -> str:
    head = ("host", "bundle", "FA/day", "FA/d train", "FA/d test", "inc", "alerted", ">=5 al.", "delay", "s")
    widths = (14, 22, 8, 11, 10, 5, 9, 9, 7, 7)
    lines = [
        "== (b) live path: backtest after a warm-up, alerts = 5 scores > 1 in a row",
        "".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))),
    ]
    for name, runs in rows.items():
        for label, r in runs.items():
            a = r["all"]
            cells = (
                name,
                label,
                _c(a["false_alerts_per_day"], "{:.2f}"),
                _c(r["train_part"]["false_alerts_per_day"], "{:.2f}"),
                _c(r["test_part"]["false_alerts_per_day"], "{:.2f}"),
                str(a["incidents"]),
                _c(a["incident_recall"], "{:.0%}"),
                _c(a["long_incident_recall"], "{:.0%}"),
                _c(a["median_delay_samples"], "{:g}"),
                _c(r["seconds"], "{:.0f}"),
            )
            lines.append("".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    return "\n".join(lines)


def targets(per: dict[str, dict[str, Any]], lv: dict[str, dict[str, Any]], smd: Sequence[str]) -> list[str]:
    """Issue 13's targets, each as one PASS/FAIL line."""
    out = []
    for name in smd:
        r = per[name]
        f, ap, hr = ([get(r[m], k) for m in ("default", "pca")] for _, k in FIGURES)
        ok = f[0] >= f[1] + 0.05 and ap[0] >= ap[1] + 0.05 and (hr[0] or 0) >= (hr[1] or 0)
        out.append(
            f"{'PASS' if ok else 'FAIL'} {name}: best F1 {f[0]:.3f} vs PCA {f[1]:.3f}, AUC-PR {ap[0]:.3f} "
            f"vs {ap[1]:.3f} (need +0.05), HR@150 {_c(hr[0])} vs {_c(hr[1])}"
        )
    for name, runs in lv.items():
        a = runs["fleet"]["all"]
        ok = a["false_alerts_per_day"] <= 0.2 and (a["incident_recall"] or 0) >= 0.7
        out.append(
            f"{'PASS' if ok else 'FAIL'} {name} live: {a['false_alerts_per_day']:.2f} false alerts/day "
            f"(<= 0.2), {_c(a['incident_recall'], '{:.0%}')} incidents alerted (>= 70 %)"
        )
    return out
