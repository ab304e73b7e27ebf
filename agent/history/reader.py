"""Read back the history the agent recorded (:mod:`agent.history.writer`), in a bundle's feature order.

Every ``history-*`` file set of a directory (``.txt``/``.ts``/``.json``, each
possibly gzipped, e.g. by an archiving job) is read, its columns picked by
feature name, and the sets concatenated in time order.  Empty cells (a
source the agent could not read) are NaN, as the live agent saw them; only
newline-terminated lines count (a crash may tear the last one).  Used by
``anomaly-agent backtest``; the agent never imports ``training``, whose
``training.history`` turns the same files into training segments.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from agent.history.files import PREFIX, STEM, stem_key
from agent.history.smd import SMDFormatError, resolve

log = logging.getLogger(__name__)

_BREAK = re.compile(r"\r?\n")
_SIDECAR = re.compile(re.escape(PREFIX) + r".*\.json(\.gz)?")


@dataclass(frozen=True)
class RecordedRows:
    """``values`` (T, F) raw in the requested feature order (NaN = not read), ``timestamps`` (T,) unix s."""

    values: np.ndarray
    timestamps: np.ndarray
    interval: float | None  # the sidecar's sampling interval (newest set), if recorded
    files: tuple[str, ...]  # file-set stems used, oldest first
    skipped: tuple[str, ...]  # "stem: reason" for sets left out


def _read(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SMDFormatError(f"{path}: not readable as UTF-8 text: {exc}") from None


def _lines(text: str) -> list[str]:
    """Newline-terminated lines only: the piece after the last newline is "" or a torn row."""
    return _BREAK.split(text)[:-1]


def parse_rows(text: str, n_cells: int, source: str) -> np.ndarray:
    """History ``.txt`` text -> (T, n_cells) float64, empty cells NaN; errors name ``source:line``."""
    lines = _lines(text)
    if lines:
        try:  # the common file without empty cells: numpy's C parser (an empty cell raises ValueError)
            x = np.loadtxt(lines, delimiter=",", comments=None, ndmin=2)  # no joined copy of the text
            if x.shape == (len(lines), n_cells):
                return x
        except ValueError:
            pass  # the checking parser below names the line
    out = np.empty((len(lines), n_cells), dtype=np.float64)
    for i, line in enumerate(lines):
        cells = line.split(",")
        if len(cells) != n_cells:
            raise SMDFormatError(
                f"{source}:{i + 1}: expected {n_cells} cells (the sidecar's features), found {len(cells)}"
            )
        try:
            out[i] = [float(c) if c.strip() else np.nan for c in cells]
        except ValueError:
            raise SMDFormatError(f"{source}:{i + 1}: non-numeric cell in {line[:80]!r}") from None
    return out


def parse_timestamps(text: str, source: str) -> np.ndarray:
    """History ``.ts`` text -> (T,) float64 unix seconds."""
    out = []
    for i, line in enumerate(_lines(text)):
        try:
            out.append(float(line))
        except ValueError:
            raise SMDFormatError(f"{source}:{i + 1}: not a timestamp: {line[:40]!r}") from None
    ts = np.asarray(out, dtype=np.float64)
    if not np.isfinite(ts).all():
        raise SMDFormatError(f"{source}: non-finite timestamp")
    return ts


def _stems(directory: Path) -> list[str]:
    names = {p.name.split(".json")[0] for p in directory.iterdir() if _SIDECAR.fullmatch(p.name)}
    return sorted(names, key=stem_key)


def _sidecar_features(path: Path) -> tuple[tuple[str, ...], float | None]:
    try:
        meta = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise SMDFormatError(f"{path}: not a JSON sidecar: {exc}") from None
    features = meta.get("features") if isinstance(meta, dict) else None
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise SMDFormatError(f"{path}: sidecar has no feature list")
    interval = meta.get("interval_seconds")
    return tuple(features), float(interval) if isinstance(interval, (int, float)) and interval > 0 else None


def _stem_time(stem: str) -> float:
    """Unix time of a file set's first row, from its name (``history-<UTC stamp>[-N]``); inf if unnamed."""
    m = STEM.fullmatch(stem)
    if not m:
        return float("inf")
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def load_recorded(directory: Path, features: tuple[str, ...], since: float | None = None) -> RecordedRows:
    """Every file set under ``directory`` that recorded all of ``features``, in time order.

    Sets lacking one of ``features`` are skipped (listed in ``skipped``), and
    with ``since`` (unix s) the sets that end before it, judged from the next
    set's name without reading them (rows before ``since`` may remain).
    Raises FileNotFoundError when the directory or its file sets are missing,
    SMDFormatError for a bad row, timestamp or sidecar, or when no set has
    the features.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: history directory not found")
    stems = _stems(directory)
    if not stems:
        raise FileNotFoundError(f"{directory}: no {PREFIX}*.json file sets (not an agent history directory?)")
    if since is not None:  # a set's rows all precede the next set's first row (its name)
        stems = [s for s, nxt in zip(stems, stems[1:] + [None]) if nxt is None or _stem_time(nxt) > since]
    values, stamps, used, skipped = [], [], [], []
    interval: float | None = None
    for stem in stems:
        base = directory / stem
        names, set_interval = _sidecar_features(resolve(base.with_name(stem + ".json")))
        missing = [f for f in features if f not in names]
        if missing:
            skipped.append(
                f"{stem}: lacks {len(missing)} of the bundle's features ({', '.join(missing[:5])}"
                f"{', ...' if len(missing) > 5 else ''})"
            )
            continue
        txt, ts = resolve(base.with_name(stem + ".txt")), resolve(base.with_name(stem + ".ts"))
        rows = parse_rows(_read(txt), len(names), str(txt))
        t = parse_timestamps(_read(ts), str(ts))
        n = min(len(rows), len(t))  # a crash between the two appends leaves one extra line in one file
        if n:
            cols = [names.index(f) for f in features]
            values.append(rows[:n][:, cols])
            stamps.append(t[:n])
            used.append(stem)
            interval = set_interval or interval
    for s in skipped:
        log.warning("history file set skipped: %s", s)
    if not used:
        raise SMDFormatError(
            f"{directory}: no recorded rows with the bundle's features"
            + (f" ({'; '.join(skipped[:3])})" if skipped else "")
        )
    v, t = np.concatenate(values), np.concatenate(stamps)
    del values  # the per-set arrays: a second copy of every row
    if np.all(t[1:] >= t[:-1]):  # the usual case: no third copy for a reorder
        return RecordedRows(v, t, interval, tuple(used), tuple(skipped))
    order = np.argsort(t, kind="stable")
    return RecordedRows(v[order], t[order], interval, tuple(used), tuple(skipped))
