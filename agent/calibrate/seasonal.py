"""The host's rhythm: a robust per-feature seasonal profile removed from each row before scoring.

A nightly backup or a Monday report is normal *at its time*.  From the
history the agent records (raw rows with timestamps, :mod:`agent.history.writer`)
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
``relearn_hours`` from the history files.  This module is the runtime
(:class:`Seasonal`: when to learn, the history, the file, the clock); the
maths (slots, :func:`~agent.calibrate.profile.fit_profile`,
:class:`~agent.calibrate.profile.Profile`) is :mod:`agent.calibrate.profile`.
Reference: ``docs/seasonality.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.calibrate.profile import Profile, fit_profile, profile_from_doc, utc_offset, zone
from agent.calibrate.recalibration import Recalibration
from agent.config import SeasonalConfig
from agent.history.files import PREFIX, STEM
from agent.history.reader import load_recorded
from agent.history.smd import SMDFormatError
from agent.memory import release_free_memory
from agent.state import StateCorrupt, atomic_write_json, read_json

log = logging.getLogger(__name__)

STATE_FILE = "seasonal.json"
RETRY_SECONDS = 3600.0  # not enough history yet (or it could not be read): look again after this


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
        # seasonal.residual_thresholds: after each learn, the last `keep_rows` recorded rows as residuals go here
        self.on_learned: Callable[[np.ndarray], None] | None = None
        self.keep_rows = 0
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
            self._quarter, self._offset = q, utc_offset(q * 900.0, self.zone)
            self._repeated = utc_offset((q - 4) * 900.0, self.zone) > self._offset  # clocks went back < 1 h ago
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
        if self.on_learned is not None and self.keep_rows:
            self.on_learned(self.residuals(x[-self.keep_rows :], t[-self.keep_rows :]))
        release_free_memory()  # the history text and arrays of a relearn are a one-off: give their pages back
        return True

    def residuals(self, rows: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        """``rows`` (T, F) at ``stamps`` without their slots' offsets, as the cycle would have scored them."""
        p = self.profile
        if p is None:
            return np.asarray(rows, np.float64)
        return np.stack(
            [p.apply(r, self.local(float(ts)), self.cfg.scale, self.cfg.clamp) for r, ts in zip(rows, stamps)]
        )

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


def seasonal_for(
    cfg: Any, features: tuple[str, ...], history_dir: Path | None, recalibration: Recalibration | None = None
) -> Seasonal | None:
    """The agent's :class:`Seasonal` (``cfg`` is the agent Config), None when off or nothing is recorded;
    with ``seasonal.residual_thresholds``, each new profile re-expresses ``recalibration``'s recent rows."""
    if not cfg.seasonal.enabled or history_dir is None:
        return None
    s = Seasonal(cfg.seasonal, features, history_dir, Path(cfg.state_directory) / STATE_FILE)
    if cfg.seasonal.residual_thresholds and recalibration is not None:
        s.on_learned, s.keep_rows = recalibration.rebase, recalibration.recent.capacity
    return s
