"""The history file format: file-set names, the SMD row text, the sidecar and atomic JSON writes.

A file set ``history-<UTC stamp>[-N]`` is ``.txt`` (rows), ``.ts`` (one
timestamp per row) and ``.json`` (the sidecar); see :mod:`agent.history.writer`
and ``docs/history.md``.  ``training.history`` reads what this defines.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

PREFIX = "history-"
FORMAT = "host-anomaly-exporter/history"
VERSION = 1
SUFFIXES = (".txt", ".ts", ".json")
STEM = re.compile(r"history-(\d{8}T\d{6}Z)(?:-(\d+))?")


def format_cell(v: float) -> str:
    """One cell: shortest round-trip text, integers without ``.0``, non-finite as ``""``."""
    v = float(v)
    if not math.isfinite(v):
        return ""
    if v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def format_row(values: np.ndarray) -> str:
    """(F,) values -> one SMD line including the newline."""
    return ",".join(format_cell(v) for v in values) + "\n"


def stem_key(stem: str) -> tuple[str, int]:
    """Sort key of a file-set stem: chronological, then by the ``-N`` suffix."""
    m = STEM.fullmatch(stem)
    return (m.group(1), int(m.group(2) or 0)) if m else (stem, 0)


def write_json_atomic(path: Path, doc: dict[str, Any]) -> int:
    """Write ``doc`` to a temp file, fsync, rename over ``path``; returns the size in bytes."""
    data = (json.dumps(doc, indent=1) + "\n").encode()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return len(data)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported everywhere; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class FileSet:
    stem: Path  # directory / "history-<stamp>"
    size: int = 0
    first_ts: float | None = None
    rows: int = 0
    last_ts: float | None = None
    txt: IO[str] | None = field(default=None, repr=False)
    ts: IO[str] | None = field(default=None, repr=False)
    json_size: int = 0

    def path(self, suffix: str) -> Path:
        return self.stem.with_name(self.stem.name + suffix)

    def measure(self) -> int:
        total = 0
        for s in SUFFIXES:
            try:
                total += self.path(s).stat().st_size
            except OSError:
                pass
        return total


def sidecar(
    fs: FileSet, *, hostname: str, features: tuple[str, ...], units: tuple[str, ...], interval: float, complete: bool
) -> dict[str, Any]:
    """The ``.json`` document of file set ``fs``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "hostname": hostname,
        "features": list(features),
        "units": list(units),
        "interval_seconds": interval,
        "data_file": fs.path(".txt").name,
        "timestamps_file": fs.path(".ts").name,
        "missing_value": "empty cell",
        "first_timestamp": fs.first_ts,
        "last_timestamp": fs.last_ts,
        "rows": fs.rows,
        "complete": complete,
    }
