"""Wiring: registry, sampling job, HTTP server, signals and hot reload.

One APScheduler interval job runs ``Agent.cycle`` (sample -> window -> score
-> snapshot) with ``max_instances=1, coalesce=True``: a slow cycle never
overlaps the next and missed runs collapse into one; the interval trigger
fires on a fixed grid from the start time, so the schedule does not drift.
Scrapes only read the latest immutable snapshot.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.process_collector import ProcessCollector

from agent.bundle import BUNDLE_FILE, BundleError
from agent.calibration import Calibrator, needs_calibration, scorer_errors_fn
from agent.config import Config
from agent.exporter import NAMESPACE, AnomalyCollector, SnapshotRenderer
from agent.history import HistoryWriter
from agent.http import make_app, serve
from agent.model import LoadedModel, load_model
from agent.scoring import Scorer
from agent.snapshot import ModelInfo, Snapshot
from agent.sources import Source
from agent.webconfig import BasicAuth, load_web_config
from agent.window import RingWindow

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def model_info(model: LoadedModel) -> ModelInfo:
    b = model.bundle
    return ModelInfo(b.model_id, b.architecture, b.window, b.sha256, b.features)


def bundle_signature(path: str) -> tuple[Any, ...]:
    """Cheap change detector for the bundle files (mtime and size of each)."""
    root = Path(path).resolve()
    sig: list[Any] = [str(root)]
    for name in (BUNDLE_FILE, "model.tflite"):
        try:
            st = (root / name).stat()
            sig += [st.st_mtime_ns, st.st_size]
        except OSError:
            sig += [None, None]
    return tuple(sig)


class Agent:
    """Owns the model, the window and the snapshot; ``cycle()`` is the sampling job."""

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
        self.scorer = self._scorer()
        self.window = RingWindow(model.bundle.window, len(model.bundle.features))
        self.loaded_at = clock()
        self._lock = threading.Lock()  # serialises cycle() and model swaps
        self._reload_lock = threading.Lock()  # SIGHUP and the file watcher never load at the same time
        self._publish_lock = threading.Lock()  # snapshot read-modify-write (cycle, reload, skip listener)
        self._last_sample: float | None = None
        self._reloads = {"accepted": 0, "rejected": 0}
        self._scoring_errors = 0
        self._skipped = 0
        self._signature = bundle_signature(cfg.model.bundle)
        self.exhausted = False
        self.snapshot = Snapshot(model=model_info(model), calibration_ratio=self._calibration_ratio())
        self.duration = Histogram(f"{NAMESPACE}_scoring_duration_seconds",
                                  "Wall time of one sampling cycle (collect, score, publish).",
                                  buckets=DURATION_BUCKETS, registry=registry)
        self.collector = AnomalyCollector(lambda: self.snapshot, cfg.sampling.top_k)
        registry.register(self.collector)

    # -- the sampling job -------------------------------------------------
    def cycle(self) -> None:
        start = time.perf_counter()
        with self._lock:
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
            self.snapshot = replace(self.snapshot, reloads=dict(self._reloads), cycles_skipped=self._skipped,
                                    scoring_errors=self._scoring_errors, **changes)

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
            log.warning("%.0f s since the last sample (max %.0f s): window reset instead of scoring stale data",
                        now - self._last_sample, gap)
            self.window.clear()
            changes["result"] = None  # the last score describes rows no longer in the window: stop exporting it
        self._last_sample = now
        if self.history is not None:
            self.history.append(row.values, self.clock())
        self.window.push(row.values)
        cal = self.calibrator
        if cal is not None and not cal.calibrated:
            cal.observe(row.values)
            self._maybe_calibrate()
        elif cal is not None and cal.save_pending:  # the disk refused the calibration: retry until it is kept
            cal.save()
        changes.update(fill_ratio=self.window.fill_ratio, replay_label=row.label,
                       collector_errors=self.source.error_counts(), calibration_ratio=self._calibration_ratio(),
                       state_errors=self._state_errors())
        if self.window.full and (cal is None or cal.calibrated):
            changes.update(result=self.scorer.score_window(self.window.view()), scored_at=self.clock())
        self._publish(**changes)

    # -- calibration ----------------------------------------------------------
    def _scorer(self) -> Scorer:
        """The model's scorer, with the host's scaler and thresholds once calibrated."""
        cal, scorer = self.calibrator, self.model.scorer
        if cal is not None and cal.calibrated:
            return Scorer(cal.apply(scorer.spec), scorer.predictor)
        return scorer

    def _maybe_calibrate(self) -> None:
        cal = self.calibrator
        if cal is None or not cal.ready:
            return
        result = cal.calibrate(scorer_errors_fn(self.model.scorer))
        self.scorer = self._scorer()
        log.info("calibrated on %d rows (%d windows): threshold %.4g, scores are published from now on",
                 result.rows, result.windows, result.threshold)

    def _calibration_ratio(self) -> float:
        return 1.0 if self.calibrator is None else self.calibrator.progress

    def _state_errors(self) -> dict[str, int]:
        errors = {}
        if self.history is not None:
            errors["history_write"] = self.history.errors
        if self.calibrator is not None:
            errors["calibration_write"] = self.calibrator.write_errors
            errors["calibration_corrupt"] = self.calibrator.corrupt_state
        return errors

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
            source = self.source_factory(new) if self.source_factory else self.source
        except Exception as exc:  # a reload boundary: nothing in a new bundle may stop the running agent
            self._reloads["rejected"] += 1
            if isinstance(exc, (BundleError, OSError, ValueError)):
                log.error("model reload (%s) rejected, keeping %s: %s", reason, self.model.bundle.model_id, exc)
            else:
                log.exception("model reload (%s) failed unexpectedly, keeping %s", reason, self.model.bundle.model_id)
            self._publish()
            return False
        with self._lock:
            old, nb = self.model.bundle, new.bundle
            if (nb.features, nb.window) != (old.features, old.window):
                self.window = RingWindow(nb.window, len(nb.features))
            self.model, self.source, self.loaded_at = new, source, self.clock()
            if self.history is not None:
                self.history.set_features(nb.features)
            if self.calibrator is not None:
                if needs_calibration(nb.meta):
                    self.calibrator.rebind(nb.features, nb.window, nb.sha256, clip=nb.scaler.clip)
                    self._maybe_calibrate()  # same features: recalibrates at once from the kept rows
                else:
                    log.info("bundle %s is host-specific: calibration not needed", nb.model_id)
                    self.calibrator = None
            self.scorer = self._scorer()
            self._reloads["accepted"] += 1
            self._publish(model=model_info(new), result=None if self.window.fill_ratio < 1 else self.snapshot.result)
        log.info("model reload (%s) accepted: %s (%s)", reason, new.bundle.model_id, new.bundle.sha256[:12])
        return True

    def on_skipped(self, event: JobEvent) -> None:
        """APScheduler listener: a cycle was skipped (overlap or missed schedule)."""
        if event.job_id == "cycle":
            self._skipped += 1
            self._publish()

    def check_bundle_changed(self) -> None:
        if bundle_signature(self.cfg.model.bundle) != self._signature:
            self.reload("bundle files changed")

    # -- views for HTTP ---------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        snap = self.snapshot
        max_age = max(3 * self.cfg.sampling.interval_seconds, 2.0)
        age = None if snap.scored_at is None else self.clock() - snap.scored_at
        if self.calibrator is not None and not self.calibrator.calibrated:
            status = "calibrating"
        elif snap.result is None:
            status = "warming_up"
        elif age is not None and age > max_age:
            status = "stale"
        else:
            status = "ok"
        return status == "ok", {
            "status": status,
            "last_score_age_seconds": age,
            "max_age_seconds": max_age,
            "window_fill_ratio": snap.fill_ratio,
            "calibration_progress_ratio": snap.calibration_ratio,
            "model_id": self.model.bundle.model_id,
        }

    def model_doc(self) -> dict[str, Any]:
        b = self.model.bundle
        cal = self.calibrator
        calibration: dict[str, Any] = {"enabled": cal is not None}
        if cal is not None:
            calibration.update(progress=cal.progress, target_rows=cal.target_rows,
                               result=cal.result.to_doc() if cal.result else None)
        return {"path": str(b.path), "runtime": self.model.runtime, "loaded_at": self.loaded_at,
                "sha256": b.sha256, "reloads": dict(self._reloads), "calibration": calibration, "bundle": b.meta}


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about our state; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)


def host_state(cfg: Config, model: LoadedModel) -> tuple[Calibrator | None, HistoryWriter | None]:
    """Calibration and history for a live host, in the state directory (created if missing)."""
    state = Path(cfg.state_directory)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # not fatal: writes are counted as failures and retried
        log.error("state directory %s: %s", state, exc)
    b = model.bundle
    cal = None
    if cfg.calibration.enabled and needs_calibration(b.meta):
        cal = Calibrator.load(b.features, b.window, cfg.calibration.warmup_samples, cfg.calibration.pot_q,
                              state / "calibration.json", b.sha256, clip=b.scaler.clip,
                              # ~24 saves per warm-up: each rewrites every row so far (0.4 MB at 1440 rows)
                              save_every=max(10, cfg.calibration.warmup_samples // 24))
        log.info("calibration: %s", "reusing the saved host calibration" if cal.calibrated else
                 f"collecting {cal.target_rows} samples before the first score ({cal.progress:.0%} done)")
    history = None
    if cfg.history.enabled:
        history = HistoryWriter(state / "history", b.features, max_bytes=cfg.history.max_bytes,
                                rows_per_file=cfg.history.rows_per_file, interval=cfg.sampling.interval_seconds)
    return cal, history


def run(cfg: Config, source: Source, model: LoadedModel, exit_at_end: bool = False,
        source_factory: Callable[[LoadedModel], Source] | None = None, live: bool = False) -> int:
    """Serve until SIGTERM/SIGINT; SIGHUP reloads the bundle.  Returns the exit code.

    ``live``: the rows come from this host, so calibrate and record history
    (a replayed SMD file is already in the model's scale).
    """
    stop = threading.Event()  # set by the scheduler thread when a replay ends (exit_at_end)
    # Handlers only flip these flags: a handler runs in the main thread between any two bytecodes, so one
    # that takes a lock (threading.Event.set) can interrupt the lock's holder and deadlock, or nest until
    # RecursionError under a burst of signals.  Installed first: SIGHUP's default action kills the process.
    flags = {"stop": False, "hup": False}
    signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("stop", True))
    signal.signal(signal.SIGINT, lambda *_: flags.__setitem__("stop", True))
    signal.signal(signal.SIGHUP, lambda *_: flags.__setitem__("hup", True))
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    calibrator, history = host_state(cfg, model) if live else (None, None)
    agent = Agent(cfg, source, model, registry, on_exhausted=stop.set if exit_at_end else None,
                  source_factory=source_factory, calibrator=calibrator, history=history)
    web = load_web_config(cfg.web.config_file) if cfg.web.config_file else None
    auth = BasicAuth(web.users) if web is not None and web.users else None
    # /metrics: the snapshot families rendered once per cycle, process metrics and the histogram per scrape.
    per_scrape = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=per_scrape)
    per_scrape.register(agent.duration)
    cached = SnapshotRenderer(agent.collector, lambda: agent.snapshot)
    app = make_app(per_scrape, agent.health, agent.model_doc, auth, cached)
    httpd, _ = serve(cfg.web.listen_address, app, web, cfg.web.request_timeout_seconds)
    log.info("serving on %s%s; model %s (%s, window %d, %d features) on %s",
             cfg.web.listen_address, " (TLS)" if web and web.tls else "", model.bundle.model_id,
             model.bundle.architecture, model.bundle.window, len(model.bundle.features), model.runtime)

    scheduler = BackgroundScheduler(timezone="UTC")
    interval = cfg.sampling.interval_seconds
    scheduler.add_job(agent.cycle, IntervalTrigger(seconds=interval), id="cycle", max_instances=1,
                      coalesce=True, misfire_grace_time=max(1, int(interval)), next_run_time=_now())
    if cfg.model.watch:
        scheduler.add_job(agent.check_bundle_changed, IntervalTrigger(seconds=cfg.model.watch_interval_seconds),
                          id="watch", max_instances=1, coalesce=True)
    scheduler.add_listener(agent.on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    scheduler.start()
    sd_notify("READY=1")
    try:
        while not (flags["stop"] or stop.is_set()):
            time.sleep(0.2)
            if flags["hup"]:
                flags["hup"] = False
                agent.reload("SIGHUP")
    finally:
        sd_notify("STOPPING=1")
        log.info("shutting down")
        scheduler.shutdown(wait=True)
        httpd.shutdown()
        httpd.server_close()
        if calibrator is not None:
            calibrator.save()
        if history is not None:
            history.close()
    return 0


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
