"""Load the history an agent recorded (``agent.history.writer``) and turn it into training segments.

:func:`load_history` reads every ``history-*`` file set of a directory,
concatenates them in time order and keeps NaN where the agent wrote an empty
cell.  :func:`to_training_array` then makes it trainable:

1. rows are placed on the sampling grid; a time gap of more than 1.5 intervals
   means ``round(gap / interval) - 1`` rows are missing;
2. a gap of more than ``max_gap_rows`` missing rows splits the series;
3. in each piece, a run of NaN cells in a column (missing rows included) of at
   most ``max_gap_rows`` that follows a value is forward-filled; longer runs,
   and runs at the start of a piece (e.g. the first sample after an agent
   restart has no rates), stay NaN;
4. rows that still hold NaN are dropped and split the piece again; pieces
   shorter than ``min_rows`` are dropped.

Each returned segment is a gap-free (T_i, F) array: window inside segments
only, never across them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.history.writer import PREFIX, stem_key

log = logging.getLogger(__name__)

_BREAK = re.compile(r"\r?\n")


@dataclass(frozen=True)
class HistoryData:
    """Recorded rows in time order: ``values`` (T, F) raw float64 (NaN = not read), ``timestamps`` (T,) unix s."""

    values: np.ndarray
    timestamps: np.ndarray
    features: tuple[str, ...]
    units: tuple[str, ...]
    interval: float
    files: tuple[str, ...]  # file-set stems used, oldest first
    skipped: tuple[str, ...]  # "stem: reason" for sets left out


def _complete_lines(text: str) -> list[str]:
    """Lines terminated by a newline; a torn last line (crash, full disk) is dropped."""
    lines = _BREAK.split(text)
    return lines[:-1]  # the piece after the last newline is "" or torn


def parse_rows(text: str, n_features: int, source: str = "<string>") -> np.ndarray:
    """History ``.txt`` text -> (T, F) float64; empty cells are NaN.

    Raises ValueError naming ``source:line`` for a wrong cell count or a non-numeric cell.
    """
    lines = _complete_lines(text)
    out = np.empty((len(lines), n_features), dtype=np.float64)
    for i, line in enumerate(lines):
        cells = line.split(",")
        if len(cells) != n_features:
            raise ValueError(f"{source}:{i + 1}: expected {n_features} cells, found {len(cells)}")
        try:
            out[i] = [float(c) if c else np.nan for c in cells]
        except ValueError:
            raise ValueError(f"{source}:{i + 1}: non-numeric cell in {line[:80]!r}") from None
    return out


def parse_timestamps(text: str, source: str = "<string>") -> np.ndarray:
    """History ``.ts`` text -> (T,) float64 unix seconds."""
    lines = _complete_lines(text)
    try:
        return np.array([float(x) for x in lines], dtype=np.float64)
    except ValueError:
        bad = next(i for i, x in enumerate(lines) if not _is_float(x))
        raise ValueError(f"{source}:{bad + 1}: not a timestamp: {lines[bad][:40]!r}") from None


def _is_float(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def _read_set(stem: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    meta = json.loads(stem.with_name(stem.name + ".json").read_text(encoding="utf-8"))
    features = meta.get("features")
    if not isinstance(features, list) or not features:
        raise ValueError("sidecar has no feature list")
    txt, ts = stem.with_name(stem.name + ".txt"), stem.with_name(stem.name + ".ts")
    rows = parse_rows(txt.read_text(encoding="ascii"), len(features), str(txt))
    stamps = parse_timestamps(ts.read_text(encoding="ascii"), str(ts))
    n = min(len(rows), len(stamps))  # a crash between the two appends leaves one extra in one file
    return meta, rows[:n], stamps[:n]


def load_history(directory: Path, features: Sequence[str] | None = None) -> HistoryData:
    """Concatenate every history file set under ``directory`` in time order.

    ``features``: the schema to load; default the newest set's.  Sets recorded
    with another schema, or unreadable ones, are skipped and listed in
    ``skipped``.  Raises FileNotFoundError when no set has rows.
    """
    directory = Path(directory)
    stems = sorted({p.name[: -len(p.suffix)] for p in directory.glob(PREFIX + "*.json")}, key=stem_key)
    loaded: list[tuple[str, dict, np.ndarray, np.ndarray]] = []
    skipped: list[str] = []
    for name in stems:
        try:
            meta, rows, stamps = _read_set(directory / name)
        except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            skipped.append(f"{name}: {exc}")
            continue
        if len(rows):
            loaded.append((name, meta, rows, stamps))
    if not loaded:
        raise FileNotFoundError(
            f"no recorded history rows under {directory}" + (f" (skipped: {'; '.join(skipped)})" if skipped else "")
        )
    want = tuple(features) if features is not None else tuple(loaded[-1][1]["features"])
    keep = []
    for item in loaded:
        if tuple(item[1]["features"]) == want:
            keep.append(item)
        else:
            skipped.append(f"{item[0]}: other features ({len(item[1]['features'])})")
    if not keep:
        raise ValueError(f"no history under {directory} was recorded with the requested features")
    for s in skipped:
        log.warning("history file set skipped: %s", s)
    values = np.concatenate([k[2] for k in keep])
    stamps = np.concatenate([k[3] for k in keep])
    order = np.argsort(stamps, kind="stable")
    meta = keep[-1][1]
    units = tuple(meta.get("units") or [""] * len(want))
    interval = float(meta.get("interval_seconds") or 0) or _median_step(stamps[order])
    return HistoryData(values[order], stamps[order], want, units, interval, tuple(k[0] for k in keep), tuple(skipped))


def _median_step(stamps: np.ndarray) -> float:
    d = np.diff(stamps)
    d = d[d > 0]
    return float(np.median(d)) if d.size else 60.0


def grid_positions(timestamps: np.ndarray, interval: float) -> np.ndarray:
    """(T,) sorted unix seconds -> (T,) int row index on the sampling grid.

    A step of at most 1.5 intervals is the next row; a longer one skips
    ``round(step / interval) - 1`` rows.
    """
    d = np.diff(np.asarray(timestamps, dtype=np.float64))
    steps = np.where(d > 1.5 * interval, np.rint(d / interval), 1).astype(np.int64)
    return np.concatenate([[0], np.cumsum(steps)])


def fill_short_runs(x: np.ndarray, max_run: int) -> np.ndarray:
    """Forward-fill NaN runs of at most ``max_run`` rows that follow a value, per column.

    Parameters
    ----------
    x : (T, F) with NaN
    max_run : longest run filled; longer runs and leading runs stay NaN

    Returns
    -------
    (T, F) copy
    """
    x = np.array(x, dtype=np.float64, copy=True)
    t = len(x)
    if t == 0:
        return x
    nan = np.isnan(x)
    idx = np.arange(t)[:, None]
    last = np.maximum.accumulate(np.where(nan, -1, idx), axis=0)  # last valid row at or before
    nxt = np.minimum.accumulate(np.where(nan, t, idx)[::-1], axis=0)[::-1]  # next valid at or after
    fill = nan & (last >= 0) & (nxt - last - 1 <= max_run)
    rows, cols = np.nonzero(fill)
    x[rows, cols] = x[last[rows, cols], cols]
    return x


def _split_on_nan_rows(x: np.ndarray, min_rows: int) -> list[np.ndarray]:
    good = ~np.isnan(x).any(axis=1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], good.astype(np.int8), [0]])))
    return [x[a:b] for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_rows]


def to_training_array(h: HistoryData, max_gap_rows: int = 5, min_rows: int = 1) -> list[np.ndarray]:
    """Gap-free training segments from recorded history (rules in the module docstring).

    Returns
    -------
    list of (T_i, F) float64 arrays without NaN, in time order
    """
    if max_gap_rows < 0 or min_rows < 1:
        raise ValueError(f"max_gap_rows must be >= 0 and min_rows >= 1, got {max_gap_rows}, {min_rows}")
    pos = grid_positions(h.timestamps, h.interval)
    breaks = np.flatnonzero(np.diff(pos) - 1 > max_gap_rows) + 1
    segments: list[np.ndarray] = []
    filled = 0
    for a, b in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(pos)]])):
        p = pos[a:b] - pos[a]
        grid = np.full((int(p[-1]) + 1, h.values.shape[1]), np.nan)
        grid[p] = h.values[a:b]
        done = fill_short_runs(grid, max_gap_rows)
        filled += int(np.isnan(grid).sum() - np.isnan(done).sum())
        segments.extend(_split_on_nan_rows(done, min_rows))
    kept = sum(len(s) for s in segments)
    log.info(
        "history: %d recorded rows -> %d segment(s), %d rows, %d cell(s) forward-filled, %d long gap(s)",
        len(h.values),
        len(segments),
        kept,
        filled,
        len(breaks),
    )
    return segments


def load_history_segments(
    directory: Path, max_gap_rows: int = 5, min_rows: int = 1, features: Sequence[str] | None = None
) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """``load_history`` + ``to_training_array``: (segments, feature names) for ``fit --history``."""
    h = load_history(directory, features)
    return to_training_array(h, max_gap_rows, min_rows), h.features
