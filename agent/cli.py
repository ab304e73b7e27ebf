"""``anomaly-agent``: run, check-config, replay, score and status (Prometheus flag style).

Exit codes: 0 clean stop, 2 bad configuration, bad bundle or bad input file
(restarting will not help, so the systemd unit does not restart on 2),
1 anything else.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import signal
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from agent import journal
from agent.buildinfo import revision, version
from agent.collect.sampler import Sampler
from agent.config import Config, ConfigError, load_config, validate_files
from agent.history import smd
from agent.memory import tune_allocator
from agent.model.bundle import BundleError
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.backtest import add_parser as add_backtest_parser
from agent.runtime.backtest import cmd_backtest
from agent.runtime.daemon import run
from agent.runtime.explain import add_parser as add_explain_parser
from agent.runtime.explain import cmd_explain
from agent.runtime.sources import LiveSource, ReplaySource
from agent.serve.status_cmd import add_parser as add_status_parser
from agent.serve.status_cmd import cmd_status
from agent.serve.webconfig import load_web_config

log = logging.getLogger("agent")
EXIT_CONFIG = 2
MAX_SPEED = 100_000.0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config.file", dest="config_file", help="YAML config (default: built-in defaults)")
    p.add_argument("--web.listen-address", dest="listen_address", help="[host]:port to serve on (default :9840)")
    p.add_argument("--log.level", dest="log_level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--bundle", help="model bundle directory (overrides model.bundle)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomaly-agent", description="Host anomaly-detection exporter for Prometheus."
    )
    parser.add_argument("--version", action="version", version=f"anomaly-agent {version()} (revision {revision()})")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="sample this host and serve /metrics")
    _common(run)
    check = sub.add_parser("check-config", help="validate a config file (and its bundle) without starting")
    check.add_argument("file")
    rp = sub.add_parser("replay", help="feed an SMD-format test file through the scoring path and serve /metrics")
    _common(rp)
    rp.add_argument("--data", required=True, type=Path, help="SMD root (test/, test_label/)")
    rp.add_argument("--machine", required=True)
    rp.add_argument("--speed", type=float, default=10.0, help="rows per second (default 10)")
    rp.add_argument("--start", type=int, default=0, help="first row to replay (0-indexed)")
    rp.add_argument("--end", type=int, default=None, help="stop before this row (default: end of file)")
    rp.add_argument("--loop", action="store_true", help="start again at the end")
    rp.add_argument("--exit-at-end", action="store_true", help="stop when the file is exhausted")
    rp.add_argument(
        "--calibrate",
        type=int,
        default=0,
        metavar="N",
        help="calibrate on the first N replayed rows as a new host would (warm-up, POT, daily "
        "recalibration; state in a temporary directory), instead of the bundle's own scaling",
    )
    sc = sub.add_parser("score", help="score a whole SMD-format file offline into a CSV")
    sc.add_argument("--bundle", required=True, type=Path)
    sc.add_argument("--input", required=True, type=Path)
    sc.add_argument("--output", required=True, type=Path)
    add_status_parser(sub)
    add_backtest_parser(sub)
    add_explain_parser(sub)
    return parser


def _config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config_file, check_files=False)
    if args.listen_address:
        cfg = replace(cfg, web=replace(cfg.web, listen_address=args.listen_address))
    if args.bundle:
        cfg = replace(cfg, model=replace(cfg.model, bundle=str(args.bundle)))
    if args.log_level:
        cfg = replace(cfg, log_level=args.log_level)
    validate_files(cfg, args.config_file or "flags")
    return cfg


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    journal.adopt(logging.getLogger())  # under systemd: syslog priorities, the journal's own timestamps


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.file)
    if cfg.web.config_file:
        load_web_config(cfg.web.config_file)
    model = load_model(cfg.model.bundle, cfg.model.num_threads)
    print(
        f"{args.file}: OK (model {model.bundle.model_id}, {len(model.bundle.features)} features, "
        f"window {model.bundle.window}, runtime {model.runtime})"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _config(args)
    _setup_logging(cfg.log_level)
    model = load_model(cfg.model.bundle, cfg.model.num_threads)

    def live(m: LoadedModel) -> LiveSource:
        c = cfg.collector
        return LiveSource(
            Sampler(
                procfs=Path(c.procfs),
                sysfs=Path(c.sysfs),
                nics=c.nics or None,
                disks=c.disks or None,
                features=m.bundle.features,
            )
        )

    return run(cfg, live(model), model, source_factory=live, live=True)


def cmd_replay(args: argparse.Namespace) -> int:
    # The scheduler's resolution is 1 µs and its longest interval a day: 10 µs .. 1 day per row.
    if not (math.isfinite(args.speed) and 1 / 86400 <= args.speed <= MAX_SPEED):
        raise ConfigError(
            [f"--speed: must be a number of rows per second in 1.2e-05..{MAX_SPEED:g}, got {args.speed}"], "flags"
        )
    cfg = _config(args)
    # Replayed rows carry their own time: a scheduling hiccup is not a data gap, so never reset the window.
    cfg = replace(cfg, sampling=replace(cfg.sampling, interval_seconds=1.0 / args.speed, max_gap_intervals=1e9))
    _setup_logging(cfg.log_level)
    model = load_model(cfg.model.bundle, cfg.model.num_threads)

    def replay(m: LoadedModel) -> ReplaySource:
        return ReplaySource(
            args.data, args.machine, len(m.bundle.features), loop=args.loop, start=args.start, end=args.end
        )

    source = replay(model)
    log.info(
        "replaying %s/%s: %d rows at %.3g rows/s (labels: %s)",
        args.data,
        args.machine,
        len(source.rows),
        args.speed,
        "yes" if source.labels is not None else "no",
    )
    if args.calibrate <= 0:
        return run(cfg, source, model, exit_at_end=args.exit_at_end, source_factory=None)
    with tempfile.TemporaryDirectory(prefix="replay-state-") as state:
        # SMD rows are min-max scaled to [0, 1]: noise floors are a share of that range, not host units
        cfg = replace(
            cfg,
            state_directory=state,
            history=replace(cfg.history, enabled=False),
            calibration=replace(cfg.calibration, enabled=True, warmup_samples=args.calibrate, noise_floors="range"),
        )
        return run(cfg, source, model, exit_at_end=args.exit_at_end, source_factory=None, calibrate=True)


def cmd_score(args: argparse.Namespace) -> int:
    model = load_model(args.bundle)
    names = model.bundle.features
    x = smd.load_rows(args.input)
    if x.shape[1] != len(names):
        raise smd.SMDFormatError(f"{args.input}: {x.shape[1]} columns but the bundle expects {len(names)} features")
    s = model.scorer.score_series(x)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["score", "anomalous", *names])
        for t in range(len(x)):
            if np.isnan(s.score[t]):
                w.writerow([""] * (2 + len(names)))
            else:
                w.writerow([f"{s.score[t]:.6g}", int(s.score[t] > 1.0), *(f"{v:.6g}" for v in s.feature_scores[t])])
    scored = int(np.isfinite(s.score).sum())
    print(f"{args.output}: {len(x)} rows, {scored} scored, {int((s.score > 1).sum())} above threshold")
    return 0


COMMANDS = {
    "run": cmd_run,
    "check-config": cmd_check_config,
    "replay": cmd_replay,
    "score": cmd_score,
    "backtest": cmd_backtest,
    "explain": cmd_explain,
    "status": cmd_status,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("run", "replay"):
        # Until the daemon installs its handler, SIGHUP's default action would kill a starting agent;
        # the bundle is being loaded anyway, so the request is moot.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        tune_allocator()  # a long-lived process: large freed blocks go back to the kernel
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(journal.error(f"anomaly-agent: {exc}"), file=sys.stderr)
        return EXIT_CONFIG
    except BundleError as exc:
        print(journal.error(f"anomaly-agent: bad model bundle: {exc}"), file=sys.stderr)
        return EXIT_CONFIG
    except (ValueError, FileNotFoundError) as exc:  # SMDFormatError, bad replay range
        print(journal.error(f"anomaly-agent: bad input: {exc}"), file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # e.g. port in use: may be transient, so a restart can help
        print(journal.error(f"anomaly-agent: {exc}"), file=sys.stderr)
        return 1
