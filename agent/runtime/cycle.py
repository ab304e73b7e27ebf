"""The sampling cycle: sample -> window -> calibrate -> score -> snapshot, and model swaps.

``Agent`` owns the model, the window, the calibration and the latest
immutable :class:`~agent.score.snapshot.Snapshot`; ``cycle()`` is the scheduler's
job and ``reload()`` (:mod:`agent.runtime.swap`) swaps in a new bundle, keeping the running one
when the new one is invalid and rolling back a new one that scores far worse on the same rows.
Scrapes only read the snapshot.  The wiring around it (scheduler, HTTP server, signals) is
:mod:`agent.runtime.daemon`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram

from agent.calibrate.calibrator import Calibrator, scorer_errors_fn
from agent.calibrate.fit import FastTier
from agent.calibrate.seasonal import seasonal_for
from agent.config import Config
from agent.history.scores import TOP, ScoreHistory
from agent.history.writer import HistoryWriter
from agent.memory import release_free_memory
from agent.model.bundle import bundle_signature
from agent.model.loaded import LoadedModel, model_info
from agent.model.rollback import RollbackLog
from agent.runtime.hostscore import fast_tier, host_scorer
from agent.runtime.sources import Source
from agent.runtime.swap import Previous, Swaps
from agent.score.scoring import Scorer, top_k
from agent.score.snapshot import Snapshot
from agent.score.window import RingWindow
from agent.serve.exporter import NAMESPACE, AnomalyCollector, SnapshotCache
from agent.serve.status import health_doc, model_doc, rollback_doc

log = logging.getLogger(__name__)


class JobEvent(Protocol):
    """What a scheduler's event tells us (APScheduler's ``JobEvent``); this module needs no scheduler."""

    @property
    def job_id(self) -> str: ...


DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Agent(Swaps):
    """Owns the model, the window and the snapshot; ``cycle()`` is the sampling job.

    Registers its metrics (the snapshot families, the cycle duration) in ``registry``.
    """

    def __init__(
        self,
        cfg: Config,
        source: Source,
        model: LoadedModel,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_exhausted: Callable[[], None] | None = None,
        source_factory: Callable[[LoadedModel], Source] | None = None,
        calibrator: Calibrator | None = None,
        history: HistoryWriter | None = None,
        scores: ScoreHistory | None = None,
        rollbacks: RollbackLog | None = None,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.model = model
        self.clock = clock
        self.monotonic = monotonic
        self.on_exhausted = on_exhausted
        self.source_factory = source_factory
        self.calibrator = calibrator
        self.history = history
        self.scores = scores  # the last day of scores for the landing page, /api/v1/history and explain
        # the host's rhythm, learned from the recorded history (None: off or nothing recorded)
        recal = calibrator.recalibration if calibrator is not None else None  # seasonal.residual_thresholds
        self.seasonal = seasonal_for(cfg, model.bundle.features, history.directory if history else None, recal)
        self.scorer = self._scorer()
        self.window = RingWindow(model.bundle.window, len(model.bundle.features))
        self.loaded_at = clock()
        self.lock = threading.Lock()  # serialises cycle() and model swaps
        self._reload_lock = threading.Lock()  # SIGHUP and the file watcher never load at the same time
        self._publish_lock = threading.Lock()  # snapshot read-modify-write (cycle, reload, skip listener)
        self._last_sample: float | None = None
        self._reloads = {"accepted": 0, "rejected": 0, "unreachable": 0}
        self._scoring_errors = 0
        self._skipped = 0
        self._signature = bundle_signature(cfg.model.bundle)
        self.bundle_dir = Path(cfg.model.bundle).resolve()
        self.exhausted = False
        # automatic rollback (agent.runtime.swap): the probation under way and the bundles rolled back
        self.rollbacks = rollbacks if rollbacks is not None else RollbackLog()
        self.rollback_count = 0
        self._previous: Previous | None = None
        self.resume_probation()
        self.snapshot = Snapshot(model=model_info(model), calibration_ratio=self._calibration_ratio())
        self.duration = Histogram(
            f"{NAMESPACE}_scoring_duration_seconds",
            "Wall time of one sampling cycle (collect, score, publish).",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.collector = AnomalyCollector(lambda: self.snapshot, cfg.sampling.top_k, cfg.exporter.per_feature_metrics)
        # served from the registry through a per-snapshot cache: families are built once per cycle
        registry.register(SnapshotCache(self.collector, lambda: self.snapshot))

    # -- the sampling job -------------------------------------------------
    def cycle(self) -> None:
        start = time.perf_counter()
        with self.lock:
            try:
                self._cycle()
            except Exception:  # the job boundary: log, count, keep the schedule alive
                log.exception("sampling cycle failed")
                self._scoring_errors += 1
                self._publish()
        self.duration.observe(time.perf_counter() - start)

    def _publish(self, **changes: Any) -> None:
        """Swap in a new snapshot with ``changes`` and the current counters.

        Read-modify-write under a lock, with the counters read inside it, so
        concurrent publishers (cycle, reload, skip listener) never lose an
        update or make a counter go backwards.
        """
        with self._publish_lock:
            self.snapshot = replace(
                self.snapshot,
                reloads=dict(self._reloads),
                rollbacks=self.rollback_count,
                probation=self.rollbacks.probation is not None,
                cycles_skipped=self._skipped,
                scoring_errors=self._scoring_errors,
                **changes,
            )

    def _cycle(self) -> None:
        row = self.source.next()
        if row is None:
            if not self.exhausted:
                self.exhausted = True
                log.info("replay finished: no more rows")
                if self.on_exhausted:
                    self.on_exhausted()
            return
        now = self.monotonic()
        gap = self.cfg.sampling.max_gap_intervals * self.cfg.sampling.interval_seconds
        changes: dict[str, Any] = {}
        if self._last_sample is not None and not 0 <= now - self._last_sample <= gap:
            log.warning(
                "%.0f s since the last sample (max %.0f s): window reset instead of scoring stale data",
                now - self._last_sample,
                gap,
            )
            self.window.clear()
            changes["result"] = None  # the last score describes rows no longer in the window: stop exporting it
        self._last_sample = now
        if self.history is not None:
            self.history.append(row.values, self.clock())
        values = row.values if self.seasonal is None else self.seasonal.apply(row.values, self.clock())
        self.window.push(values)
        cal = self.calibrator
        was_calibrated = cal is not None and cal.calibrated
        if cal is not None and not cal.calibrated:
            cal.observe(values)
            self._maybe_calibrate()
        elif cal is not None and cal.save_pending:  # the disk refused the calibration: retry until it is kept
            cal.save()
        changes.update(
            fill_ratio=self.window.fill_ratio,
            replay_label=row.label,
            collector_errors=self.source.error_counts(),
            calibration_ratio=self._calibration_ratio(),
            state_errors=self._state_errors(),
        )
        if self.window.full and (cal is None or cal.calibrated):
            result = self._probe(self.scorer.score_window(self.window.view()))  # the previous model's after a rollback
            changes.update(result=result, scored_at=self.clock())
            if self.scores is not None:
                top = top_k(result.contributions, self.model.bundle.features, TOP)
                self.scores.append(self.clock(), result.score, result.anomalous, top)
            if cal is not None and was_calibrated:
                cal.record(values, result.anomalous)
                self._maybe_recalibrate()
        self._publish(**changes)

    def _maybe_recalibrate(self) -> None:
        """Daily (and once a provisional threshold has enough rows): refit from the recent rows."""
        cal = self.calibrator
        if cal is None or not cal.recalibration_due():
            return
        cal.recalibrate(scorer_errors_fn(self.model.scorer), self._fast_tier())
        self.scorer = self._scorer()
        release_free_memory()

    # -- calibration ----------------------------------------------------------
    def _scorer(self) -> Scorer:
        return host_scorer(self.cfg, self.model, self.calibrator)

    def _fast_tier(self) -> FastTier | None:
        return fast_tier(self.cfg, self.model, self.calibrator)

    def _maybe_calibrate(self) -> None:
        cal = self.calibrator
        if cal is None or not cal.ready:
            return
        result = cal.calibrate(scorer_errors_fn(self.model.scorer), self._fast_tier())
        self.scorer = self._scorer()
        release_free_memory()  # calibration's temporaries are a one-off: give their pages back
        log.info(
            "calibrated on %d rows (%d windows): threshold %.4g, scores are published from now on",
            result.rows,
            result.windows,
            result.threshold,
        )

    def _calibration_ratio(self) -> float:
        return 1.0 if self.calibrator is None else self.calibrator.progress

    def _state_errors(self) -> dict[str, int]:
        errors = {}
        if self.history is not None:
            errors["history_write"] = self.history.errors
        if self.calibrator is not None:
            errors["calibration_write"] = self.calibrator.write_errors
            errors["calibration_corrupt"] = self.calibrator.corrupt_state
        if self.scores is not None and self.scores.path is not None:
            errors["scores_write"] = self.scores.save_errors
        if self.rollbacks.path is not None:
            errors["rollback_write"] = self.rollbacks.write_errors
        return errors

    def on_skipped(self, event: JobEvent) -> None:
        """APScheduler listener: a cycle was skipped (overlap or missed schedule)."""
        if event.job_id == "cycle":
            self._skipped += 1
            self._publish()

    # -- views for HTTP ---------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        return health_doc(self.snapshot, self.model, self.calibrator, self.cfg.sampling.interval_seconds, self.clock())

    def model_doc(self) -> dict[str, Any]:
        return model_doc(self.model, self.calibrator, self.loaded_at, self._reloads) | {
            "rollback": rollback_doc(self.cfg.model, self.rollbacks, self.rollback_count)
        }
