"""``anomaly-train import {prometheus,csv,nab}``: other data into the SMD layout.

The subcommand: one parser per source, each calling its importer and printing what was written.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from training.importers.core import ImportResult, parse_duration, parse_time
from training.importers.csv import import_csv
from training.importers.nab import import_nab
from training.importers.prometheus import DISK_EXCLUDE, NIC_EXCLUDE, PrometheusAPI, import_prometheus


def _report(res: ImportResult) -> None:
    print(f"wrote {res.rows} rows: " + ", ".join(str(f) for f in res.files))
    if res.missing:
        print(f"missing ({len(res.missing)} feature(s) with no data, written as 0): {', '.join(res.missing)}")
    if res.filled:
        print("filled cells (forward-fill): " + ", ".join(f"{k}={v}" for k, v in res.filled.items()))


def _run_prometheus(args: argparse.Namespace) -> int:
    res = import_prometheus(
        PrometheusAPI(args.url, args.timeout),
        args.instance,
        parse_time(args.start),
        parse_time(args.end),
        parse_duration(args.step),
        args.out,
        args.machine or re.sub(r"[^\w.-]", "_", args.instance),
        job=args.job,
        scrape_interval=parse_duration(args.scrape_interval) if args.scrape_interval else None,
        window=parse_duration(args.rate_window) if args.rate_window else None,
        disk_exclude=args.disk_exclude,
        nic_exclude=args.nic_exclude,
    )
    _report(res)
    return 0


def _run_csv(args: argparse.Namespace) -> int:
    cols = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    _report(import_csv(args.input, args.time_column, args.out, args.machine, parse_duration(args.interval), cols))
    return 0


def _run_nab(args: argparse.Namespace) -> int:
    labels = args.labels or args.data / "labels" / "combined_windows.json"
    _report(import_nab(args.data, args.file, labels, args.out, args.machine, args.probation_percent))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import", help="convert Prometheus, CSV or NAB data to the SMD layout", description=__doc__.splitlines()[0]
    )
    sub = p.add_subparsers(dest="source", required=True)
    pr = sub.add_parser("prometheus", help="node_exporter series via the query_range API")
    pr.add_argument("--url", required=True, help="Prometheus base URL, e.g. http://prometheus:9090")
    pr.add_argument("--instance", required=True, help="value of the instance label of the node_exporter target")
    pr.add_argument("--job", default=None, help="also match this job label")
    pr.add_argument("--start", required=True, help="unix seconds, RFC 3339, or now-7d")
    pr.add_argument("--end", default="now")
    pr.add_argument("--step", default="60s", help="row interval (default 60s, the agent's)")
    pr.add_argument("--scrape-interval", default=None, help="default: from /api/v1/targets, else 15s")
    pr.add_argument("--rate-window", default=None, help="default: max(step + scrape, 4 * scrape)")
    pr.add_argument("--disk-exclude", default=DISK_EXCLUDE, help="regex of block devices left out")
    pr.add_argument("--nic-exclude", default=NIC_EXCLUDE, help="regex of network devices left out")
    pr.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    pr.add_argument("--out", type=Path, required=True, help="SMD root to write (train/NAME.txt + .json)")
    pr.add_argument("--machine", default=None, help="file name (default: the instance)")
    pr.set_defaults(func=_run_prometheus)
    pc = sub.add_parser("csv", help="a timestamped CSV with named columns")
    pc.add_argument("--input", type=Path, required=True)
    pc.add_argument("--time-column", required=True, help="unix seconds or ISO 8601 (naive = UTC)")
    pc.add_argument("--columns", default=None, help="comma-separated columns in order (default: all others)")
    pc.add_argument("--interval", default="60s", help="resampling interval (mean per interval)")
    pc.add_argument("--out", type=Path, required=True)
    pc.add_argument("--machine", required=True)
    pc.set_defaults(func=_run_csv)
    pn = sub.add_parser("nab", help="one Numenta Anomaly Benchmark series with its label windows")
    pn.add_argument("--data", type=Path, required=True, help="NAB checkout (holds data/ and labels/)")
    pn.add_argument(
        "--file", required=True, help="series under data/, e.g. realKnownCause/ec2_request_latency_system_failure.csv"
    )
    pn.add_argument("--labels", type=Path, default=None, help="default: DATA/labels/combined_windows.json")
    pn.add_argument("--probation-percent", type=float, default=0.15)
    pn.add_argument("--out", type=Path, required=True)
    pn.add_argument("--machine", default=None, help="default: the file's stem")
    pn.set_defaults(func=_run_nab)
