"""The host's own history: raw rows in SMD format, rotated and bounded on disk.

Each file set is named ``history-<UTC stamp>`` (``20240501T120000Z``, a ``-N``
suffix if that name is taken) and holds three files:

- ``.txt``  one SMD row per sample: comma-separated raw (unscaled) values in the
  feature order of the sidecar, shortest round-trip ``repr`` (integers without
  ``.0``); NaN/Inf (an unreadable source) is an **empty cell**;
- ``.ts``   the unix timestamp of each row, one per line (``%.3f``), appended
  with the row, so no JSON is rewritten per sample;
- ``.json`` the sidecar (features, units, interval, hostname, first/last
  timestamp, rows), written atomically when the file set opens and again when
  it is closed (rotation, feature change, ``close()``).

Only lines ending in ``\\n`` count; ``training.history`` pairs rows and
timestamps up to the shorter of the two, so a crash mid-row loses that row only.
Rows are appended and flushed (no fsync per row); rotation fsyncs.  Total size
of all history files stays within ``max_bytes``: a file set rotates after
``rows_per_file`` rows or ``max_bytes // 2`` bytes, and the oldest sets are
deleted before a row would overflow the budget.  An ``OSError`` (full or
read-only disk) never leaves :meth:`HistoryWriter.append`: it returns False,
counts ``errors``, logs once per failure streak, abandons the file set (it may
end in a torn line) and the next append opens a fresh one.  Not thread-safe:
call it from the sampling job only.  Format reference: ``docs/history.md``;
names, row text and sidecar: :mod:`agent.history.files`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.collect.features import CATALOG
from agent.history.files import (
    FORMAT,
    PREFIX,
    SUFFIXES,
    VERSION,
    FileSet,
    format_cell,
    format_row,
    sidecar,
    stem_key,
    write_json_atomic,
)

__all__ = [
    "FORMAT",
    "PREFIX",
    "SUFFIXES",
    "VERSION",
    "HistoryWriter",
    "format_cell",
    "format_row",
    "stem_key",
    "write_json_atomic",
]

log = logging.getLogger(__name__)


class HistoryWriter:
    """Append raw rows to rotated SMD-format files under ``directory`` (see the module docstring).

    ``units`` defaults to the catalog unit of each feature ("" when unknown);
    ``interval`` (seconds between samples) and ``hostname`` go into the sidecar.
    """

    def __init__(
        self,
        directory: Path,
        features: tuple[str, ...],
        units: tuple[str, ...] | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        rows_per_file: int = 10080,
        clock: Callable[[], float] = time.time,
        *,
        interval: float = 60.0,
        hostname: str | None = None,
    ) -> None:
        if max_bytes <= 0 or rows_per_file <= 0:
            raise ValueError(f"max_bytes ({max_bytes}) and rows_per_file ({rows_per_file}) must be > 0")
        self.directory = Path(directory)
        self.max_bytes, self.rows_per_file, self.clock = int(max_bytes), int(rows_per_file), clock
        self.interval = float(interval)
        self.hostname = hostname or socket.gethostname()
        self.errors = 0  # appends that failed with an OSError
        self.rows_written = 0
        self._cur: FileSet | None = None
        self._closed: list[FileSet] | None = None  # oldest first; None until the directory is scanned
        self._failing = 0  # failed appends in the current streak
        self.features: tuple[str, ...] = ()
        self.units: tuple[str, ...] = ()
        self.set_features(features, units)

    # -- public ---------------------------------------------------------------------------------
    def set_features(self, features: tuple[str, ...], units: tuple[str, ...] | None = None) -> None:
        """Switch the schema (a new bundle); a different one closes the current file set."""
        features = tuple(features)
        units = tuple(units) if units is not None else tuple(CATALOG[f].unit if f in CATALOG else "" for f in features)
        if not features or len(units) != len(features):
            raise ValueError(f"need >= 1 feature and one unit per feature, got {len(features)} and {len(units)}")
        if (features, units) != (self.features, self.units):
            self.close()
            self.features, self.units = features, units

    def append(self, values: np.ndarray, timestamp: float | None = None) -> bool:
        """Write one row (F,) of raw values; False (and ``errors`` + 1) if the disk refused it."""
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        if row.shape != (len(self.features),):
            raise ValueError(f"history row has {row.size} values, the schema has {len(self.features)} features")
        ts = float(self.clock() if timestamp is None else timestamp)
        line, ts_line = format_row(row), f"{ts:.3f}\n"
        need = len(line) + len(ts_line)
        try:
            cur = self._cur
            if cur is not None and (
                cur.rows >= self.rows_per_file or (cur.rows and cur.size + need > self.max_bytes // 2)
            ):
                self._rotate()
            if self._cur is None:
                self._open(ts)
            cur = self._cur
            assert cur is not None and cur.txt is not None and cur.ts is not None
            self._make_room(need)
            cur.txt.write(line)
            cur.txt.flush()
            cur.ts.write(ts_line)
            cur.ts.flush()
        except (OSError, ValueError, OverflowError) as exc:  # ValueError/OverflowError: a clock beyond year 9999
            self._fail(exc)
            return False
        cur.rows += 1
        cur.size += need
        cur.last_ts = ts
        self.rows_written += 1
        if self._failing:
            log.info("history recording recovered after %d failed row(s)", self._failing)
            self._failing = 0
        return True

    def close(self) -> None:
        """Finish the current file set (fsync, final sidecar); the next append opens a new one."""
        if self._cur is not None:
            try:
                self._rotate()
            except OSError as exc:
                self._fail(exc)

    def disk_usage(self) -> int:
        """Bytes of history files this writer accounts for (closed sets + the current one)."""
        closed = sum(s.size for s in self._closed or [])
        return closed + (self._cur.size if self._cur else 0)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------
    def _sidecar(self, fs: FileSet, complete: bool) -> dict[str, Any]:
        return sidecar(
            fs,
            hostname=self.hostname,
            features=self.features,
            units=self.units,
            interval=self.interval,
            complete=complete,
        )

    def _scan(self) -> list[FileSet]:
        """File sets already on disk (earlier runs), oldest first; stale temp files are removed."""
        stems: set[str] = set()
        for p in self.directory.glob(PREFIX + "*"):
            if p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)
            elif p.suffix in SUFFIXES:
                stems.add(p.name[: -len(p.suffix)])
        sets = [FileSet(self.directory / s) for s in sorted(stems, key=stem_key)]
        for s in sets:
            s.size = s.measure()
        return sets

    def _open(self, ts: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._closed is None:
            self._closed = self._scan()
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%SZ")
        taken = {s.stem.name for s in self._closed}
        name, n = f"{PREFIX}{stamp}", 0
        while name in taken or any((self.directory / (name + s)).exists() for s in SUFFIXES):
            n += 1
            name = f"{PREFIX}{stamp}-{n}"
        fs = FileSet(self.directory / name, first_ts=ts)
        self._cur = fs  # registered first so a failure below is cleaned up by _fail
        fs.txt = open(fs.path(".txt"), "x", encoding="ascii", newline="\n")
        fs.ts = open(fs.path(".ts"), "x", encoding="ascii", newline="\n")
        fs.json_size = write_json_atomic(fs.path(".json"), self._sidecar(fs, complete=False))
        fs.size = fs.json_size

    def _rotate(self) -> None:
        """Close the current set cleanly: fsync both streams, then the final sidecar."""
        fs = self._cur
        if fs is None:
            return
        for f in (fs.txt, fs.ts):
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
                f.close()
        fs.txt = fs.ts = None
        new_json = write_json_atomic(fs.path(".json"), self._sidecar(fs, complete=True))
        fs.size += new_json - fs.json_size
        fs.json_size = new_json
        self._cur = None
        assert self._closed is not None
        self._closed.append(fs)

    def _make_room(self, need: int) -> None:
        """Delete the oldest closed sets until the row fits in ``max_bytes``."""
        assert self._closed is not None
        while self._closed and self.disk_usage() + need > self.max_bytes:
            old = self._closed.pop(0)
            for s in SUFFIXES:
                try:
                    old.path(s).unlink(missing_ok=True)
                except OSError as exc:  # dropped from accounting anyway, or we would loop forever
                    log.warning("cannot delete old history file %s: %s", old.path(s), exc)
            log.debug(
                "deleted history file set %s (%d bytes) to stay within %d bytes",
                old.stem.name,
                old.size,
                self.max_bytes,
            )

    def _fail(self, exc: Exception) -> None:
        self.errors += 1
        self._failing += 1
        if self._failing == 1:
            log.warning(
                "history recording in %s failed, retrying with a new file on the next sample: %s", self.directory, exc
            )
        fs, self._cur = self._cur, None
        if fs is None:
            return
        for f in (fs.txt, fs.ts):
            try:
                if f is not None:
                    f.close()  # may raise again while flushing its buffer
            except OSError:
                pass
        fs.txt = fs.ts = None
        fs.size = fs.measure()
        if self._closed is not None and fs.size:
            self._closed.append(fs)  # a torn set still counts towards the bound until it ages out
        else:  # nothing was written (failed while opening): leave no empty files behind
            for s in SUFFIXES:
                try:
                    fs.path(s).unlink(missing_ok=True)
                except OSError:
                    pass
