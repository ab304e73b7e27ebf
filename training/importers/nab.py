"""``anomaly-train import nab``: one Numenta Anomaly Benchmark series with its label windows -> train, test, labels."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from agent.history.writer import format_row
from training.importers.core import (
    ImporterError,
    ImportResult,
    fill_columns,
    grid_doc,
    parse_time,
    write_sidecar,
    write_split,
)
from training.importers.csv import read_csv_columns

log = logging.getLogger(__name__)


def nab_probation(n_rows: int, percent: float = 0.15) -> int:
    """NAB's probationary period: min(floor(percent * rows), percent * 5000) rows."""
    return int(min(math.floor(percent * n_rows), percent * 5000))


def label_windows(t: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    """(T,) int8: 1 where a timestamp falls in any [start, end] window (inclusive)."""
    y = np.zeros(len(t), dtype=np.int8)
    for a, b in windows:
        y[(t >= a) & (t <= b)] = 1
    return y


def interpretation_lines(labels: np.ndarray, dims: str = "1") -> str:
    """SMD interpretation text ``a-b:dims`` for each run of 1s (0-indexed rows a..b-1)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], labels.astype(np.int8), [0]])))
    return "".join(f"{a}-{b}:{dims}\n" for a, b in zip(edges[::2], edges[1::2]))


def import_nab(
    root: Path, file: str, labels: Path, out: Path, machine: str | None = None, probation_percent: float = 0.15
) -> ImportResult:
    """One NAB series -> train (probationary period), test, test_label, interpretation_label."""
    machine = machine or Path(file).stem
    t, x, names = read_csv_columns(Path(root) / "data" / file, "timestamp")
    key = Path(file).as_posix()
    try:
        spans = json.loads(Path(labels).read_text(encoding="utf-8"))[key]
    except KeyError:
        raise ImporterError(f"{labels}: no windows for {key!r}") from None
    windows = [(parse_time(a), parse_time(b)) for a, b in spans]
    y = label_windows(t, windows)
    p = nab_probation(len(t), probation_percent)
    if p < 1 or p >= len(t):
        raise ImporterError(f"{file}: {len(t)} rows leave no train or no test part (probation {p} rows)")
    if y[:p].any():
        log.warning("%s: %d labelled row(s) fall in the probationary (train) part", file, int(y[:p].sum()))
    filled, counts, empty = fill_columns(x)
    if empty:
        raise ImporterError(f"{file}: column(s) {', '.join(names[j] for j in empty)} hold no number at all")
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    cells = {names[j]: c for j, c in counts.items()}
    doc = {
        "source": {"kind": "nab", "file": key, "labels": str(labels), "probation_percent": probation_percent},
        "features": list(names),
        "units": [""] * len(names),
        "timestamps": {**grid_doc(float(t[0]), step, p), "regular": bool(np.allclose(np.diff(t[:p]), step))},
        "test_timestamps": {"start": float(t[p]), "count": len(t) - p},
        "splits": {
            "train_rows": p,
            "test_rows": len(t) - p,
            "anomalous_test_rows": int(y[p:].sum()),
            "labelled_train_rows": int(y[:p].sum()),
        },
        "filled_cells": cells,
    }
    rows = [format_row(r) for r in filled]
    files = (
        write_split(out, "train", machine, "".join(rows[:p])),
        write_split(out, "test", machine, "".join(rows[p:])),
        write_split(out, "test_label", machine, "".join(f"{v}\n" for v in y[p:])),
        write_split(out, "interpretation_label", machine, interpretation_lines(y[p:])),
        write_sidecar(out, machine, doc),
    )
    return ImportResult(files, len(t), (), cells)
