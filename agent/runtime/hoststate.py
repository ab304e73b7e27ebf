"""The state a host keeps in the state directory: its calibration and its history, and the log lines saying so.

Shared by both drivers of the cycle (:mod:`agent.runtime.daemon`, :mod:`agent.runtime.backtest`), so that a
backtest wires exactly what the live daemon wires.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agent.calibrate.calibrator import Calibrator
from agent.calibrate.recipe import config_recipe, needs_calibration
from agent.config import Config
from agent.history.scores import FILE as SCORES_FILE
from agent.history.scores import ScoreHistory
from agent.history.writer import HistoryWriter
from agent.model.loaded import LoadedModel
from agent.serve.page import age_text
from agent.serve.status import calibration_state, collected_rows, iso

log = logging.getLogger(__name__)


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
        cal = Calibrator.load(
            b.features,
            b.window,
            cfg.calibration.warmup_samples,
            cfg.calibration.pot_q,
            state / "calibration.json",
            b.sha256,
            clip=b.scaler.clip,
            # ~24 saves per warm-up: each rewrites every row so far (0.4 MB at 1440 rows)
            save_every=max(10, cfg.calibration.warmup_samples // 24),
            recipe=config_recipe(b, cfg),
            recent_samples=cfg.calibration.recent_samples,
            recalibrate_seconds=cfg.calibration.recalibrate_hours * 3600.0,
            keep_scaler=cfg.calibration.refit_scaler == "warmup",
        )
    log.info("%s", calibration_line(cfg, model, cal))
    history = None
    if cfg.history.enabled:
        history = HistoryWriter(
            state / "history",
            b.features,
            max_bytes=cfg.history.max_bytes,
            rows_per_file=cfg.history.rows_per_file,
            interval=cfg.sampling.interval_seconds,
        )
    log.info("%s", state_line(cfg, cal, history))
    return cal, history


def score_history(cfg: Config, model: LoadedModel, persist: bool = True) -> ScoreHistory | None:
    """The ring of recent scores (``history.score_samples``), kept in the state directory when ``persist``."""
    if not cfg.history.score_samples:
        return None
    path = Path(cfg.state_directory) / SCORES_FILE if persist else None
    ring = ScoreHistory(cfg.history.score_samples, model.bundle.features, path)
    if len(ring):
        log.info("score history: %d scores reloaded from %s", len(ring), path)
    return ring


def calibration_line(cfg: Config, model: LoadedModel, cal: Calibrator | None) -> str:
    """The startup log line saying where the calibration stands: reused, resumed, starting, or not used."""
    if cal is None:
        if not cfg.calibration.enabled:
            return "calibration: disabled (calibration.enabled: false): the bundle's own scaling and thresholds"
        return f"calibration: not needed (bundle {model.bundle.model_id} was trained on this host)"
    if cal.result is not None:
        r = cal.result
        return (
            f"calibration: reusing the saved host calibration from {iso(r.calibrated_at)} ({r.rows} rows, "
            f"{calibration_state(cal)})"
        )
    n, target = collected_rows(cal), cal.target_rows
    eta = age_text((target - n) * cfg.sampling.interval_seconds)
    if n:
        return f"calibration: resumed the warm-up at {n}/{target} rows; first score in {target - n} samples (~{eta})"
    return f"calibration: starting the warm-up: {target} samples (~{eta}) before the first score"


def state_line(cfg: Config, cal: Calibrator | None, history: HistoryWriter | None) -> str:
    """The startup log line saying where state is kept."""
    parts = [
        f"state directory {Path(cfg.state_directory).absolute()}",
        f"calibration state {cal.state_path.absolute()}" if cal is not None else "no calibration state",
    ]
    if history is not None:
        parts.append(
            f"history in {history.directory.absolute()} (up to {cfg.history.max_bytes / 2**20:.0f} MiB, "
            f"{cfg.history.rows_per_file} rows per file)"
        )
    else:
        parts.append("history off (history.enabled: false)")
    return "; ".join(parts)
