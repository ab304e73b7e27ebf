"""Model swaps of the cycle's :class:`~agent.runtime.cycle.Agent`: reload, probation and automatic rollback.

A mixin (the Agent is its only user, as :mod:`agent.calibrate.persist` is the Calibrator's): ``reload()``
loads the configured bundle again and keeps the running model when the new one is invalid.  When the
bundle path moved to another directory (a pull from ``model.url`` always does) and the features and
window are unchanged, the previous model stays loaded and every window is scored by both for
``model.rollback_hours``; :func:`agent.model.rollback.verdict` decides, and a rollback points the
bundle path back at the previous directory and restores the previous model and calibration in the
cycle itself: no reload from disk, no window lost (docs/fleet.md).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.calibrate.calibrator import Calibrator
from agent.calibrate.fit import CalibrationResult
from agent.calibrate.recipe import config_recipe, needs_calibration
from agent.calibrate.seasonal import Seasonal
from agent.config import Config
from agent.history.scores import ScoreHistory
from agent.history.writer import HistoryWriter
from agent.model.bundle import BundleError, bundle_signature
from agent.model.loaded import LoadedModel, load_model, model_info
from agent.model.remote import kept_previous
from agent.model.rollback import Probation, RollbackLog, RolledBack, verdict
from agent.runtime.hostscore import host_scorer
from agent.runtime.sources import Source
from agent.score.scoring import Scorer, WindowScore
from agent.score.snapshot import Snapshot
from agent.score.window import RingWindow

log = logging.getLogger("agent.runtime.cycle")  # the Agent's lines keep one logger name


@dataclass(frozen=True)
class Previous:
    """The model a probation compares against, ready to take over again."""

    model: LoadedModel
    scorer: Scorer
    calibrator: Calibrator | None
    result: CalibrationResult | None


class Swaps:
    """Reload, probation and rollback; the attributes below are the Agent's own."""

    cfg: Config
    model: LoadedModel
    source: Source
    scorer: Scorer
    window: RingWindow
    calibrator: Calibrator | None
    history: HistoryWriter | None
    seasonal: Seasonal | None
    scores: ScoreHistory | None
    clock: Callable[[], float]
    loaded_at: float
    lock: threading.Lock
    _reload_lock: threading.Lock
    _reloads: dict[str, int]
    _signature: tuple[Any, ...]
    bundle_dir: Path  # the running bundle's own directory (the bundle path resolved when it was loaded)
    source_factory: Callable[[LoadedModel], Source] | None
    snapshot: Snapshot
    rollbacks: RollbackLog
    rollback_count: int
    _previous: Previous | None

    def _publish(self, **changes: Any) -> None:
        raise NotImplementedError

    def _scorer(self) -> Scorer:
        raise NotImplementedError

    def _maybe_calibrate(self) -> None:
        raise NotImplementedError

    # -- reload -------------------------------------------------------------
    def reload(self, reason: str) -> bool:
        """Load the configured bundle again; keep the running model if the new one is invalid."""
        with self._reload_lock:
            return self._reload(reason)

    def _reload(self, reason: str) -> bool:
        path = self.cfg.model.bundle
        self._signature = bundle_signature(path)
        try:
            new = load_model(path, self.cfg.model.num_threads)
            # the live sampler is kept for the same features: a new one's first rates would be unknown (NaN)
            same = new.bundle.features == self.model.bundle.features
            source = self.source_factory(new) if self.source_factory and not same else self.source
        except Exception as exc:  # a reload boundary: nothing in a new bundle may stop the running agent
            self._reloads["rejected"] += 1
            if isinstance(exc, (BundleError, OSError, ValueError)):
                log.error("model reload (%s) rejected, keeping %s: %s", reason, self.model.bundle.model_id, exc)
            else:
                log.exception("model reload (%s) failed unexpectedly, keeping %s", reason, self.model.bundle.model_id)
            self._publish()
            return False
        with self.lock:
            previous = Previous(self.model, self.scorer, self.calibrator, self._calibration())
            old_dir, self.bundle_dir = self.bundle_dir, Path(path).resolve()
            self._swap(new, source)
            self._reloads["accepted"] += 1
            self._start_probation(previous, new, kept_previous(path, old_dir))
            self._publish(model=model_info(new), result=None if self.window.fill_ratio < 1 else self.snapshot.result)
        log.info("model reload (%s) accepted: %s (%s)", reason, new.bundle.model_id, new.bundle.sha256[:12])
        return True

    def _calibration(self) -> CalibrationResult | None:
        return None if self.calibrator is None else self.calibrator.result

    def _swap(self, new: LoadedModel, source: Source) -> None:
        old, nb = self.model.bundle, new.bundle
        if (nb.features, nb.window) != (old.features, old.window):
            self.window = RingWindow(nb.window, len(nb.features))
        self.model, self.source, self.loaded_at = new, source, self.clock()
        if self.history is not None:
            self.history.set_features(nb.features)
        if self.seasonal is not None:
            self.seasonal.rebind(nb.features)
        if self.scores is not None:
            self.scores.rebind(nb.features)
        if self.calibrator is not None:
            if needs_calibration(nb.meta):
                self.calibrator.rebind(
                    nb.features, nb.window, nb.sha256, clip=nb.scaler.clip, recipe=config_recipe(nb, self.cfg)
                )
                self._maybe_calibrate()  # same features: recalibrates at once from the kept rows
            else:
                log.info("bundle %s is a host-specific min-max bundle: calibration not needed", nb.model_id)
                self.calibrator = None
        self.scorer = self._scorer()

    def count_reload(self, result: str) -> None:
        """A pull from model.url that kept the running model ("rejected", "unreachable")."""
        self._reloads[result] = self._reloads.get(result, 0) + 1
        self._publish()

    def check_bundle_changed(self) -> None:
        if bundle_signature(self.cfg.model.bundle) != self._signature:
            self.reload("bundle files changed")

    # -- probation ----------------------------------------------------------
    def _start_probation(self, previous: Previous, new: LoadedModel, where: Path | None) -> None:
        """Keep ``previous`` scoring beside ``new`` when a rollback could restore it; else nothing to compare."""
        old, nb, hours = previous.model.bundle, new.bundle, self.cfg.model.rollback_hours
        if old.sha256 == nb.sha256:  # the same bundle again (SIGHUP, touched files): a probation goes on
            return
        self._previous = None
        if self.rollbacks.probation is not None:
            log.info("probation of %s ends: another bundle was swapped in", self.rollbacks.probation.model_id)
            self.rollbacks.end()
        if not hours:
            return
        if (old.features, old.window) != (nb.features, nb.window):
            log.info("no probation for %s: its features or window differ from %s", nb.model_id, old.model_id)
            return
        if where is None:
            log.info(
                "no probation for %s: the previous bundle was replaced in place (a rollback needs the bundle path "
                "to point at a new directory, as a model.url pull does)",
                nb.model_id,
            )
            return
        now = self.clock()
        cal = previous.result.to_doc() if previous.result is not None else None
        p = Probation(nb.sha256, nb.model_id, old.sha256, old.model_id, str(where), now, now + hours * 3600, cal)
        self.rollbacks.start(p)
        self._previous = previous
        log.info(
            "probation: %s scores beside %s for %g h; rolled back if it puts more than %g times as many samples "
            "above 1 as the previous one, and at least %d",
            nb.model_id,
            old.model_id,
            hours,
            self.cfg.model.rollback_factor,
            self.cfg.model.rollback_min_above,
        )

    def resume_probation(self) -> None:
        """At start: the probation of the running bundle goes on with the previous bundle reloaded from disk."""
        p = self.rollbacks.probation
        if p is None:
            return
        if p.sha256 != self.model.bundle.sha256 or self.clock() >= p.until:
            log.info("probation of %s is over (the bundle in use is %s)", p.model_id, self.model.bundle.model_id)
            self.rollbacks.end()
            return
        try:
            prev = load_model(p.previous_path, self.cfg.model.num_threads)
            cal = self._previous_calibrator(prev, p.previous_calibration)
        except Exception as exc:  # the previous bundle is gone or damaged: nothing left to compare or restore
            log.error("probation of %s cannot go on, keeping it: %s", p.model_id, exc)
            self.rollbacks.end()
            return
        # a rollback restores into the running calibrator; with none running (a min-max bundle on trial),
        # into the previous one's, whose state file the min-max bundle left alone
        restore = self.calibrator if self.calibrator is not None or not needs_calibration(prev.bundle.meta) else cal
        self._previous = Previous(prev, host_scorer(self.cfg, prev, cal), restore, cal.result)
        log.info("probation of %s resumed at %d samples against %s", p.model_id, p.samples, p.previous_model_id)

    def _previous_calibrator(self, prev: LoadedModel, doc: dict[str, Any] | None) -> Calibrator:
        """The previous bundle's host calibration as saved when the probation began (written only if restored)."""
        b, c = prev.bundle, self.cfg.calibration
        state = Path(self.cfg.state_directory) / "calibration.json"
        recipe = config_recipe(b, self.cfg)
        cal = Calibrator(b.features, b.window, c.warmup_samples, c.pot_q, state, b.sha256, recipe=recipe)
        cal.result = None if doc is None else CalibrationResult.from_doc(doc, len(b.features))
        return cal

    def _probe(self, result: WindowScore) -> WindowScore:
        """Score the same window with the previous model; roll back (and return its score) on a bad verdict."""
        prev = self._previous
        if prev is None or self.rollbacks.probation is None:
            return result
        try:
            old = prev.scorer.score_window(self.window.view())
        except Exception:  # a comparison that fails ends the probation; the new model keeps scoring
            log.exception("probation: the previous model failed to score; keeping %s", self.model.bundle.model_id)
            self._previous = None
            self.rollbacks.end()
            return result
        p = self.rollbacks.count(result.score, old.score)
        why = verdict(p, self.cfg.model.rollback_factor, self.cfg.model.rollback_min_above)
        if why is not None and self._reload_lock.acquire(blocking=False):  # a reload under way: next cycle
            try:
                self._roll_back(prev, p, why)
            finally:
                self._reload_lock.release()
            return old
        if why is None and self.clock() >= p.until:
            log.info(
                "probation: %s kept after %d samples (%d above 1, the previous %s: %d)",
                p.model_id,
                p.samples,
                p.above,
                p.previous_model_id,
                p.previous_above,
            )
            self._previous = None
            self.rollbacks.end()
        return result

    def _roll_back(self, prev: Previous, p: Probation, why: str) -> None:
        """Point the bundle path back at the previous bundle and restore it, its calibration and its scorer."""
        target = Path(self.cfg.model.bundle)
        if target.is_symlink():
            link = target.parent / f".{target.name}.rollback-{os.getpid()}"
            try:
                if link.is_symlink():
                    link.unlink()
                os.symlink(p.previous_path, link)
                os.replace(link, target)
            except OSError as exc:  # the decision holds in memory and in rollback.json; the log says the rest
                log.error("rollback: cannot point %s back at %s: %s", target, p.previous_path, exc)
        self._signature = bundle_signature(self.cfg.model.bundle)  # the watcher must not reload it
        self.bundle_dir = Path(p.previous_path)
        self.model, self.scorer, self.calibrator = prev.model, prev.scorer, prev.calibrator
        self.loaded_at = self.clock()
        b = prev.model.bundle
        if prev.calibrator is not None and needs_calibration(b.meta):
            recipe = config_recipe(b, self.cfg)
            prev.calibrator.rebind(b.features, b.window, b.sha256, clip=b.scaler.clip, recipe=recipe)
            if prev.result is not None:  # the previous calibration as it was: the same scores as before the swap
                prev.calibrator.result = prev.result
                prev.calibrator.save()
        self._previous = None
        self.rollback_count += 1
        self.rollbacks.end(RolledBack(p.sha256, p.model_id, self.clock(), why, b.sha256, b.model_id))
        self._publish(model=model_info(prev.model))
        log.warning("model rolled back: %s -> %s: %s", p.model_id, b.model_id, why)
