"""``anomaly-agent backtest``: recorded rows through exactly what the live daemon runs.

Each row is one sampling cycle of the daemon's own :class:`~agent.runtime.cycle.Agent`
(window, gap reset, warm-up and calibration as configured, thresholds, and
whatever online adaptation the cycle has), wired by the same
:func:`~agent.runtime.hoststate.host_state` as the daemon; only the scheduler, the HTTP server and
(unless asked) history recording are left out, and time is simulated: the
clock stands at the row's timestamp (``--history``) or advances by
``sampling.interval_seconds`` per row (``--input``), so the cycles run as
fast as the model allows.  After each cycle the score the agent *publishes*
(what a scrape would read, ``Snapshot.result``) is recorded; nothing here
scores by itself.  Reference: ``docs/backtest.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry

from agent.config import Config, load_config, validate_files
from agent.history import smd
from agent.history.reader import load_recorded
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.cycle import Agent
from agent.runtime.hoststate import host_state
from agent.runtime.sources import RowsSource
from agent.score.alerts import RULE_LEVEL, RULE_RUN, alert_figures, alert_fires

log = logging.getLogger(__name__)


class SimClock:
    """The simulated wall and monotonic clock: the timestamp of the row being sampled."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class BacktestResult:
    """What the agent published after each row; NaN where it published no score."""

    score: np.ndarray  # (T,)
    feature_scores: np.ndarray  # (T, F) in the bundle's feature order
    timestamps: np.ndarray  # (T,) the simulated time of each cycle
    seconds: float  # wall time of the cycles

    @property
    def scored(self) -> int:
        return int(np.isfinite(self.score).sum())


def simulated_agent(
    cfg: Config, model: LoadedModel, rows: np.ndarray, t0: float, state_dir: Path, record_history: bool = False
) -> tuple[Agent, SimClock]:
    """The daemon's cycle on ``rows`` (T, F raw, NaN = unread) with a simulated clock starting at ``t0``,
    its state (calibration, and history with ``record_history``) in ``state_dir``."""
    cfg = replace(cfg, state_directory=str(state_dir), history=replace(cfg.history, enabled=record_history))
    calibrator, history = host_state(cfg, model)
    clock = SimClock(t0)
    if calibrator is not None:  # its daily recalibration counts simulated days, not the wall clock's
        calibrator.clock = clock
    agent = Agent(
        cfg,
        RowsSource(rows),
        model,
        CollectorRegistry(auto_describe=False),
        clock=clock,
        monotonic=clock,
        calibrator=calibrator,
        history=history,
    )
    return agent, clock


def close(agent: Agent) -> None:
    """As the daemon's shutdown: the calibration saved, the history closed."""
    if agent.calibrator is not None:
        agent.calibrator.save()
    if agent.history is not None:
        agent.history.close()


def backtest(
    cfg: Config,
    model: LoadedModel,
    rows: np.ndarray,
    timestamps: np.ndarray,
    state_dir: Path,
    record_history: bool = False,
) -> BacktestResult:
    """Run one agent cycle per row of ``rows`` (T, F raw, NaN = unread) at ``timestamps`` (T,).

    Calibration state (and history, with ``record_history``) lives in
    ``state_dir``; a calibration already there for this bundle is reused,
    as after a restart of the live agent.
    """
    if len(rows) != len(timestamps):
        raise ValueError(f"{len(rows)} rows but {len(timestamps)} timestamps")
    agent, clock = simulated_agent(
        cfg, model, rows, float(timestamps[0]) if len(timestamps) else 0.0, state_dir, record_history
    )
    n_features = len(model.bundle.features)
    score = np.full(len(rows), np.nan)
    feature_scores = np.full((len(rows), n_features), np.nan)
    start = time.perf_counter()
    try:
        for i, t in enumerate(timestamps):
            clock.now = float(t)
            agent.cycle()
            res = agent.snapshot.result  # what a scrape reads now
            if res is not None:
                score[i] = res.score
                feature_scores[i] = res.feature_scores
    finally:
        close(agent)
    return BacktestResult(score, feature_scores, np.asarray(timestamps, np.float64), time.perf_counter() - start)


def input_timestamps(n: int, interval: float, end: float) -> np.ndarray:
    """A row every ``interval`` seconds, the last one at ``end``: an SMD file carries no time."""
    return end - interval * np.arange(n - 1, -1, -1, dtype=np.float64)


# -- I/O at the edges ------------------------------------------------------------------------------
def csv_lines(result: BacktestResult, features: tuple[str, ...], with_timestamps: bool) -> Iterator[str]:
    """The output CSV text: header, then one line per input row (empty cells where no score was published)."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(
        ["row", *(["timestamp"] if with_timestamps else []), "score", "anomalous", *features]
    )
    yield header.getvalue()
    empty = "," * (2 + len(features))
    scored = ",".join(["%.6g", "%d", *["%.6g"] * len(features)])  # %-formatting: ~3x faster than f-strings
    for i, s in enumerate(result.score):
        head = f"{i},{result.timestamps[i]:.3f}," if with_timestamps else f"{i},"
        if np.isnan(s):
            yield head + empty[1:] + "\n"
        else:
            yield head + scored % (s, s > RULE_LEVEL, *result.feature_scores[i]) + "\n"


def summary(output: Path, result: BacktestResult, labels: np.ndarray | None, interval: float) -> str:
    """The one summary line: rows, scored rows, alerts under the shipped rule (+ figures against labels)."""
    n = len(result.score)
    rate = n / result.seconds if result.seconds > 0 else float("inf")
    line = (
        f"{output}: {n} rows, {result.scored} scored, {len(alert_fires(result.score))} alerts "
        f"(score > {RULE_LEVEL:g} for {RULE_RUN} samples); {result.seconds:.1f} s, {rate:.0f} rows/s"
    )
    if labels is not None:
        f = alert_figures(result.score, labels, rows_per_day=86400.0 / interval)
        delay = "n/a" if np.isnan(f.median_delay_samples) else f"{f.median_delay_samples:g} samples"
        line += (
            f"; labels: {f.false_alerts} false alerts in {f.normal_days:.2f} normal days "
            f"({f.false_alerts_per_day:.2f}/day), {f.incidents_alerted}/{f.incidents} incidents alerted, "
            f"median delay {delay}"
        )
    return line


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bt = sub.add_parser("backtest", help="run recorded rows through the live agent's cycle offline into a CSV")
    bt.add_argument("--bundle", required=True, type=Path, help="model bundle directory")
    src = bt.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help="SMD-format file (one row per sampling interval)")
    src.add_argument("--history", type=Path, help="the agent's history directory (rows with timestamps)")
    bt.add_argument("--output", required=True, type=Path, help="CSV to write")
    bt.add_argument("--config.file", dest="config_file", help="YAML config (default: built-in defaults)")
    bt.add_argument("--labels", type=Path, help="SMD test_label file (0/1 per row): alert figures in the summary")
    bt.add_argument("--state-dir", type=Path, help="state directory (calibration; default: a temporary one)")
    bt.add_argument(
        "--record-history",
        action="store_true",
        help="also record the rows under STATE_DIR/history, as the live agent does (for whatever "
        "reads the history back during the run; a temporary state directory is deleted at the end)",
    )
    bt.add_argument(
        "--noise-floors",
        choices=["units", "range"],
        help="z-score noise floors (default: range for --input, whose SMD rows are scaled to [0, 1]; "
        "calibration.noise_floors for --history)",
    )
    bt.add_argument("--log.level", dest="log_level", default="warning", choices=["debug", "info", "warning", "error"])


def _load_rows(args: argparse.Namespace, cfg: Config, features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    if args.input is not None:
        x = smd.load_rows(args.input)
        if x.shape[1] != len(features):
            raise smd.SMDFormatError(
                f"{args.input}: {x.shape[1]} columns but the bundle expects {len(features)} features"
            )
        interval = cfg.sampling.interval_seconds
        return x, input_timestamps(len(x), interval, float(np.floor(time.time() / interval) * interval))
    rec = load_recorded(args.history, features)
    if rec.interval is not None and not np.isclose(rec.interval, cfg.sampling.interval_seconds):
        log.warning(
            "history was recorded every %g s but sampling.interval_seconds is %g s: gaps are judged "
            "by the configured interval",
            rec.interval,
            cfg.sampling.interval_seconds,
        )
    return rec.values, rec.timestamps


def cmd_backtest(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config_file, check_files=False)
    cfg = replace(cfg, model=replace(cfg.model, bundle=str(args.bundle)))
    floors = args.noise_floors or ("range" if args.input is not None else cfg.calibration.noise_floors)
    cfg = replace(cfg, calibration=replace(cfg.calibration, noise_floors=floors))
    validate_files(cfg, args.config_file or "flags")
    model = load_model(cfg.model.bundle, cfg.model.num_threads)
    features = model.bundle.features
    rows, timestamps = _load_rows(args, cfg, features)
    labels = smd.load_labels(args.labels, len(rows)) if args.labels is not None else None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        out = stack.enter_context(open(args.output, "w", newline=""))  # before the run: fail fast if unwritable
        state = args.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="backtest-")))
        # the seasonal profile learns from the recorded history, as on the live agent (docs/seasonality.md)
        result = backtest(
            cfg, model, rows, timestamps, state, record_history=args.record_history or cfg.seasonal.enabled
        )
        out.writelines(csv_lines(result, features, with_timestamps=args.history is not None))
    print(summary(args.output, result, labels, cfg.sampling.interval_seconds))
    return 0
