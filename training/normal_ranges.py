"""``anomaly-train threshold --normal-ranges FILE``: raise a bundle's threshold past operator-marked false alarms.

An operator marks time ranges whose alerts were wrong (a CSV of ``start,end``,
each ISO 8601 -- naive means UTC -- or unix seconds; an optional header).  The
host's recorded history (``--history DIR``, the agent's files with
timestamps) goes through the live agent's own cycle (:func:`agent.runtime.backtest.backtest`:
calibration, seasonal profile, feature weights, as configured by
``--config.file``), and the threshold is multiplied by the smallest factor
that keeps the shipped alert rule (score > 1 for ``RULE_RUN`` samples) from
firing inside every range: the largest, over the ranges, of the smallest
score in any run of ``RULE_RUN`` consecutive samples, times a small margin.
Nothing changes when no range alerted.  The bundle records, under
``threshold.params.normal_ranges``, the factor, the previous threshold and
the ranges' sha256 digest (of the file's bytes); the model is unchanged.

The factor applies to the threshold the agent scored with.  For a bundle the
agent uses as it is (trained on the host with ``fit --history``, or
``calibration.enabled: false``) that is the bundle's ``threshold.value``;
for a bundle the host calibrates, the factor also raises
``threshold.anchor`` (z-score bundles: the host threshold never goes below
it) to the factor times the threshold the host calibration had at the end
of the history.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.calibrate.recipe import needs_calibration
from agent.config import Config, load_config
from agent.history.reader import load_recorded
from agent.model.bundle import BUNDLE_FILE, load_bundle
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.backtest import backtest
from agent.score.alerts import RULE_LEVEL, RULE_RUN

MARGIN = 1.01  # "just enough": 1 % above the largest score that completed a run inside a range


@dataclass(frozen=True)
class NormalRanges:
    ranges: tuple[tuple[float, float], ...]  # [start, end] unix seconds
    sha256: str  # of the file's bytes


def _when(cell: str, where: str) -> float:
    text = cell.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: {text!r} is neither ISO 8601 nor unix seconds") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def parse_ranges(data: bytes, source: str = "ranges") -> NormalRanges:
    """CSV ``start,end`` rows (blank lines and ``#`` comments skipped, a ``start,end`` header allowed)."""
    ranges = []
    for i, row in enumerate(csv.reader(io.StringIO(data.decode("utf-8"))), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if i == 1 and [c.strip().lower() for c in row[:2]] == ["start", "end"]:
            continue
        if len(row) < 2:
            raise ValueError(f"{source}:{i}: expected start,end")
        a, b = _when(row[0], f"{source}:{i}"), _when(row[1], f"{source}:{i}")
        if not (math.isfinite(a) and math.isfinite(b) and a < b):
            raise ValueError(f"{source}:{i}: start must be before end")
        ranges.append((a, b))
    if not ranges:
        raise ValueError(f"{source}: no ranges")
    return NormalRanges(tuple(ranges), hashlib.sha256(data).hexdigest())


def required_factor(
    score: np.ndarray, timestamps: np.ndarray, ranges: tuple[tuple[float, float], ...], run: int = RULE_RUN
) -> list[float]:
    """Per range: the factor on the threshold below which an alert completes inside it (0 when none can).

    An alert completes at a sample whose ``run`` latest scores all exceed
    the level; dividing the scores by a factor above the largest minimum of
    such a run inside the range silences it.
    """
    s = np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf)
    t = np.asarray(timestamps, np.float64)
    if len(s) < run:
        return [0.0 for _ in ranges]
    mins = np.lib.stride_tricks.sliding_window_view(s, run).min(axis=1)  # mins[i]: run ending at i + run - 1
    ends = t[run - 1 :]
    out = []
    for a, b in ranges:
        inside = mins[(ends >= a) & (ends <= b)]
        worst = float(inside.max()) if len(inside) else -np.inf
        out.append(max(worst / RULE_LEVEL, 0.0))
    return out


def raise_threshold(
    bundle: Path, history: Path, ranges_file: Path, out: Path, config: Path | None = None
) -> dict[str, Any]:
    """Write ``out`` (a copy of ``bundle``, or itself) with thresholds raised past the normal ranges."""
    data = ranges_file.read_bytes()
    nr = parse_ranges(data, str(ranges_file))
    cfg = load_config(config, check_files=False)
    cfg = replace(cfg, model=replace(cfg.model, bundle=str(bundle)))
    model = load_model(str(bundle))
    rec = load_recorded(history, model.bundle.features)
    with tempfile.TemporaryDirectory(prefix="normal-ranges-") as state:
        result, host_threshold = _scores(cfg, model, rec.values, rec.timestamps, Path(state))
    per_range = required_factor(result, rec.timestamps, nr.ranges)
    worst = max(per_range)
    factor = worst * MARGIN if worst > 1.0 else 1.0
    if out.resolve() != Path(bundle).resolve():
        shutil.copytree(bundle, out, dirs_exist_ok=True)
    doc = json.loads((out / BUNDLE_FILE).read_text())
    previous = dict(doc["threshold"])
    th = dict(previous)
    th["value"] = previous["value"] * factor
    calibrated = needs_calibration(model.bundle.meta) and cfg.calibration.enabled
    if calibrated and host_threshold is not None and factor > 1.0:
        th["anchor"] = max(float(previous.get("anchor") or 0.0), host_threshold * factor)
    # the method stays (bundle.json knows a fixed set); params.normal_ranges says what raised it
    th["params"] = {
        **(previous.get("params") or {}),
        "normal_ranges": {
            "sha256": nr.sha256,
            "file": str(ranges_file.resolve()),
            "ranges": len(nr.ranges),
            "history": str(Path(history).resolve()),
            "rows": int(len(rec.values)),
            "factor": factor,
            "per_range_factor": [round(f, 6) for f in per_range],
            "margin": MARGIN,
            "rule_run": RULE_RUN,
            "host_threshold": host_threshold,
            "previous": previous,
        },
    }
    doc["threshold"] = th
    tmp = out / (BUNDLE_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out / BUNDLE_FILE)
    load_bundle(out)  # verify what was written
    return th


def _scores(
    cfg: Config, model: LoadedModel, rows: np.ndarray, ts: np.ndarray, state: Path
) -> tuple[np.ndarray, float | None]:
    """The published scores over the history, and the host threshold at its end (None without calibration)."""
    res = backtest(cfg, model, rows, ts, state, record_history=cfg.seasonal.enabled)
    doc = state / "calibration.json"
    host = None
    if doc.is_file():
        cal = json.loads(doc.read_text()).get("calibration")
        host = float(cal["threshold"]) if isinstance(cal, dict) and "threshold" in cal else None
    return res.score, host
