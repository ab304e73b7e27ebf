"""``anomaly-train import {prometheus,csv,nab}``: other data into the SMD layout.

Every importer writes raw (unscaled) rows to ``OUT/train/NAME.txt`` (the
training scaler does the scaling) and a sidecar ``OUT/train/NAME.json`` with
the feature names, units, the row timestamps (``{"start", "step", "count"}``
for a regular grid) and what was filled; ``fit`` reads the names from it via
:func:`sidecar_features`.  SMD files hold no NaN, so gaps are forward-filled
(leading gaps back-filled) and reported.  The PromQL mapping, its rate window
and what node_exporter lacks are in ``docs/importers.md``.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from agent.features import CATALOG, SMD38_NAMES
from agent.history import format_row

log = logging.getLogger(__name__)

MAX_POINTS = 10_000  # per query_range request; Prometheus refuses more than 11,000 points per series
DISK_EXCLUDE = r"(z?ram|loop|dm-|md|sr|fd|nbd|drbd|rbd)\d+|(h|s|v|xv)d[a-z]+\d+|(nvme\d+n\d+|mmcblk\d+)p\d+"
NIC_EXCLUDE = r"lo|(veth|docker|br-|virbr|cni|flannel|tun|tap|vxlan|cali|weave|kube|lxc|vnet|ifb|dummy|wg).*"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ImporterError(ValueError):
    """The input cannot be imported; the message says which input and why."""


class PrometheusUnreachable(ImporterError):
    """No HTTP answer at all (connection refused, DNS, timeout)."""


# --- PromQL mapping: $S instance/job matchers, $D disk and $N NIC filters, $W rate window --------------------
def _rate(metric: str, extra: str = "") -> str:
    return f"sum(rate({metric}{{$S{extra}}}[$W]))"


def _per_io(num: str, *den: str) -> str:
    # "no completed I/O -> 0 s" as the agent does; 0 * num keeps the gap when the host has no data
    n, d = _rate(num, ",$D"), " + ".join(_rate(m, ",$D") for m in den)
    return f"({n} / (({d}) > 0)) or (0 * {n})"


PROMQL: dict[str, str] = {
    "cpu_r": '1 - sum(rate(node_cpu_seconds_total{$S,mode=~"idle|iowait"}[$W])) '
             "/ sum(rate(node_cpu_seconds_total{$S}[$W]))",
    "load_1": "max(node_load1{$S})",
    "load_5": "max(node_load5{$S})",
    "load_15": "max(node_load15{$S})",
    "mem_shmem": "max(node_memory_Shmem_bytes{$S})",
    "mem_u": "1 - max(node_memory_MemFree_bytes{$S}) / max(node_memory_MemTotal_bytes{$S})",
    "mem_u_e": "1 - max(node_memory_MemAvailable_bytes{$S}) / max(node_memory_MemTotal_bytes{$S})",
    "total_mem": "max(node_memory_MemTotal_bytes{$S})",
    "disk_q": _rate("node_disk_io_time_weighted_seconds_total", ",$D"),
    "disk_r": _rate("node_disk_reads_completed_total", ",$D"),
    "disk_rb": _rate("node_disk_read_bytes_total", ",$D"),
    "disk_svc": _per_io("node_disk_io_time_seconds_total", "node_disk_reads_completed_total",
                        "node_disk_writes_completed_total"),
    "disk_u": "clamp_max(max(rate(node_disk_io_time_seconds_total{$S,$D}[$W])), 1)",
    "disk_w": _rate("node_disk_writes_completed_total", ",$D"),
    "disk_wa": _per_io("node_disk_write_time_seconds_total", "node_disk_writes_completed_total"),
    "disk_wb": _rate("node_disk_written_bytes_total", ",$D"),
    "si": _rate("node_vmstat_pswpin"),
    "so": _rate("node_vmstat_pswpout"),
    "eth1_fi": _rate("node_network_receive_bytes_total", ",$N"),
    "eth1_fo": _rate("node_network_transmit_bytes_total", ",$N"),
    "eth1_pi": _rate("node_network_receive_packets_total", ",$N"),
    "eth1_po": _rate("node_network_transmit_packets_total", ",$N"),
    "tcp_tw": "max(node_sockstat_TCP_tw{$S})",
    "tcp_use": "max(node_sockstat_TCP_inuse{$S})",
    "active_opens": _rate("node_netstat_Tcp_ActiveOpens"),
    "curr_estab": "max(node_netstat_Tcp_CurrEstab{$S})",
    "in_errs": _rate("node_netstat_Tcp_InErrs"),
    "in_segs": _rate("node_netstat_Tcp_InSegs"),
    "listen_overflows": _rate("node_netstat_TcpExt_ListenOverflows"),
    "out_rsts": _rate("node_netstat_Tcp_OutRsts"),
    "out_segs": _rate("node_netstat_Tcp_OutSegs"),
    "passive_opens": _rate("node_netstat_Tcp_PassiveOpens"),
    "retransegs": _rate("node_netstat_Tcp_RetransSegs"),
    "tcp_timeouts": _rate("node_netstat_TcpExt_TCPTimeouts"),
    "udp_in_dg": _rate("node_netstat_Udp_InDatagrams"),
    "udp_out_dg": _rate("node_netstat_Udp_OutDatagrams"),
    "udp_rcv_buf_errs": _rate("node_netstat_Udp_RcvbufErrors"),
    "udp_snd_buf_errs": _rate("node_netstat_Udp_SndbufErrors"),
}
assert tuple(PROMQL) == SMD38_NAMES


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rate_window(step: float, scrape_interval: float) -> float:
    """Grafana's ``$__rate_interval``: max(step + scrape, 4 * scrape) seconds.

    ``+ scrape`` makes consecutive windows share a sample, so every counter
    increase lands in some row; ``4 * scrape`` keeps enough samples for rate().
    """
    return max(step + scrape_interval, 4 * scrape_interval)


def build_queries(instance: str, window: float, job: str | None = None, disk_exclude: str = DISK_EXCLUDE,
                  nic_exclude: str = NIC_EXCLUDE) -> dict[str, str]:
    """SMD-38 feature -> PromQL expression for one node_exporter target."""
    sel = f"instance={promql_string(instance)}" + (f",job={promql_string(job)}" if job else "")
    ms = int(math.ceil(window * 1000))
    fill = {"S": sel, "D": f"device!~{promql_string(disk_exclude)}", "N": f"device!~{promql_string(nic_exclude)}",
            "W": f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"}
    return {f: re.sub(r"\$([SDNW])", lambda m: fill[m.group(1)], q) for f, q in PROMQL.items()}


def chunks(start: float, end: float, step: float, max_points: int = MAX_POINTS) -> list[tuple[int, int]]:
    """Split the grid start + i * step (i = 0..N-1, N = floor((end-start)/step) + 1) into index ranges [a, b)."""
    n = int(math.floor((end - start) / step + 1e-9)) + 1
    if n < 1:
        raise ImporterError(f"empty time range: start {start} is after end {end}")
    return [(a, min(n, a + max_points)) for a in range(0, n, max_points)]


class PrometheusAPI:
    """The few HTTP API calls the importer needs (urllib only)."""

    def __init__(self, url: str, timeout: float = 60.0, urlopen: Callable[..., Any] = urllib.request.urlopen) -> None:
        self.url, self.timeout, self._urlopen = url.rstrip("/"), timeout, urlopen

    def get(self, path: str, **params: Any) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with self._urlopen(url, timeout=self.timeout) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as exc:
            try:
                doc = json.load(exc)
            except ValueError:
                raise ImporterError(f"{self.url}: HTTP {exc.code} for {path}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusUnreachable(f"cannot query Prometheus at {self.url}: {exc}") from None
        except ValueError:
            raise ImporterError(f"{self.url}{path}: the answer is not Prometheus API JSON") from None
        if doc.get("status") != "success":
            raise ImporterError(f"{self.url}{path}: {doc.get('errorType')}: {doc.get('error')} "
                                f"(query {params.get('query', '')!r})")
        return doc["data"]

    def query_range(self, query: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        """One series' (t, value) points; [] when the query matches nothing."""
        data = self.get("/api/v1/query_range", query=query, start=repr(start), end=repr(end), step=repr(step))
        result = data.get("result", [])
        if len(result) > 1:
            raise ImporterError(f"query returned {len(result)} series, expected one: {query}")
        return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []

    def scrape_interval(self, instance: str) -> float | None:
        """The target's scrape interval from /api/v1/targets, if Prometheus reports it."""
        try:
            targets = self.get("/api/v1/targets", state="active").get("activeTargets", [])
        except PrometheusUnreachable:
            raise
        except ImporterError:  # e.g. a Prometheus-compatible store without the targets API
            return None
        for t in targets:
            if t.get("labels", {}).get("instance") == instance and t.get("scrapeInterval"):
                return parse_duration(t["scrapeInterval"])
        return None


def fetch_grid(api: PrometheusAPI, queries: dict[str, str], start: float, end: float,
               step: float) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate every query on the grid start + i * step.

    Returns
    -------
    timestamps (T,), values (T, F) with NaN where a query returned no point
    """
    parts = chunks(start, end, step)
    n = parts[-1][1]
    values = np.full((n, len(queries)), np.nan)
    for j, q in enumerate(queries.values()):
        for a, b in parts:
            for t, v in api.query_range(q, start + a * step, start + (b - 1) * step, step):
                i = int(round((t - start) / step))
                if 0 <= i < n and math.isfinite(v):  # NaN/Inf (e.g. a division by zero) is a gap
                    values[i, j] = v
    return start + step * np.arange(n), values


def fill_columns(x: np.ndarray) -> tuple[np.ndarray, dict[int, int], list[int]]:
    """Forward-fill NaN per column, back-fill a leading run, all-NaN columns -> 0.

    Returns
    -------
    filled (T, F), {column: filled cells} for partly missing columns, [columns with no value at all]
    """
    x = np.array(x, dtype=np.float64, copy=True)
    nan = np.isnan(x)
    empty = [j for j in range(x.shape[1]) if nan[:, j].all()]
    counts = {j: int(nan[:, j].sum()) for j in range(x.shape[1]) if nan[:, j].any() and j not in empty}
    idx = np.where(nan, 0, np.arange(len(x))[:, None])
    x = np.take_along_axis(x, np.maximum.accumulate(idx, axis=0), axis=0)  # forward fill
    first = np.argmax(~np.isnan(x), axis=0)
    lead = np.isnan(x)
    x[lead] = x[first, np.arange(x.shape[1])][np.nonzero(lead)[1]]  # back-fill the leading run
    x[:, empty] = 0.0
    return x, counts, empty


# --- shared helpers ----------------------------------------------------------------------------------------
def parse_duration(text: str) -> float:
    """``"60s"``, ``"1m"``, ``"1h30m"``, ``"500ms"`` or a number of seconds -> seconds (> 0)."""
    s = str(text).strip()
    try:
        value = float(s)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdw])", s)
        if not parts or "".join(a + u for a, u in parts) != s:
            raise ImporterError(f"not a duration: {text!r} (e.g. 60s, 5m, 1h)") from None
        value = sum(float(a) * (0.001 if u == "ms" else _UNITS[u]) for a, u in parts)
    if not value > 0:
        raise ImporterError(f"duration must be > 0, got {text!r}")
    return value


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds, RFC 3339 / ISO 8601 (naive = UTC), ``now`` or ``now-6h`` -> unix seconds."""
    s = str(text).strip()
    if m := re.fullmatch(r"now(?:([+-])(.+))?", s):
        base = time.time() if now is None else now
        offset = parse_duration(m.group(2)) if m.group(2) else 0.0
        return base - offset if m.group(1) == "-" else base + offset
    try:
        return float(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ImporterError(f"not a time: {text!r} (unix seconds, RFC 3339, now, now-1h)") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def write_split(out: Path, split: str, machine: str, text: str) -> Path:
    path = Path(out) / split / f"{machine}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")
    return path


def write_sidecar(out: Path, machine: str, doc: dict[str, Any]) -> Path:
    path = Path(out) / "train" / f"{machine}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def sidecar_features(data_dir: Path, machine: str) -> tuple[str, ...] | None:
    """Feature names an importer recorded for ``train/MACHINE.txt``; None when there is no sidecar."""
    path = Path(data_dir) / "train" / f"{machine}.json"
    if not path.exists():
        return None
    names = json.loads(path.read_text(encoding="utf-8")).get("features")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ImporterError(f"{path}: 'features' must be a list of names")
    return tuple(names)


@dataclass(frozen=True)
class ImportResult:
    files: tuple[Path, ...]
    rows: int
    missing: tuple[str, ...] = ()  # features with no data at all (written as 0)
    filled: dict[str, int] | None = None  # feature -> forward/back-filled cells


def _grid_doc(start: float, step: float, count: int) -> dict[str, float]:
    return {"start": start, "step": step, "count": count}


# --- importers ---------------------------------------------------------------------------------------------
def import_prometheus(api: PrometheusAPI, instance: str, start: float, end: float, step: float, out: Path,
                      machine: str, job: str | None = None, scrape_interval: float | None = None,
                      window: float | None = None, disk_exclude: str = DISK_EXCLUDE,
                      nic_exclude: str = NIC_EXCLUDE) -> ImportResult:
    """Pull node_exporter series for one instance into ``OUT/train/MACHINE.txt`` (SMD-38, raw)."""
    if scrape_interval is None:
        scrape_interval = api.scrape_interval(instance)
        if scrape_interval is None:
            scrape_interval = 15.0
            log.warning("scrape interval of %s unknown (not in /api/v1/targets): assuming 15s", instance)
    w = window or rate_window(step, scrape_interval)
    queries = build_queries(instance, w, job, disk_exclude, nic_exclude)
    ts, raw = fetch_grid(api, queries, start, end, step)
    if np.isnan(raw).all():
        raise ImporterError(f"no node_exporter data for instance={instance!r}"
                            f"{f', job={job!r}' if job else ''} between {start} and {end} at {api.url}")
    x, counts, empty = fill_columns(raw)
    names = SMD38_NAMES
    missing = tuple(names[j] for j in empty)
    filled = {names[j]: c for j, c in counts.items()}
    doc = {
        "source": {"kind": "prometheus", "url": api.url, "instance": instance, "job": job, "start": start,
                   "end": end, "step": step, "scrape_interval": scrape_interval, "rate_window": w},
        "features": list(names), "units": [CATALOG[f].unit for f in names],
        "timestamps": _grid_doc(float(ts[0]), step, len(ts)),
        "mapping": queries, "missing": list(missing), "missing_filled_with": 0, "filled_cells": filled,
    }
    files = (write_split(out, "train", machine, "".join(format_row(r) for r in x)), write_sidecar(out, machine, doc))
    return ImportResult(files, len(x), missing, filled)


def read_csv_columns(path: Path, time_column: str, columns: list[str] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A timestamped CSV with a header -> (t (N,) unix s sorted, values (N, F) NaN for empty, names)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if time_column not in header:
            raise ImporterError(f"{path}: no time column {time_column!r} (columns: {', '.join(header)})")
        names = tuple(columns) if columns else tuple(c for c in header if c != time_column)
        absent = [c for c in names if c not in header]
        if absent or not names:
            raise ImporterError(f"{path}: columns {absent or '(none)'} not found (columns: {', '.join(header)})")
        ts, rows = [], []
        for lineno, rec in enumerate(reader, start=2):
            try:
                ts.append(parse_time(rec[time_column] or ""))
            except ImporterError as exc:
                raise ImporterError(f"{path}:{lineno}: column {time_column!r}: {exc}") from None
            row = []
            for c in names:
                cell = (rec[c] or "").strip()
                try:
                    row.append(float(cell) if cell and cell.lower() not in ("nan", "na", "null") else math.nan)
                except ValueError:
                    raise ImporterError(f"{path}:{lineno}: column {c!r}: not a number: {cell!r}") from None
            rows.append(row)
    if not rows:
        raise ImporterError(f"{path}: no data rows")
    t, x = np.array(ts), np.array(rows, dtype=np.float64)
    x[~np.isfinite(x)] = math.nan  # SMD rows hold finite numbers only: Inf is a gap like NaN
    order = np.argsort(t, kind="stable")
    return t[order], x[order], names


def resample(t: np.ndarray, x: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean per bin [g, g + interval), bins aligned to multiples of ``interval``.

    Returns
    -------
    grid (T,) bin starts, values (T, F) with NaN for empty bins / all-NaN cells
    """
    g0 = math.floor(t[0] / interval) * interval
    k = np.floor((t - g0) / interval + 1e-9).astype(np.int64)
    n = int(k[-1]) + 1
    sums, counts = np.zeros((n, x.shape[1])), np.zeros((n, x.shape[1]))
    ok = ~np.isnan(x)
    np.add.at(sums, k, np.where(ok, x, 0.0))
    np.add.at(counts, k, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        return g0 + interval * np.arange(n), np.where(counts > 0, sums / counts, np.nan)


def empty_runs(grid: np.ndarray, x: np.ndarray) -> list[tuple[float, int]]:
    """(start time, rows) of each run of rows where every cell is NaN."""
    empty = np.isnan(x).all(axis=1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], empty, [0]])))
    return [(float(grid[a]), int(b - a)) for a, b in zip(edges[::2], edges[1::2])]


def import_csv(path: Path, time_column: str, out: Path, machine: str, interval: float = 60.0,
               columns: list[str] | None = None) -> ImportResult:
    """Resample a timestamped CSV to ``interval`` and write it in the SMD layout."""
    t, x, names = read_csv_columns(path, time_column, columns)
    grid, v = resample(t, x, interval)
    gaps = empty_runs(grid, v)
    filled, counts, empty = fill_columns(v)
    if empty:
        raise ImporterError(f"{path}: column(s) {', '.join(names[j] for j in empty)} hold no number at all")
    doc = {
        "source": {"kind": "csv", "input": str(path), "time_column": time_column, "rows_read": len(t),
                   "aggregation": "mean per interval"},
        "features": list(names), "units": [CATALOG[n].unit if n in CATALOG else "" for n in names],
        "timestamps": _grid_doc(float(grid[0]), interval, len(grid)),
        "gaps": [{"start": s, "rows": n} for s, n in gaps], "filled_cells": {names[j]: c for j, c in counts.items()},
    }
    files = (write_split(out, "train", machine, "".join(format_row(r) for r in filled)),
             write_sidecar(out, machine, doc))
    return ImportResult(files, len(filled), (), doc["filled_cells"])


def nab_probation(n_rows: int, percent: float = 0.15) -> int:
    """NAB's probationary period: min(floor(percent * rows), percent * 5000) rows."""
    return int(min(math.floor(percent * n_rows), percent * 5000))


def label_windows(t: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    """(T,) int8: 1 where a timestamp falls in any [start, end] window (inclusive)."""
    y = np.zeros(len(t), dtype=np.int8)
    for a, b in windows:
        y[(t >= a) & (t <= b)] = 1
    return y


def interpretation_lines(labels: np.ndarray, dims: str = "1") -> str:
    """SMD interpretation text ``a-b:dims`` for each run of 1s (0-indexed rows a..b-1)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], labels.astype(np.int8), [0]])))
    return "".join(f"{a}-{b}:{dims}\n" for a, b in zip(edges[::2], edges[1::2]))


def import_nab(root: Path, file: str, labels: Path, out: Path, machine: str | None = None,
               probation_percent: float = 0.15) -> ImportResult:
    """One NAB series -> train (probationary period), test, test_label, interpretation_label."""
    machine = machine or Path(file).stem
    t, x, names = read_csv_columns(Path(root) / "data" / file, "timestamp")
    key = Path(file).as_posix()
    try:
        spans = json.loads(Path(labels).read_text(encoding="utf-8"))[key]
    except KeyError:
        raise ImporterError(f"{labels}: no windows for {key!r}") from None
    windows = [(parse_time(a), parse_time(b)) for a, b in spans]
    y = label_windows(t, windows)
    p = nab_probation(len(t), probation_percent)
    if p < 1 or p >= len(t):
        raise ImporterError(f"{file}: {len(t)} rows leave no train or no test part (probation {p} rows)")
    if y[:p].any():
        log.warning("%s: %d labelled row(s) fall in the probationary (train) part", file, int(y[:p].sum()))
    filled, counts, empty = fill_columns(x)
    if empty:
        raise ImporterError(f"{file}: column(s) {', '.join(names[j] for j in empty)} hold no number at all")
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    doc = {
        "source": {"kind": "nab", "file": key, "labels": str(labels), "probation_percent": probation_percent},
        "features": list(names), "units": [""] * len(names),
        "timestamps": {**_grid_doc(float(t[0]), step, p), "regular": bool(np.allclose(np.diff(t[:p]), step))},
        "test_timestamps": {"start": float(t[p]), "count": len(t) - p},
        "splits": {"train_rows": p, "test_rows": len(t) - p, "anomalous_test_rows": int(y[p:].sum()),
                   "labelled_train_rows": int(y[:p].sum())},
        "filled_cells": {names[j]: c for j, c in counts.items()},
    }
    rows = [format_row(r) for r in filled]
    files = (
        write_split(out, "train", machine, "".join(rows[:p])),
        write_split(out, "test", machine, "".join(rows[p:])),
        write_split(out, "test_label", machine, "".join(f"{v}\n" for v in y[p:])),
        write_split(out, "interpretation_label", machine, interpretation_lines(y[p:])),
        write_sidecar(out, machine, doc),
    )
    return ImportResult(files, len(t), (), doc["filled_cells"])


# --- CLI -----------------------------------------------------------------------------------------------------
def _report(res: ImportResult) -> None:
    print(f"wrote {res.rows} rows: " + ", ".join(str(f) for f in res.files))
    if res.missing:
        print(f"missing ({len(res.missing)} feature(s) with no data, written as 0): {', '.join(res.missing)}")
    if res.filled:
        print("filled cells (forward-fill): " + ", ".join(f"{k}={v}" for k, v in res.filled.items()))


def _run_prometheus(args: argparse.Namespace) -> int:
    res = import_prometheus(
        PrometheusAPI(args.url, args.timeout), args.instance, parse_time(args.start), parse_time(args.end),
        parse_duration(args.step), args.out, args.machine or re.sub(r"[^\w.-]", "_", args.instance), job=args.job,
        scrape_interval=parse_duration(args.scrape_interval) if args.scrape_interval else None,
        window=parse_duration(args.rate_window) if args.rate_window else None,
        disk_exclude=args.disk_exclude, nic_exclude=args.nic_exclude)
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
    p = subparsers.add_parser("import", help="convert Prometheus, CSV or NAB data to the SMD layout",
                              description=__doc__.splitlines()[0])
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
    pn.add_argument("--file", required=True,
                    help="series under data/, e.g. realKnownCause/ec2_request_latency_system_failure.csv")
    pn.add_argument("--labels", type=Path, default=None, help="default: DATA/labels/combined_windows.json")
    pn.add_argument("--probation-percent", type=float, default=0.15)
    pn.add_argument("--out", type=Path, required=True)
    pn.add_argument("--machine", default=None, help="default: the file's stem")
    pn.set_defaults(func=_run_nab)
