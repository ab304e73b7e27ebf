"""The host's rhythm, the maths: local-time slots and a robust per-feature profile of their offsets.

Per time slot of the local wall clock (``slot_minutes`` of the day, times the
day of the week when ``weekly``) and per feature, :func:`fit_profile` learns
the median and the MAD of raw rows; a slot's offset is ``slot_median -
global_median``, shrunk towards 0 (a weekly slot: towards its time-of-day
slot) when the slot has few rows (``n / (n + shrinkage_rows)``).
:meth:`Profile.apply` removes the offset of a row's slot.  Slots follow the
local wall clock of an IANA zone (zoneinfo; None = the system's), so a
daylight-saving change does not move a nightly job by an hour.  Numpy only:
no file, no clock, no log; the runtime that learns, keeps and applies a
profile is :mod:`agent.calibrate.seasonal`.  Reference: ``docs/seasonality.md``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

STATE_KIND = "host-anomaly-exporter/seasonal"
STATE_VERSION = 1
MIN_SCALE = 0.25  # scale=true never shrinks a slot's spread by more than this factor


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone ``name``; None for "" (the system's local time). Raises ValueError when unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def local_seconds(ts: np.ndarray, tz: ZoneInfo | None) -> np.ndarray:
    """Unix seconds -> seconds since 1970-01-01 00:00 *local wall clock* in ``tz`` (None = the system's)."""
    t = np.atleast_1d(np.asarray(ts, np.float64))
    # UTC offsets change at most a few times a year and only on quarter hours: look them up per quarter hour
    quarters, inverse = np.unique(np.floor(t / 900.0), return_inverse=True)
    offsets = np.array([utc_offset(q * 900.0, tz) for q in quarters])
    return t + offsets[inverse.reshape(-1)]


def utc_offset(t: float, tz: ZoneInfo | None) -> float:
    """Seconds east of UTC at unix time ``t`` in ``tz`` (None = the system's local time)."""
    dt = datetime.fromtimestamp(t, tz) if tz is not None else datetime.fromtimestamp(t).astimezone()
    off = dt.utcoffset()
    return off.total_seconds() if off is not None else 0.0


def slots(ts: np.ndarray, tz: ZoneInfo | None, slot_minutes: int, weekly: bool) -> np.ndarray:
    """Slot index per timestamp: the ``slot_minutes`` slot of the local day (+ 7 days x them if ``weekly``)."""
    local = local_seconds(ts, tz)
    per_day = 1440 // slot_minutes
    s = ((local % 86400) // (slot_minutes * 60)).astype(np.int64)
    if weekly:
        weekday = ((local // 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        s = s + per_day * weekday
    return s


def n_slots(slot_minutes: int, weekly: bool) -> int:
    return (1440 // slot_minutes) * (7 if weekly else 1)


@dataclass(frozen=True)
class Profile:
    """A learned rhythm: per-slot offsets (and spread ratios) for ``features`` in zone ``tz``."""

    features: tuple[str, ...]
    tz: str
    slot_minutes: int
    weekly: bool
    offset: np.ndarray  # (S, F) float32: shrunk slot median - global median, 0 where unknown
    ratio: np.ndarray  # (S, F) float32: global MAD / shrunk slot MAD in [MIN_SCALE, 1]; used with scale
    center: np.ndarray  # (F,) global medians (the level a scaled row is squeezed towards)
    learned_at: float  # unix seconds (the newest row's time)
    rows: int
    span_days: float

    def slot(self, local: float) -> int:
        """The slot of one local-wall-clock time (seconds, as :func:`local_seconds`)."""
        s = int(local % 86400) // (self.slot_minutes * 60)
        if self.weekly:
            s += (1440 // self.slot_minutes) * ((int(local // 86400) + 3) % 7)
        return s

    def apply(self, row: np.ndarray, local: float, scale: bool = False, clamp: bool = True) -> np.ndarray:
        """``row`` (F,) at local time ``local`` with its slot's offset removed (spread scaled with ``scale``).

        ``clamp``: the row moves towards the overall median by at most the
        offset and never past it, so removing the rhythm cannot create a
        deviation where the job did not run (a skipped night, the repeated
        hour of a DST change, the lagging edges of a job).
        """
        s = self.slot(local)
        x = np.asarray(row, np.float64)
        d = self.offset[s]
        out = x - d
        if clamp:
            c = self.center
            out = np.where(d > 0, np.maximum(out, np.minimum(x, c)), np.minimum(out, np.maximum(x, c)))
        if scale:
            out = self.center + (out - self.center) * self.ratio[s]
        return out

    def to_doc(self) -> dict[str, Any]:
        return {
            "kind": STATE_KIND,
            "version": STATE_VERSION,
            "features": list(self.features),
            "timezone": self.tz,
            "slot_minutes": self.slot_minutes,
            "weekly": self.weekly,
            "learned_at": self.learned_at,
            "rows": self.rows,
            "span_days": self.span_days,
            "center": _nulls(self.center),
            "offset": [_nulls(r) for r in self.offset],
            "ratio": [_nulls(r) for r in self.ratio],
        }


def _nulls(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 7) for v in a]


def column_medians(x: np.ndarray) -> np.ndarray:
    """NaN-ignoring median of each column of (n, F); NaN for an all-NaN column (np.nanmedian is ~50x slower
    on the small blocks of one slot)."""
    srt = np.sort(x, axis=0)  # NaN sorts last
    n = np.isfinite(x).sum(axis=0)
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    cols = np.arange(x.shape[1])
    med = (srt[lo, cols] + srt[hi, cols]) / 2 if len(x) else np.full(x.shape[1], np.nan)
    return np.where(n > 0, med, np.nan)


def _slot_fit(
    x: np.ndarray, s: np.ndarray, n: int, g: np.ndarray, g_mad: np.ndarray, k: float, prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per slot of ``s`` (0..n-1): offset shrunk towards ``prior`` (n, F) and spread ratio; see fit_profile."""
    offset = prior.astype(np.float32)
    ratio = np.ones((n, x.shape[1]), np.float32)
    order = np.argsort(s, kind="stable")
    bounds = np.searchsorted(s[order], np.arange(n + 1))
    for i in range(n):
        rows = x[order[bounds[i] : bounds[i + 1]]]
        if not len(rows):
            continue
        cnt = np.isfinite(rows).sum(axis=0)
        w = cnt / (cnt + k)
        m = column_medians(rows)
        offset[i] = np.nan_to_num(w * (m - g) + (1 - w) * prior[i])
        spread = w * column_medians(np.abs(rows - m)) + (1 - w) * g_mad
        r = np.where(spread > g_mad, g_mad / spread, 1.0)
        ratio[i] = np.nan_to_num(np.clip(r, MIN_SCALE, 1.0), nan=1.0)
    return offset, ratio


def fit_profile(
    values: np.ndarray,
    ts: np.ndarray,
    features: tuple[str, ...],
    tz: str,
    slot_minutes: int,
    weekly: bool,
    shrinkage_rows: float,
) -> Profile:
    """Learn a :class:`Profile` from raw rows (T, F) at ``ts`` (T,).

    Shrinkage is hierarchical: a time-of-day slot's offset is shrunk towards
    0 (the overall median), a weekly slot's towards its time-of-day slot's
    offset, so a daily job stays fully removed when the weekly slots are still
    thin (two weeks: 20 rows each) and only a weekly job needs them.
    """
    x = np.asarray(values, np.float32)  # half the transient memory of a relearn; medians need no more
    t = np.asarray(ts, np.float64)
    if x.ndim != 2 or x.shape != (len(t), len(features)) or not len(t):
        raise ValueError(f"need (T, {len(features)}) rows with T timestamps, got {x.shape} and {t.shape}")
    per_day = n_slots(slot_minutes, False)
    local = local_seconds(t, zone(tz))
    day_slot = ((local % 86400) // (slot_minutes * 60)).astype(np.int64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN medians, handled below
        g = column_medians(x)
        g_mad = column_medians(np.abs(x - g))
        offset, ratio = _slot_fit(x, day_slot, per_day, g, g_mad, shrinkage_rows, np.zeros((per_day, x.shape[1])))
        if weekly:
            weekday = ((local // 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
            offset, ratio = _slot_fit(
                x, day_slot + per_day * weekday, 7 * per_day, g, g_mad, shrinkage_rows, np.tile(offset, (7, 1))
            )
    span = float(t.max() - t.min()) / 86400
    return Profile(
        tuple(features), tz, slot_minutes, weekly, offset, ratio, np.nan_to_num(g), float(t.max()), len(t), span
    )


def profile_from_doc(doc: dict[str, Any]) -> Profile:
    """Rebuild a :class:`Profile` from its state document; ValueError/KeyError/TypeError when malformed."""
    if doc.get("kind") != STATE_KIND or doc.get("version") != STATE_VERSION:
        raise ValueError(f"not a version {STATE_VERSION} seasonal profile")
    features = tuple(doc["features"])
    slot_minutes, weekly = int(doc["slot_minutes"]), bool(doc["weekly"])
    shape = (n_slots(slot_minutes, weekly), len(features))
    offset = np.array(doc["offset"], dtype=np.float64)
    ratio = np.array(doc["ratio"], dtype=np.float64)
    center = np.array(doc["center"], dtype=np.float64)
    if offset.shape != shape or ratio.shape != shape or center.shape != (len(features),):
        raise ValueError(f"profile arrays must be {shape}")
    return Profile(
        features,
        str(doc["timezone"]),
        slot_minutes,
        weekly,
        np.nan_to_num(offset).astype(np.float32),
        np.nan_to_num(ratio, nan=1.0).astype(np.float32),
        np.nan_to_num(center),
        float(doc["learned_at"]),
        int(doc["rows"]),
        float(doc["span_days"]),
    )
