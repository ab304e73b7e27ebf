"""Recalibration of z-score bundles: refit scaler and thresholds from the host's recent scored rows.

A warm-up day does not represent the weeks after it (docs/detection.md
"Recalibration").  Once calibrated, a host calibrated with a
:class:`~agent.calibrate.fit.HostRecipe` keeps its scored rows in a
:class:`~agent.calibrate.recent.RecentRows` ring.  A provisional threshold (too few
warm-up rows for POT) is refined as soon as ``POT_ROWS`` rows are there;
after that the host refits every ``every_seconds`` (a day by default),
anomalous rows left out of the scaler fit.  The ring is saved beside the
calibration state (``<state>.recent.npz``) every ``RECENT_SAVE_EVERY`` rows
and after each refit, so a restart keeps it.

:class:`~agent.calibrate.calibrator.Calibrator` owns one :class:`Recalibration` and
drives it; a min-max bundle (no recipe) never records into it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from agent.calibrate.fit import CalibrationResult, ErrorsFn, FastTier, HostRecipe, calibrate_rows
from agent.calibrate.recent import RecentRows
from agent.score.scoring import AnyScaler

log = logging.getLogger("agent.calibrate.calibrator")  # split from agent.calibration: its log lines keep their name

POT_ROWS = 500  # rows giving POT its 10 excesses over the 98 % level: the provisional threshold is refined then
RECENT_SAVE_EVERY = 60  # recorded rows between saves of the recent-rows ring


class Recalibration:
    """The recent-rows ring, its file, and when and how a calibrated host refits from it."""

    def __init__(self, capacity: int, n_features: int, path: Path, every_seconds: float) -> None:
        self.recent = RecentRows(capacity, n_features)
        self.path = path
        self.every_seconds = every_seconds  # <= 0: never (a provisional threshold is still refined)
        self.count = 0  # recalibrations done
        self.write_errors = 0  # failed saves of the ring (retried at the next save)
        self._recorded = 0
        self.rebased = False  # the ring was re-expressed (seasonal residuals): refit at the next cycle

    def reset(self, n_features: int, rows: np.ndarray | None = None) -> None:
        """An empty ring for ``n_features`` (new features, a new calibration), seeded with ``rows``."""
        self.recent = RecentRows(self.recent.capacity, n_features)
        if rows is not None:
            self.recent.extend(rows)  # the warm-up is the first stretch of recent history

    def resume(self, n_features: int, warmup_rows: np.ndarray) -> None:
        """A restart reusing its calibration: the saved ring, else the warm-up rows."""
        self.recent = RecentRows.load(self.path, self.recent.capacity, n_features)
        if not len(self.recent):
            self.recent.extend(warmup_rows)

    def rebase(self, rows: np.ndarray) -> None:
        """The ring re-expressed as ``rows`` (the same samples as seasonal residuals, oldest first): the
        anomalous flags kept from the newest end, and a refit due at once (``seasonal.residual_thresholds``)."""
        if not len(self.recent):  # not calibrated yet: the warm-up is the calibrator's
            return
        _, flags = self.recent.arrays()
        rows = np.asarray(rows, np.float64)[-self.recent.capacity :]
        keep = np.zeros(len(rows), bool)
        k = min(len(rows), len(flags))
        keep[len(rows) - k :] = flags[len(flags) - k :]
        self.recent = RecentRows(self.recent.capacity, self.recent.n_features)
        for r, a in zip(rows, keep):
            self.recent.append(r, bool(a))
        self.rebased = True
        log.info("calibration: %d recent rows re-expressed as seasonal residuals; refitting from them", len(rows))

    def record(self, row: np.ndarray, anomalous: bool) -> None:
        """Keep one scored row; the ring is saved every ``RECENT_SAVE_EVERY`` rows."""
        self.recent.append(np.asarray(row, np.float64).reshape(-1), anomalous)
        self._recorded += 1
        if self._recorded % RECENT_SAVE_EVERY == 0:
            self.save()

    def due(self, r: CalibrationResult, target_rows: int, window: int, now: float) -> bool:
        """A provisional threshold has enough rows for POT, or its ``next_recalibration`` time has come."""
        if len(self.recent) < target_rows:
            return False
        if self.rebased:
            return True
        if r.details.get("threshold_kind") == "provisional":
            return len(self.recent) >= POT_ROWS + window - 1 and len(self.recent) > r.rows
        nxt = r.details.get("next_recalibration")
        return isinstance(nxt, (int, float)) and now >= nxt

    def refit(
        self,
        features: tuple[str, ...],
        window: int,
        pot_q: float,
        clip: float,
        errors_fn: ErrorsFn,
        bundle_sha: str,
        now: float,
        recipe: HostRecipe | None,
        fast: FastTier | None = None,
        scaler: AnyScaler | None = None,
    ) -> CalibrationResult:
        """Scaler and thresholds from the recent rows (anomalous ones left out of the scaler); ``scaler``
        given: kept, the thresholds alone refitted."""
        rows, _ = self.recent.arrays()
        mask = self.recent.scaler_mask()  # copies the ring once more: compute it once
        r = calibrate_rows(
            rows, features, window, pot_q, clip, errors_fn, bundle_sha, now, recipe, mask, fast=fast, scaler=scaler
        )
        if scaler is not None:
            r.details["scaler"] = "kept"
        r.details["source"] = "recent"
        r.details["excluded_rows"] = int(len(rows) - mask.sum())
        r.details["next_recalibration"] = self.next_at(r)
        self.count += 1
        self.rebased = False
        return r

    def next_at(self, r: CalibrationResult) -> float | None:
        """When the calibration ``r`` is refitted; None when daily recalibration is off."""
        return None if self.every_seconds <= 0 else r.calibrated_at + self.every_seconds

    def save(self) -> None:
        try:
            self.recent.save(self.path)
        except OSError as exc:
            self.write_errors += 1
            log.warning("calibration: cannot save recent rows to %s (will retry): %s", self.path, exc)


def result_line(r: CalibrationResult, what: str) -> str:
    """The log line of a (re)calibration ``what``: rows, windows, threshold and how it was set."""
    d = r.details
    if "threshold_kind" in d:
        how = d["threshold_kind"]
        if how == "provisional":
            how += f" ({d['window_pot'].get('fallback')}; refined after {POT_ROWS} rows)"
        return (
            f"{what} on {r.rows:d} rows ({r.windows:d} windows): window threshold {r.threshold:.4g} "
            f"({how}, anchor {d.get('anchor')})"
        )
    return (
        f"{what} on {r.rows:d} rows ({r.windows:d} windows): window threshold {r.threshold:.4g} "
        f"({d['window_pot'].get('fallback') or 'pot'}), {d['features_floored']:d} features floored, "
        f"{d['feature_fallbacks']:d} feature POT fallbacks"
    )
