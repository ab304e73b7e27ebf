"""Seasonal synthetic hosts: scheduled jobs on a wall clock, written as the agent's history.

This module owns the ``anomaly-train synth`` command: without ``--seasonal`` it
writes :func:`training.synth.generate` data in the SMD layout
(:func:`training.smd_files.write_smd`); with ``--seasonal`` a host as below.
The normal behaviour is :func:`training.synth._columns` (daily traffic,
bursts, noise) sampled every ``interval`` seconds from ``start``; on top of
it run scheduled jobs at local wall-clock times of ``tz`` (zoneinfo, so a
daylight-saving change moves them in UTC as cron does): a nightly backup
(02:00, 20 min: disk writes and CPU) and a Monday batch (09:00, 40 min: CPU,
memory, network).  Labelled anomalies are added off schedule, one of them
the backup's own shape on a Wednesday at 14:00.  The rows are written with
:class:`agent.history.writer.HistoryWriter`, so the directory is exactly what the
live agent records (``.txt``/``.ts``/``.json`` file sets), plus
``labels.txt`` (0/1 per row, for ``backtest --labels``) and ``events.csv``.
Pure numpy (never TensorFlow).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from agent.collect.features import SMD38_NAMES
from agent.history.writer import HistoryWriter
from training import synth
from training.smd_files import write_smd
from training.synth import KINDS, _columns

# Job shapes: feature -> added level (the base series live around 0-1).
BACKUP = {
    "disk_wb": 0.8,
    "disk_w": 0.6,
    "disk_u": 0.7,
    "disk_q": 0.5,
    "disk_wa": 0.4,
    "cpu_r": 0.35,
    "load_1": 0.5,
    "load_5": 0.4,
    "load_15": 0.25,
}
BATCH = {
    "cpu_r": 0.5,
    "load_1": 0.7,
    "load_5": 0.6,
    "load_15": 0.4,
    "mem_u": 0.3,
    "mem_u_e": 0.25,
    "eth1_fi": 0.5,
    "eth1_pi": 0.45,
    "in_segs": 0.4,
}
LEAK = {"mem_u": 0.6, "mem_u_e": 0.5, "so": 0.4}  # an off-schedule anomaly of another shape


@dataclass(frozen=True)
class Job:
    """A shape that runs at ``hour:minute`` local time for ``minutes``; ``weekday`` None = daily (0 = Monday)."""

    name: str
    shape: dict[str, float]
    hour: int
    minute: int
    minutes: int
    weekday: int | None = None


SCHEDULE = (Job("nightly_backup", BACKUP, 2, 0, 20), Job("monday_batch", BATCH, 9, 0, 40, weekday=0))


@dataclass(frozen=True)
class Event:
    """One occurrence in the data: a scheduled run (label 0) or an anomaly (label 1)."""

    name: str
    start: float  # unix seconds
    end: float
    anomaly: bool


@dataclass(frozen=True)
class SeasonalHost:
    values: np.ndarray  # (T, F)
    timestamps: np.ndarray  # (T,) unix seconds, every `interval`
    labels: np.ndarray  # (T,) int8
    features: tuple[str, ...]
    events: tuple[Event, ...]
    tz: str


def local_start(day: datetime, hour: int, minute: int, tz: ZoneInfo) -> float:
    """Unix time of ``hour:minute`` local on ``day``'s date; a time skipped by DST runs after the jump (cron)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz, fold=0).timestamp()


def scheduled_runs(t0: float, t1: float, tz: ZoneInfo, schedule: tuple[Job, ...] = SCHEDULE) -> list[tuple[Job, float]]:
    """Every run of ``schedule`` starting in [t0, t1)."""
    runs = []
    day = datetime.fromtimestamp(t0, tz).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    while day.timestamp() < t1 + 86400:
        for job in schedule:
            if job.weekday is None or day.weekday() == job.weekday:
                s = local_start(day, job.hour, job.minute, tz)
                if t0 <= s < t1:
                    runs.append((job, s))
        day += timedelta(days=1)  # aware arithmetic is wall-clock: the next local midnight
    return sorted(runs, key=lambda r: r[1])


def _add(x: np.ndarray, names: tuple[str, ...], shape: dict[str, float], rows: slice, rng: np.random.Generator) -> None:
    n = len(range(*rows.indices(len(x))))
    ramp = np.minimum(1.0, np.minimum(np.arange(1, n + 1), np.arange(n, 0, -1)) / 2.0)  # 2-row ramps
    for f, level in shape.items():
        if f in names:
            x[rows, names.index(f)] += level * ramp * (1 + rng.normal(0, 0.05, n))


def generate(
    days: float = 28,
    start: str = "2026-10-05T00:00:00",
    tz: str = "Europe/Berlin",
    interval: float = 60.0,
    seed: int = 0,
    anomaly_after_days: float = 14,
) -> SeasonalHost:
    """``days`` of rows from local ``start`` in ``tz``; anomalies only after ``anomaly_after_days``.

    Anomalies (labelled): the backup's shape on the first Wednesday at 14:00
    after ``anomaly_after_days`` and a memory leak shape on the following
    Thursday at 03:00.  The default start puts the end of daylight saving in
    Europe (last Sunday of October) inside the data.
    """
    zone = ZoneInfo(tz)
    rng = np.random.default_rng(seed)
    names = tuple(SMD38_NAMES)
    t0 = datetime.fromisoformat(start).replace(tzinfo=zone).timestamp()
    n = int(days * 86400 / interval)
    ts = t0 + interval * np.arange(n, dtype=np.float64)
    x = _columns(names, n, rng)
    events = []
    for job, s in scheduled_runs(t0, ts[-1], zone):
        i = int(round((s - t0) / interval))
        _add(x, names, job.shape, slice(i, i + int(job.minutes * 60 / interval)), rng)
        events.append(Event(job.name, s, s + job.minutes * 60, False))
    labels = np.zeros(n, np.int8)
    after = datetime.fromtimestamp(t0 + anomaly_after_days * 86400, zone)
    wed = after + timedelta(days=(2 - after.weekday()) % 7 or 7)
    for name, shape, day, hour, minutes in (
        ("offschedule_backup", BACKUP, wed, 14, 20),
        ("memory_leak", LEAK, wed + timedelta(days=1), 3, 30),
    ):
        s = local_start(day, hour, 0, zone)
        i = int(round((s - t0) / interval))
        if i + minutes * 60 / interval > n:
            continue
        rows = slice(i, i + int(minutes * 60 / interval))
        _add(x, names, shape, rows, rng)
        labels[rows] = 1
        events.append(Event(name, s, s + minutes * 60, True))
    return SeasonalHost(np.clip(x, 0.0, None), ts, labels, names, tuple(sorted(events, key=lambda e: e.start)), tz)


def write_history(out: Path, host: SeasonalHost, hostname: str, interval: float = 60.0) -> Path:
    """Write ``out/history`` (the agent's format), ``out/labels.txt`` and ``out/events.csv``; returns history dir."""
    hist = Path(out) / "history"
    if hist.exists() and any(hist.iterdir()):
        raise ValueError(f"{hist} is not empty: refusing to mix two synthetic hosts")
    with HistoryWriter(hist, host.features, max_bytes=1 << 40, interval=interval, hostname=hostname) as w:
        for row, t in zip(host.values, host.timestamps):
            w.append(row, float(t))
    (Path(out) / "labels.txt").write_text("".join(f"{v}\n" for v in host.labels.tolist()))
    with open(Path(out) / "events.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["name", "start", "end", "anomaly", "start_local"])
        zone = ZoneInfo(host.tz)
        for e in host.events:
            wr.writerow(
                [
                    e.name,
                    datetime.fromtimestamp(e.start, UTC).isoformat(),
                    datetime.fromtimestamp(e.end, UTC).isoformat(),
                    int(e.anomaly),
                    datetime.fromtimestamp(e.start, zone).isoformat(),
                ]
            )
    return hist


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kinds {bad or '(none)'}; choose from {','.join(KINDS)}")
    return kinds


def _run_smd(args: argparse.Namespace) -> int:
    data = synth.generate(args.features, args.train_rows, args.test_rows, args.kinds, args.anomalies, args.seed)
    write_smd(args.out, args.machine, data, compress=args.gzip)
    print(
        f"wrote {args.machine} under {args.out}: train {data.train.shape}, test {data.test.shape}, "
        f"{len(data.interpretation)} anomalies on {data.labels.mean():.1%} of test rows"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    if not args.seasonal:
        return _run_smd(args)
    host = generate(args.days, args.start, args.tz, args.interval, args.seed, args.anomaly_after_days)
    out = Path(args.out) / args.machine
    hist = write_history(out, host, args.machine, args.interval)
    runs = sum(not e.anomaly for e in host.events)
    print(
        f"wrote {args.machine} history under {hist}: {len(host.values)} rows over {args.days:g} days in {args.tz}, "
        f"{runs} scheduled runs, {sum(e.anomaly for e in host.events)} labelled anomalies "
        f"(labels.txt, events.csv in {out})"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``anomaly-train synth``: SMD-format data (:mod:`training.synth`), or with ``--seasonal`` a seasonal host."""
    p = subparsers.add_parser(
        "synth",
        help="write synthetic SMD-format data with labelled anomalies",
        description=synth.__doc__.splitlines()[0],
    )
    p.add_argument("--out", type=Path, required=True, help="SMD root directory to write into")
    p.add_argument("--machine", required=True, help="machine name, e.g. synth-1")
    p.add_argument("--features", type=int, default=38, help="number of features (first N SMD-38 names)")
    p.add_argument("--train-rows", type=int, default=7 * 1440, help="rows of clean data (default: 7 days)")
    p.add_argument("--test-rows", type=int, default=7 * 1440, help="rows of test data following train")
    p.add_argument("--kinds", type=_kinds, default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--anomalies", type=int, default=10, help="number of anomaly segments in test")
    p.add_argument("--seed", type=int, default=0, help="same seed and sizes, same data")
    p.add_argument("--gzip", action="store_true", help="write .txt.gz files")
    g = p.add_argument_group("--seasonal: a host with scheduled jobs, written as the agent's history under OUT/MACHINE")
    g.add_argument(
        "--seasonal",
        action="store_true",
        help="nightly backup 02:00, Monday batch 09:00 and labelled off-schedule anomalies, with timestamps",
    )
    g.add_argument("--days", type=float, default=28.0, help="days of rows (default 28)")
    g.add_argument(
        "--start",
        default="2026-10-05T00:00:00",
        help="local start time (default 2026-10-05: the end of European DST falls inside)",
    )
    g.add_argument("--tz", default="Europe/Berlin", help="IANA time zone of the schedule (default Europe/Berlin)")
    g.add_argument("--interval", type=float, default=60.0, help="seconds between rows (default 60)")
    g.add_argument(
        "--anomaly-after-days",
        type=float,
        default=14.0,
        help="labelled anomalies only after this many days (the learning period; default 14)",
    )
    p.set_defaults(func=_run)


def read_events(path: Path) -> tuple[Event, ...]:
    """``events.csv`` as written by :func:`write_history`."""
    with open(path, newline="") as fh:
        return tuple(
            Event(
                r["name"],
                datetime.fromisoformat(r["start"]).timestamp(),
                datetime.fromisoformat(r["end"]).timestamp(),
                r["anomaly"] == "1",
            )
            for r in csv.DictReader(fh)
        )


def fires_by_event(fire_times: np.ndarray, events: tuple[Event, ...], grace: float = 3600.0) -> list[str]:
    """The event each alert belongs to, else "other": the event it fired inside, or else the latest one that
    ended at most ``grace`` s before it (an alert at 03:04 inside a 03:00 anomaly is the anomaly's, not the
    02:00 backup's that ended 44 minutes earlier)."""
    out = []
    for t in np.asarray(fire_times, np.float64):
        inside = [e for e in events if e.start <= t <= e.end]
        after = [e for e in events if e.end < t <= e.end + grace]
        hit = inside or sorted(after, key=lambda e: e.end)[-1:]
        out.append(hit[0].name if hit else "other")
    return out
