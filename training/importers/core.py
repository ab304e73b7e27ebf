"""What every importer shares: errors, durations and times, gap filling, the SMD files and sidecar it writes."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ImporterError(ValueError):
    """The input cannot be imported; the message says which input and why."""


def parse_duration(text: str) -> float:
    """``"60s"``, ``"1m"``, ``"1h30m"``, ``"500ms"`` or a number of seconds -> seconds (> 0)."""
    s = str(text).strip()
    try:
        value = float(s)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdw])", s)
        if not parts or "".join(a + u for a, u in parts) != s:
            raise ImporterError(f"not a duration: {text!r} (e.g. 60s, 5m, 1h)") from None
        value = sum(float(a) * (0.001 if u == "ms" else _UNITS[u]) for a, u in parts)
    if not value > 0:
        raise ImporterError(f"duration must be > 0, got {text!r}")
    return value


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds, RFC 3339 / ISO 8601 (naive = UTC), ``now`` or ``now-6h`` -> unix seconds."""
    s = str(text).strip()
    if m := re.fullmatch(r"now(?:([+-])(.+))?", s):
        base = time.time() if now is None else now
        offset = parse_duration(m.group(2)) if m.group(2) else 0.0
        return base - offset if m.group(1) == "-" else base + offset
    try:
        return float(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ImporterError(f"not a time: {text!r} (unix seconds, RFC 3339, now, now-1h)") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def write_split(out: Path, split: str, machine: str, text: str) -> Path:
    path = Path(out) / split / f"{machine}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")
    return path


def write_sidecar(out: Path, machine: str, doc: dict[str, Any]) -> Path:
    path = Path(out) / "train" / f"{machine}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def sidecar_features(data_dir: Path, machine: str) -> tuple[str, ...] | None:
    """Feature names an importer recorded for ``train/MACHINE.txt``; None when there is no sidecar."""
    path = Path(data_dir) / "train" / f"{machine}.json"
    if not path.exists():
        return None
    names = json.loads(path.read_text(encoding="utf-8")).get("features")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ImporterError(f"{path}: 'features' must be a list of names")
    return tuple(names)


@dataclass(frozen=True)
class ImportResult:
    files: tuple[Path, ...]
    rows: int
    missing: tuple[str, ...] = ()  # features with no data at all (written as 0)
    filled: dict[str, int] | None = None  # feature -> forward/back-filled cells


def grid_doc(start: float, step: float, count: int) -> dict[str, float]:
    return {"start": start, "step": step, "count": count}


def fill_columns(x: np.ndarray) -> tuple[np.ndarray, dict[int, int], list[int]]:
    """Forward-fill NaN per column, back-fill a leading run, all-NaN columns -> 0.

    Returns
    -------
    filled (T, F), {column: filled cells} for partly missing columns, [columns with no value at all]
    """
    x = np.array(x, dtype=np.float64, copy=True)
    nan = np.isnan(x)
    empty = [j for j in range(x.shape[1]) if nan[:, j].all()]
    counts = {j: int(nan[:, j].sum()) for j in range(x.shape[1]) if nan[:, j].any() and j not in empty}
    idx = np.where(nan, 0, np.arange(len(x))[:, None])
    x = np.take_along_axis(x, np.maximum.accumulate(idx, axis=0), axis=0)  # forward fill
    first = np.argmax(~np.isnan(x), axis=0)
    lead = np.isnan(x)
    x[lead] = x[first, np.arange(x.shape[1])][np.nonzero(lead)[1]]  # back-fill the leading run
    x[:, empty] = 0.0
    return x, counts, empty
