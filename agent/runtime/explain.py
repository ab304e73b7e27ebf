"""``anomaly-agent explain --at TIME``: which metric led the window at TIME, and how far from its normal.

Two ways to the same document (:func:`agent.score.explain.explain_window`):

* against a running agent (``--web.listen-address``, the default ``:9840``, or ``--url``
  with basic auth and TLS as ``status`` has them: :mod:`agent.serve.client`):
  ``GET /api/v1/explain?at=TIME``; the agent reads the window's rows back
  from its history files, removes the seasonal offset it would have
  removed, scores the window with its current calibration and ranks the
  score among the last day's in its score ring;
* offline (``--history DIR --bundle DIR``): the recorded rows up to TIME go
  through the backtest path (:mod:`agent.runtime.backtest`: the daemon's cycle
  at a simulated clock, calibrating on the first rows as a new host would),
  and the window the agent held at TIME is explained.

A TIME outside the history (or the score ring) exits 2 with the range that
exists.  The table prints each leading feature's value against its learned
normal (centre and scale in the feature's units, z), its share of the score
and its feature score.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.collect.features import CATALOG
from agent.config import Config, load_config, validate_files
from agent.history.reader import load_recorded
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.backtest import close, simulated_agent
from agent.runtime.cycle import Agent
from agent.score.explain import explain_window
from agent.serve.client import Refused, Unreachable, add_agent_options, agent_base, fetch_json
from agent.serve.timeline import iso, parse_time

DAY = 86400.0
GAP_INTERVALS = 3.0  # the window must end within this many intervals of TIME


class OutsideHistory(ValueError):
    """TIME is not covered by the recorded rows (the message gives the range that is)."""


def _window_index(timestamps: np.ndarray, at: float, window: int, interval: float) -> int:
    """Index of the last row at or before ``at`` with a full window behind it; OutsideHistory otherwise."""
    if not len(timestamps):
        raise OutsideHistory("the history holds no rows")
    span = f"the history covers {iso(float(timestamps[0]))} to {iso(float(timestamps[-1]))}"
    # the sample nearest TIME: times are printed to the second, samples land a fraction after it
    i = int(np.searchsorted(timestamps, at + 0.5 * interval, side="right")) - 1
    if i < window - 1 or at - float(timestamps[i]) > GAP_INTERVALS * interval:
        raise OutsideHistory(f"{iso(at)} is outside the history ({span}; a window needs {window} rows before it)")
    return i


def explain_live(agent: Agent, at: float) -> dict[str, Any]:
    """``/api/v1/explain``: the window at ``at`` from the agent's history, scored as the agent scores now."""
    if agent.history is None:
        raise OutsideHistory("history.enabled is false: the agent keeps no rows to explain")
    b, interval = agent.model.bundle, agent.cfg.sampling.interval_seconds
    since = at - (b.window + GAP_INTERVALS) * interval
    rec = load_recorded(agent.history.directory, b.features, since=since)
    i = _window_index(rec.timestamps, at, b.window, interval)
    rows = rec.values[i - b.window + 1 : i + 1].astype(np.float64)
    stamps = rec.timestamps[i - b.window + 1 : i + 1]
    day = np.array([] if agent.scores is None else [e.score for e in agent.scores.entries(at - DAY, at)])
    with agent.lock:  # the interpreter and the seasonal runtime are the cycle's: never beside a running one
        s = agent.seasonal
        if s is not None and s.profile is not None:  # the offsets the cycle removed (without relearning)
            p, local = s.profile, s.local
            rows = np.stack([p.apply(r, local(float(t)), s.cfg.scale, s.cfg.clamp) for r, t in zip(rows, stamps)])
        doc = explain_window(agent.scorer, rows, day)
    return {"at": iso(float(stamps[-1])), "source": "running agent", **doc}


def explain_offline(cfg: Config, model: LoadedModel, rows: np.ndarray, stamps: np.ndarray, at: float) -> dict[str, Any]:
    """The window at ``at`` of recorded rows, through the backtest path (a new host calibrating on them)."""
    i = _window_index(stamps, at, model.bundle.window, cfg.sampling.interval_seconds)
    with tempfile.TemporaryDirectory(prefix="explain-") as state:
        agent, clock = simulated_agent(cfg, model, rows[: i + 1], float(stamps[0]), Path(state), cfg.seasonal.enabled)
        published = np.full(i + 1, np.nan)
        try:
            for k in range(i + 1):
                clock.now = float(stamps[k])
                agent.cycle()
                res = agent.snapshot.result
                published[k] = np.nan if res is None else res.score
            if agent.snapshot.result is None:
                raise OutsideHistory(f"the agent published no score at {iso(at)} (still calibrating: see --help)")
            day = published[(stamps[: i + 1] > at - DAY)][:-1]
            doc = explain_window(agent.scorer, agent.window.view(), day)
        finally:
            close(agent)
    return {"at": iso(float(stamps[i])), "source": "backtest of the recorded history", **doc}


def render(doc: dict[str, Any]) -> str:
    """The explanation as a terminal table."""
    tiers = ", ".join(f"{k} {v:.3g}" for k, v in doc.get("tiers", {}).items())
    head = [
        f"{doc['at']} ({doc['source']}): score {doc['score']:.3g}"
        + (" - ANOMALOUS (above 1)" if doc["anomalous"] else "")
        + (f" [tiers: {tiers}]" if tiers else ""),
        f"rank {doc['rank']} of {doc['of']} scores in the 24 h up to it (1 = the highest)",
        "",
    ]
    header = ("feature", "unit", "value", "normal (centre)", "scale (1 sigma)", "z", "share", "feature score")
    rows = [
        (
            f["feature"],
            CATALOG[f["feature"]].unit if f["feature"] in CATALOG else "",
            f"{f['value']:.4g}",
            f"{f['centre']:.4g}",
            f"{f['scale']:.3g}",
            f"{f['z']:+.1f}",
            f"{f['share']:.0%}",
            f"{f['feature_score']:.3g}",
        )
        for f in doc["features"]
    ]
    widths = [max(len(r[c]) for r in (header, *rows)) for c in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in (header, *rows)]
    note = "" if doc["scaler"] == "zscore" else "(a min-max bundle: normal is the low end of the range, scale its span)"
    return "\n".join(head + lines + ([note] if note else [])) + "\n"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("explain", help="which features led the score at a time, against their learned normal")
    p.add_argument("--at", required=True, help="ISO 8601 time (Z or an offset; naive = UTC) or unix seconds")
    add_agent_options(p, timeout=30.0)  # the running agent
    p.add_argument("--history", type=Path, help="offline: the agent's history directory (needs --bundle)")
    p.add_argument("--bundle", type=Path, help="offline: the model bundle to run the history through")
    p.add_argument("--config.file", dest="config_file", help="offline: YAML config (default: built-in defaults)")
    p.add_argument("--json", action="store_true", help="print the JSON document instead of the table")


def _fetch(args: argparse.Namespace, at: float) -> dict[str, Any]:
    """The running agent's ``/api/v1/explain`` at ``at``; OutsideHistory with its reason when it refuses."""
    try:
        return fetch_json(agent_base(args), "api/v1/explain", args.timeout, {"at": iso(at)}, answered=())
    except Refused as exc:
        raise OutsideHistory(f"{exc.url}: {exc.reason if exc.error is None else exc.error}") from None


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        at = parse_time(args.at)
    except ValueError:
        print(f"anomaly-agent explain: --at {args.at!r}: expected an ISO 8601 time or unix seconds", file=sys.stderr)
        return 2
    try:
        if args.history is not None:
            if args.bundle is None:
                raise OutsideHistory("--history needs --bundle")
            cfg = load_config(args.config_file, check_files=False)
            cfg = replace(cfg, model=replace(cfg.model, bundle=str(args.bundle)))
            validate_files(cfg, args.config_file or "flags")
            model = load_model(cfg.model.bundle, cfg.model.num_threads)
            rec = load_recorded(args.history, model.bundle.features)
            doc = explain_offline(cfg, model, rec.values, rec.timestamps, at)
        else:
            doc = _fetch(args, at)
    except (OutsideHistory, Unreachable, FileNotFoundError, OSError) as exc:
        print(f"anomaly-agent explain: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=1) if args.json else render(doc), end="" if not args.json else "\n")
    return 0
