"""``anomaly-train import csv``: a timestamped CSV with named columns, resampled to a regular grid."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from agent.collect.features import CATALOG
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


def read_csv_columns(
    path: Path, time_column: str, columns: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A timestamped CSV with a header -> (t (N,) unix s sorted, values (N, F) NaN for empty, names)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if time_column not in header:
            raise ImporterError(f"{path}: no time column {time_column!r} (columns: {', '.join(header)})")
        names = tuple(columns) if columns else tuple(c for c in header if c != time_column)
        absent = [c for c in names if c not in header]
        if absent or not names:
            raise ImporterError(f"{path}: columns {absent or '(none)'} not found (columns: {', '.join(header)})")
        ts, rows = [], []
        for lineno, rec in enumerate(reader, start=2):
            try:
                ts.append(parse_time(rec[time_column] or ""))
            except ImporterError as exc:
                raise ImporterError(f"{path}:{lineno}: column {time_column!r}: {exc}") from None
            row = []
            for c in names:
                cell = (rec[c] or "").strip()
                try:
                    row.append(float(cell) if cell and cell.lower() not in ("nan", "na", "null") else math.nan)
                except ValueError:
                    raise ImporterError(f"{path}:{lineno}: column {c!r}: not a number: {cell!r}") from None
            rows.append(row)
    if not rows:
        raise ImporterError(f"{path}: no data rows")
    t, x = np.array(ts), np.array(rows, dtype=np.float64)
    x[~np.isfinite(x)] = math.nan  # SMD rows hold finite numbers only: Inf is a gap like NaN
    order = np.argsort(t, kind="stable")
    return t[order], x[order], names


def resample(t: np.ndarray, x: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean per bin [g, g + interval), bins aligned to multiples of ``interval``.

    Returns
    -------
    grid (T,) bin starts, values (T, F) with NaN for empty bins / all-NaN cells
    """
    g0 = math.floor(t[0] / interval) * interval
    k = np.floor((t - g0) / interval + 1e-9).astype(np.int64)
    n = int(k[-1]) + 1
    sums, counts = np.zeros((n, x.shape[1])), np.zeros((n, x.shape[1]))
    ok = ~np.isnan(x)
    np.add.at(sums, k, np.where(ok, x, 0.0))
    np.add.at(counts, k, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        return g0 + interval * np.arange(n), np.where(counts > 0, sums / counts, np.nan)


def empty_runs(grid: np.ndarray, x: np.ndarray) -> list[tuple[float, int]]:
    """(start time, rows) of each run of rows where every cell is NaN."""
    empty = np.isnan(x).all(axis=1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], empty, [0]])))
    return [(float(grid[a]), int(b - a)) for a, b in zip(edges[::2], edges[1::2])]


def import_csv(
    path: Path, time_column: str, out: Path, machine: str, interval: float = 60.0, columns: list[str] | None = None
) -> ImportResult:
    """Resample a timestamped CSV to ``interval`` and write it in the SMD layout."""
    t, x, names = read_csv_columns(path, time_column, columns)
    grid, v = resample(t, x, interval)
    gaps = empty_runs(grid, v)
    filled, counts, empty = fill_columns(v)
    if empty:
        raise ImporterError(f"{path}: column(s) {', '.join(names[j] for j in empty)} hold no number at all")
    cells = {names[j]: c for j, c in counts.items()}
    doc = {
        "source": {
            "kind": "csv",
            "input": str(path),
            "time_column": time_column,
            "rows_read": len(t),
            "aggregation": "mean per interval",
        },
        "features": list(names),
        "units": [CATALOG[n].unit if n in CATALOG else "" for n in names],
        "timestamps": grid_doc(float(grid[0]), interval, len(grid)),
        "gaps": [{"start": s, "rows": n} for s, n in gaps],
        "filled_cells": cells,
    }
    files = (
        write_split(out, "train", machine, "".join(format_row(r) for r in filled)),
        write_sidecar(out, machine, doc),
    )
    return ImportResult(files, len(filled), (), cells)
