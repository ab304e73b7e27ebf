"""Cold-start calibration: learn this host's scaling and thresholds before scoring.

The shipped model was trained on min-max scaled SMD rows; raw host values
(bytes/s, counts) mean nothing to it.  During a warm-up of ``warmup_samples``
rows the :class:`Calibrator` collects raw rows, then (``calibrate``) learns a
per-feature min-max :class:`~agent.score.scoring.Scaler` from them, runs the model
over the warm-up windows with that scaler (through ``errors_fn``, so this
module never sees the model) and sets the window threshold and the
per-feature thresholds by POT on the resulting errors (the maths, pure, is
:mod:`agent.calibrate.fit`).

The rows collected so far and the result live in one JSON state file written
atomically (:mod:`agent.state`), so a restart resumes the warm-up, a restart
with the same bundle reuses the calibration, and a new bundle with the same
features recalibrates at once from the kept rows.  Not thread-safe: drive it
from the sampling job.  The document is :mod:`agent.calibrate.saved`'s; the
refits of z-score bundles from the recent rows, after the warm-up, are
:mod:`agent.calibrate.recalibration`'s; the state file :mod:`agent.calibrate.persist`'s; which bundles
calibrate and how :mod:`agent.calibrate.recipe`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from agent.calibrate.fit import (
    CalibrationError,
    CalibrationResult,
    ErrorsFn,
    FastTier,
    HostRecipe,
    calibrate_rows,
    fit_host_scaler,
    scorer_errors_fn,
)
from agent.calibrate.persist import StateFile
from agent.calibrate.recalibration import Recalibration, result_line
from agent.score.scoring import SCALER_CLIP, ScoringSpec

__all__ = ["CalibrationError", "CalibrationResult", "Calibrator", "ErrorsFn", "fit_host_scaler", "scorer_errors_fn"]

log = logging.getLogger(__name__)

MIN_WINDOWS = 20  # the warm-up is stretched so that it yields at least this many windows
SAVE_EVERY = 10  # rows between state saves during the warm-up


class Calibrator(StateFile):
    """Collects warm-up rows, calibrates once, persists both; see the module docstring."""

    def __init__(
        self,
        features: tuple[str, ...],
        window: int,
        warmup_samples: int,
        pot_q: float,
        state_path: Path | str,
        bundle_sha: str,
        *,
        clip: float = SCALER_CLIP,
        save_every: int = SAVE_EVERY,
        clock: Callable[[], float] = time.time,
        recipe: HostRecipe | None = None,
        recent_samples: int = 10080,
        recalibrate_seconds: float = 86400.0,
        keep_scaler: bool = False,
    ) -> None:
        if not features or window < 1 or warmup_samples < 1 or not 0 < pot_q < 1 or save_every < 1:
            raise ValueError("Calibrator: need features, window >= 1, warmup_samples >= 1, 0 < pot_q < 1")
        self.features = tuple(features)
        self.warmup_samples = warmup_samples
        self.pot_q = pot_q
        self.state_path = Path(state_path)
        self.clip = clip
        self.save_every = save_every
        self.clock = clock
        self._write_errors = 0  # failed state saves (retried at the next observe)
        self.corrupt_state = 0  # state files found unreadable and rebuilt
        self.created = clock()
        self._rows = np.empty((0, len(self.features)))
        self._n = 0
        self._unsaved = 0
        self._write_failing = False
        self.result: CalibrationResult | None = None
        self.recipe = recipe  # None: a min-max bundle, calibrated once (format-1 behaviour)
        self.keep_scaler = keep_scaler  # recalibration adapts the thresholds alone (calibration.refit_scaler)
        recent_path = self.state_path.with_name(self.state_path.stem + ".recent.npz")
        self.recalibration = Recalibration(recent_samples, len(self.features), recent_path, recalibrate_seconds)
        self.window, self.bundle_sha = window, bundle_sha  # typed here; rebind() compares and sets them
        self.rebind(self.features, window, bundle_sha, save=False)

    # -- state --------------------------------------------------------------
    @property
    def target_rows(self) -> int:
        """Rows the warm-up needs: ``warmup_samples``, stretched to give ``MIN_WINDOWS`` windows."""
        return max(self.warmup_samples, self.window + MIN_WINDOWS - 1)

    @property
    def state(self) -> str:
        """calibrating, provisional (too few rows for POT yet: docs/detection.md) or calibrated."""
        if self.result is None:
            return "calibrating"
        return "provisional" if self.result.details.get("threshold_kind") == "provisional" else "calibrated"

    @property
    def calibrated(self) -> bool:
        return self.result is not None

    @property
    def ready(self) -> bool:
        """Enough rows collected and not calibrated yet: call :meth:`calibrate`."""
        return self.result is None and self._n >= self.target_rows

    @property
    def progress(self) -> float:
        """0-1; the warm-up is ``target_rows`` rows plus one calibration step, so 1.0 means calibrated."""
        return 1.0 if self.calibrated else min(self._n, self.target_rows) / (self.target_rows + 1)

    @property
    def save_pending(self) -> bool:
        """The last state save failed (full or read-only disk): call :meth:`save` again."""
        return self._write_failing

    @property
    def write_errors(self) -> int:
        """Failed saves of the state file and of the recent rows (each retried)."""
        return self._write_errors + self.recalibration.write_errors

    @property
    def rows(self) -> np.ndarray:
        """(n, F) warm-up rows collected so far (a copy)."""
        return self._rows[: self._n].copy()

    def rebind(
        self,
        features: tuple[str, ...],
        window: int,
        bundle_sha: str,
        *,
        clip: float | None = None,
        save: bool = True,
        recipe: HostRecipe | None | bool = False,
    ) -> bool:
        """Follow a (re)loaded bundle.  Returns True if the warm-up rows were kept.

        Same features: rows are kept; the calibration is dropped unless bundle
        and window are unchanged, so ``ready`` is True at once when the rows
        suffice (a hot reload recalibrates in one cycle).  Other features:
        the warm-up starts over.  ``clip`` (the bundle's scaler clip) applies
        to the next calibration.
        """
        if clip is not None:
            self.clip = clip
        if recipe is not False:  # False: keep the current recipe
            self.recipe = recipe if isinstance(recipe, HostRecipe) else None
        kept = tuple(features) == self.features
        if not kept:
            log.info(
                "calibration: features changed (%d -> %d): starting a new warm-up", len(self.features), len(features)
            )
            self.features, self._n = tuple(features), 0
            self.recalibration.reset(len(self.features))
        if self.result is not None and (not kept or (self.result.bundle_sha, self.window) != (bundle_sha, window)):
            log.info(
                "calibration: bundle changed (%s -> %s): recalibrating from the kept rows",
                self.result.bundle_sha[:12],
                bundle_sha[:12],
            )
            self.result = None
        self.window, self.bundle_sha = window, bundle_sha
        target = self.target_rows
        if target > self.warmup_samples:
            log.warning(
                "calibration: warm-up stretched to %d rows (window %d needs %d windows)", target, window, MIN_WINDOWS
            )
        rows = self._rows[max(self._n - target, 0) : self._n] if kept else np.empty((0, len(self.features)))
        self._rows = np.full((target, len(self.features)), np.nan)
        self._rows[: len(rows)] = rows
        self._n = len(rows)
        if save:
            self.save()
        return kept

    def observe(self, row: np.ndarray) -> None:
        """Record one raw (F,) row (NaN = unreadable) during the warm-up; a no-op once calibrated."""
        if self.result is not None:
            return
        r = np.asarray(row, np.float64).reshape(-1)
        if r.shape != (len(self.features),):
            raise ValueError(f"calibration: row has {r.size} values, expected {len(self.features)}")
        if self._n == len(self._rows):  # not calibrated in time: keep the latest rows
            self._rows[:-1] = self._rows[1:]
            self._n -= 1
        self._rows[self._n] = np.where(np.isfinite(r), r, np.nan)
        self._n += 1
        self._unsaved += 1
        if self._unsaved >= self.save_every:
            self.save()

    def calibrate(self, errors_fn: ErrorsFn, fast: FastTier | None = None) -> CalibrationResult:
        """Fit scaler and thresholds on the warm-up rows; ``errors_fn(scaler, (N, W, F)) -> (N, F)``;
        ``fast`` (:class:`~agent.calibrate.fit.FastTier`): the fast tier's threshold too (z-score bundles),
        both tiers' errors from one inference.

        A bundle swapped in on a host that has recorded more recent rows than the warm-up holds
        (a z-score bundle: a retrain round, ``model.url``) calibrates from those rows instead: the
        warm-up may be weeks old, and starting over from it would also drop the recent week.
        """
        if self.recipe is not None and len(self.recalibration.recent) > self._n >= self.target_rows:
            return self.recalibrate(errors_fn, fast)
        if self._n < self.target_rows:
            raise CalibrationError(f"calibration needs {self.target_rows} rows, has {self._n}")
        rows = self._rows[: self._n]
        self.result = r = calibrate_rows(
            rows,
            self.features,
            self.window,
            self.pot_q,
            self.clip,
            errors_fn,
            self.bundle_sha,
            self.clock(),
            self.recipe,
            fast=fast,
        )
        if self.recipe is not None:
            self.recalibration.reset(len(self.features), rows)
            r.details["next_recalibration"] = self.recalibration.next_at(r)
        log.info("%s", result_line(r, "calibrated"))
        self.save()
        return r

    # -- recalibration (z-score bundles): agent.calibrate.recalibration -------------------
    def record(self, row: np.ndarray, anomalous: bool) -> None:
        """Keep a scored row for the next recalibration (a no-op before calibration or for min-max bundles)."""
        if self.result is not None and self.recipe is not None:
            self.recalibration.record(row, anomalous)

    def recalibration_due(self) -> bool:
        """A provisional threshold has enough rows for POT, or a day (``recalibrate_seconds``) has passed."""
        r = self.result
        return (
            r is not None
            and self.recipe is not None
            and self.recalibration.due(r, self.target_rows, self.window, self.clock())
        )

    def recalibrate(self, errors_fn: ErrorsFn, fast: FastTier | None = None) -> CalibrationResult:
        """Refit scaler and threshold from the recent rows (anomalous ones left out of the scaler);
        with ``keep_scaler`` the calibrated scaler stays and the thresholds adapt alone."""
        keep = self.result.scaler if self.keep_scaler and self.result is not None else None
        self.result = r = self.recalibration.refit(
            self.features,
            self.window,
            pot_q=self.pot_q,
            clip=self.clip,
            errors_fn=errors_fn,
            bundle_sha=self.bundle_sha,
            now=self.clock(),
            recipe=self.recipe,
            fast=fast,
            scaler=keep,
        )
        log.info("%s", result_line(r, "recalibrated"))
        self.save()
        self.recalibration.save()
        return r

    def apply(self, spec: ScoringSpec, metric: bool = False) -> ScoringSpec:
        """``spec`` with this host's scaler and thresholds (``metric``: the per-metric tier's too, when the
        fast tier has them)."""
        if self.result is None:
            raise CalibrationError("not calibrated yet")
        if (spec.features, spec.window) != (self.features, self.window):
            raise ValueError("calibration: spec features/window differ from the calibrated ones")
        r = self.result
        # the fast tier runs only with a threshold calibrated for the same tail (else until the next refit)
        fast = r.fast_threshold if spec.fast_tail is not None and spec.fast_tail == r.fast_tail else None
        metric = metric and fast is not None and r.metric_levels is not None
        return replace(
            spec,
            scaler=r.scaler,
            threshold=r.threshold,
            feature_thresholds=r.feature_thresholds,
            fast_tail=spec.fast_tail if fast is not None else None,
            fast_threshold=fast,
            metric_levels=r.metric_levels if metric else None,
            metric_threshold=r.metric_threshold if metric else None,
        )
