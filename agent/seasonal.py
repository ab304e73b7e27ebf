"""The host's rhythm: a robust per-feature seasonal profile removed from each row before scoring.

A nightly backup or a Monday report is normal *at its time*.  From the
history the agent records (raw rows with timestamps, :mod:`agent.history`)
this module learns, per time slot of the local wall clock (``slot_minutes``
of the day, times the day of the week once ``weekly_after_days`` of history
exist) and per feature, the median and the MAD; the profile's offset is
``slot_median - global_median``, shrunk towards 0 when the slot has few rows
(``n / (n + shrinkage_rows)``).  :meth:`Seasonal.apply` removes the offset
of the row's slot, so the row keeps its raw units and the scaler,
calibration and model downstream see a host without its schedule.  Slots
follow the local wall clock of ``seasonal.timezone`` (zoneinfo; "" = the
system's), so a daylight-saving change does not move the nightly job by an
hour.  With less than ``min_history_days`` of history there is no profile
and the row passes unchanged (the agent scores as it always did).

The profile is a JSON state file (``seasonal.json``, written atomically by
:mod:`agent.state`), reloaded at start and relearned every
``relearn_hours`` from the history files.  Pure numpy; the maths
(:func:`slots`, :func:`fit_profile`, :class:`Profile`) is separate from the
runtime (:class:`Seasonal`).  Reference: ``docs/seasonality.md``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from agent.config import SeasonalConfig
from agent.history_files import PREFIX, STEM
from agent.history_read import load_recorded
from agent.memory import release_free_memory
from agent.smd import SMDFormatError
from agent.state import StateCorrupt, atomic_write_json, read_json

log = logging.getLogger(__name__)

STATE_FILE = "seasonal.json"
STATE_KIND = "host-anomaly-exporter/seasonal"
STATE_VERSION = 1
RETRY_SECONDS = 3600.0  # not enough history yet (or it could not be read): look again after this
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
    offsets = np.array([_offset(q * 900.0, tz) for q in quarters])
    return t + offsets[inverse.reshape(-1)]


def _offset(t: float, tz: ZoneInfo | None) -> float:
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


def history_start(directory: Path) -> float | None:
    """Unix time of the oldest history file set (from its name: no file is read), None if there is none."""
    try:
        names = [p.name for p in directory.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(".json")]
    except OSError:
        return None
    stamps = [m.group(1) for m in (STEM.fullmatch(n[: -len(".json")]) for n in names) if m]
    if not stamps:
        return None
    return datetime.strptime(min(stamps), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


class Seasonal:
    """The runtime: holds the profile, applies it per row, relearns it from the history directory.

    Not thread-safe: drive it from the sampling job (``Agent.cycle``).
    """

    def __init__(
        self,
        cfg: SeasonalConfig,
        features: tuple[str, ...],
        history_dir: Path,
        state_path: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.features = tuple(features)
        self.history_dir = Path(history_dir)
        self.state_path = Path(state_path)
        self.zone = zone(cfg.timezone)
        self.profile: Profile | None = None
        self.write_errors = 0
        self._quarter: float | None = None  # the quarter hour whose UTC offset is in _offset
        self._offset = 0.0
        self._repeated = False  # this quarter hour's wall-clock time already passed once today (DST end)
        self._next_try = 0.0
        self._load()

    @property
    def active(self) -> bool:
        return self.profile is not None

    def apply(self, row: np.ndarray, ts: float) -> np.ndarray:
        """``row`` without its slot's expected deviation (unchanged while there is no profile)."""
        self.maybe_learn(ts)
        if self.profile is None:
            return row
        local = self.local(ts)
        if self._repeated:  # the hour a DST change repeats: cron ran its jobs in the first pass
            return row
        return self.profile.apply(row, local, self.cfg.scale, self.cfg.clamp)

    def local(self, ts: float) -> float:
        """Local wall-clock seconds of ``ts``; the zone is consulted once per quarter hour."""
        q = ts // 900.0
        if q != self._quarter:
            self._quarter, self._offset = q, _offset(q * 900.0, self.zone)
            self._repeated = _offset((q - 4) * 900.0, self.zone) > self._offset  # clocks went back < 1 h ago
        return ts + self._offset

    def rebind(self, features: tuple[str, ...]) -> None:
        """A new bundle: a profile for other features is dropped and relearned from the history."""
        if tuple(features) != self.features:
            self.features, self.profile, self._next_try = tuple(features), None, 0.0

    def due(self, ts: float) -> bool:
        if ts < self._next_try:
            return False
        p = self.profile
        return p is None or ts - p.learned_at >= self.cfg.relearn_hours * 3600 or ts < p.learned_at

    def maybe_learn(self, ts: float) -> bool:
        """Relearn from the history when due; True when a new profile was learned."""
        if not self.due(ts):
            return False
        self._next_try = ts + RETRY_SECONDS
        start = history_start(self.history_dir)
        if start is None or ts - start < self.cfg.min_history_days * 86400:
            return False
        try:
            return self.learn(ts)
        except (OSError, SMDFormatError, ValueError) as exc:
            log.warning(
                "seasonal: cannot learn the profile from %s (retrying in %.0f s): %s",
                self.history_dir,
                RETRY_SECONDS,
                exc,
            )
            return False

    def learn(self, now: float) -> bool:
        """Fit the profile on the last ``lookback_days`` of history; False if that is too little."""
        since = now - self.cfg.lookback_days * 86400
        rec = load_recorded(self.history_dir, self.features, since=since)
        keep = (rec.timestamps > since) & (rec.timestamps <= now)
        t, x = rec.timestamps[keep], rec.values[keep].astype(np.float32)
        del rec
        span = float(t.max() - t.min()) / 86400 if len(t) else 0.0
        if span < self.cfg.min_history_days:
            return False
        weekly = span >= self.cfg.weekly_after_days
        start = time.perf_counter()
        profile = fit_profile(
            x, t, self.features, self.cfg.timezone, self.cfg.slot_minutes, weekly, self.cfg.shrinkage_rows
        )
        self.profile = replace(profile, learned_at=now)  # the next relearn counts from now
        log.info(
            "seasonal: learned a %s profile from %d rows over %.1f days in %.2f s (%s slots)",
            "weekly" if weekly else "daily",
            len(t),
            span,
            time.perf_counter() - start,
            f"{self.cfg.slot_minutes}-minute",
        )
        self._save()
        release_free_memory()  # the history text and arrays of a relearn are a one-off: give their pages back
        return True

    # -- persistence ------------------------------------------------------------------------------
    def _save(self) -> None:
        assert self.profile is not None
        try:
            atomic_write_json(self.state_path, self.profile.to_doc())
        except OSError as exc:  # the profile still works from memory; the next relearn saves again
            self.write_errors += 1
            log.warning("seasonal: cannot save the profile to %s: %s", self.state_path, exc)

    def _load(self) -> None:
        try:
            doc = read_json(self.state_path)
            if doc is None:
                return
            p = profile_from_doc(doc)
        except (StateCorrupt, ValueError, KeyError, TypeError) as exc:
            log.error("seasonal: %s is unusable (%s): relearning from the history", self.state_path, exc)
            return
        c = self.cfg
        if (p.features, p.tz, p.slot_minutes) != (self.features, c.timezone, c.slot_minutes):
            log.info("seasonal: the saved profile is for other features or settings: relearning from the history")
            return
        self.profile = p
        log.info(
            "seasonal: reusing the %s profile learned at %s from %d rows over %.1f days",
            "weekly" if p.weekly else "daily",
            datetime.fromtimestamp(p.learned_at, UTC).isoformat(),
            p.rows,
            p.span_days,
        )


def seasonal_for(cfg: Any, features: tuple[str, ...], history_dir: Path | None) -> Seasonal | None:
    """The agent's :class:`Seasonal` (``cfg`` is the agent Config), None when off or nothing is recorded."""
    if not cfg.seasonal.enabled or history_dir is None:
        return None
    return Seasonal(cfg.seasonal, features, history_dir, Path(cfg.state_directory) / STATE_FILE)
