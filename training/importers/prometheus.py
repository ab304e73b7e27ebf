"""``anomaly-train import prometheus``: node_exporter series via the query_range API, as SMD-38 rows.

The PromQL mapping, its rate window and what node_exporter lacks are in ``docs/importers.md``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent.collect.features import CATALOG, SMD38_NAMES
from agent.history.writer import format_row
from training.importers.core import (
    ImporterError,
    ImportResult,
    fill_columns,
    grid_doc,
    parse_duration,
    write_sidecar,
    write_split,
)

log = logging.getLogger(__name__)

MAX_POINTS = 10_000  # per query_range request; Prometheus refuses more than 11,000 points per series
DISK_EXCLUDE = r"(z?ram|loop|dm-|md|sr|fd|nbd|drbd|rbd)\d+|(h|s|v|xv)d[a-z]+\d+|(nvme\d+n\d+|mmcblk\d+)p\d+"
NIC_EXCLUDE = r"lo|(veth|docker|br-|virbr|cni|flannel|tun|tap|vxlan|cali|weave|kube|lxc|vnet|ifb|dummy|wg).*"


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
    "disk_svc": _per_io(
        "node_disk_io_time_seconds_total", "node_disk_reads_completed_total", "node_disk_writes_completed_total"
    ),
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


def build_queries(
    instance: str,
    window: float,
    job: str | None = None,
    disk_exclude: str = DISK_EXCLUDE,
    nic_exclude: str = NIC_EXCLUDE,
) -> dict[str, str]:
    """SMD-38 feature -> PromQL expression for one node_exporter target."""
    sel = f"instance={promql_string(instance)}" + (f",job={promql_string(job)}" if job else "")
    ms = int(math.ceil(window * 1000))
    fill = {
        "S": sel,
        "D": f"device!~{promql_string(disk_exclude)}",
        "N": f"device!~{promql_string(nic_exclude)}",
        "W": f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms",
    }
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
            raise ImporterError(
                f"{self.url}{path}: {doc.get('errorType')}: {doc.get('error')} (query {params.get('query', '')!r})"
            )
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


def fetch_grid(
    api: PrometheusAPI, queries: dict[str, str], start: float, end: float, step: float
) -> tuple[np.ndarray, np.ndarray]:
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


def import_prometheus(
    api: PrometheusAPI,
    instance: str,
    start: float,
    end: float,
    step: float,
    out: Path,
    machine: str,
    job: str | None = None,
    scrape_interval: float | None = None,
    window: float | None = None,
    disk_exclude: str = DISK_EXCLUDE,
    nic_exclude: str = NIC_EXCLUDE,
) -> ImportResult:
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
        raise ImporterError(
            f"no node_exporter data for instance={instance!r}"
            f"{f', job={job!r}' if job else ''} between {start} and {end} at {api.url}"
        )
    x, counts, empty = fill_columns(raw)
    names = SMD38_NAMES
    missing = tuple(names[j] for j in empty)
    filled = {names[j]: c for j, c in counts.items()}
    doc = {
        "source": {
            "kind": "prometheus",
            "url": api.url,
            "instance": instance,
            "job": job,
            "start": start,
            "end": end,
            "step": step,
            "scrape_interval": scrape_interval,
            "rate_window": w,
        },
        "features": list(names),
        "units": [CATALOG[f].unit for f in names],
        "timestamps": grid_doc(float(ts[0]), step, len(ts)),
        "mapping": queries,
        "missing": list(missing),
        "missing_filled_with": 0,
        "filled_cells": filled,
    }
    files = (write_split(out, "train", machine, "".join(format_row(r) for r in x)), write_sidecar(out, machine, doc))
    return ImportResult(files, len(x), missing, filled)
