"""Paths and tool lookup shared by the packaging tests (imported by name)."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "packaging" / "prometheus"
GRAFANA_DASHBOARD = REPO / "packaging" / "grafana" / "host-anomaly-exporter.json"
UNIT_FILE = REPO / "systemd" / "host-anomaly-exporter.service"
DEFAULT_FILE = REPO / "systemd" / "host-anomaly-exporter.default"


def require_tool(name: str, package: str) -> str:
    """Return the path of executable *name* or skip, naming the Debian package."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install {package}); .ci/run installs it")
    return path


# The exporter's metric names (DESIGN.md "Metrics"); histograms also expose
# _bucket, _sum and _count.
EXPORTER_METRICS = frozenset(
    {
        "host_anomaly_score",
        "host_anomaly_anomalous",
        "host_anomaly_feature_score",
        "host_anomaly_feature_contribution_ratio",
        "host_anomaly_top_contributor",
        "host_anomaly_model_info",
        "host_anomaly_last_score_timestamp_seconds",
        "host_anomaly_scoring_duration_seconds",
        "host_anomaly_window_fill_ratio",
        "host_anomaly_calibration_progress_ratio",
        "host_anomaly_collector_errors_total",
        "host_anomaly_model_reloads_total",
        "host_anomaly_model_rollbacks_total",
        "host_anomaly_model_probation",
    }
)
_METRIC_NAME = re.compile(r"(?<![:\w])host_anomaly_[a-z_]+")  # not recording rules

# What Grafana would put in place of each dashboard variable; longest first
# so that $__rate_interval is not read as $__rate.
GRAFANA_VARIABLES = {
    "$__rate_interval": "2m",
    "$__interval": "1m",
    "$__range": "1h",
    "$instance": ".+",
    "$job": "host-anomaly-exporter",
}


def metric_names(expr: str) -> set[str]:
    """host_anomaly_* names in *expr*, histogram suffixes folded to the base name."""
    names = set()
    for name in _METRIC_NAME.findall(expr):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name.removesuffix(suffix)
            if base != name and base in EXPORTER_METRICS:
                name = base
        names.add(name)
    return names


def dashboard_queries(dashboard: dict, variables: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Every PromQL expression of a Grafana dashboard, as (where, expr) pairs.

    Panel targets, annotation queries and the selectors inside
    ``label_values(selector, label)`` variable queries are returned with
    Grafana variables replaced by *variables* (default GRAFANA_VARIABLES),
    ready to run against a real Prometheus.
    """
    subs = GRAFANA_VARIABLES if variables is None else variables
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for ann in dashboard.get("annotations", {}).get("list", []):
        if "expr" in ann:
            found.append((f"annotation {ann['name']!r}", ann["expr"]))
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else ""
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", text)
        if match:
            found.append((f"variable {var['name']!r}", match.group(1)))

    def substitute(expr: str) -> str:
        for name in sorted(subs, key=len, reverse=True):
            expr = expr.replace(name, subs[name])
        return expr

    return [(where, substitute(expr)) for where, expr in found]


# Runs argv[1:] the way the unit's sandbox would: no new privileges, and
# MemoryDenyWriteExecute's rule enforced by the kernel (PR_SET_MDWE,
# Linux >= 6.3, kept across execve), optionally as an unprivileged user.
SANDBOX_WRAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
    sys.exit("PR_SET_NO_NEW_PRIVS failed")
uid = int(os.environ.pop("SANDBOX_UID", "-1"))
if uid >= 0:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(f"PR_SET_MDWE failed: errno {ctypes.get_errno()}")
os.umask(0o077)
os.execv(sys.argv[1], sys.argv[1:])
"""


def mdwe_supported() -> bool:
    """True when this kernel can refuse W+X memory (PR_GET_MDWE works)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(66, 0, 0, 0, 0) >= 0


def fast_config(directory: Path, bundle: Path) -> Path:
    """An agent config that scores within seconds (tiny warm-up, 0.2 s interval)."""
    state = directory / "state"
    state.mkdir(exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        f"model:\n  bundle: {bundle}\n  watch: false\n"
        "sampling:\n  interval_seconds: 0.2\n"
        "calibration:\n  warmup_samples: 10\n"
        f"state_directory: {state}\n"
    )
    return path


def _stop(proc: subprocess.Popen, traced: bool) -> None:
    """SIGTERM the agent: the process itself, or strace's child when traced.

    strace exits with its tracee's status, but a SIGTERM sent to strace
    itself would detach and leave the agent running.
    """
    if proc.poll() is not None:
        return
    target = proc.pid
    if traced:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        target = int(children[0]) if children else proc.pid
    os.kill(target, signal.SIGTERM)


def run_sandboxed_agent(
    argv: list[str],
    port: int,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | str = "/",
    timeout: float = 90.0,
) -> tuple[str, int]:
    """Start ``argv`` under SANDBOX_WRAPPER, wait for a live score, stop it.

    ``argv`` may start with strace. Returns (the /metrics text once /healthz
    answered 200, the exit code after SIGTERM). Raises AssertionError with
    the agent's log when it never scores.
    """
    traced = Path(argv[0]).name == "strace"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", SANDBOX_WRAPPER, *argv, f"--web.listen-address=127.0.0.1:{port}"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"agent exited {proc.returncode}:\n{log.read_text()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no live score after {timeout}s:\n{log.read_text()}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                time.sleep(0.3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                metrics = r.read().decode()
        finally:
            _stop(proc, traced)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # our own session only
                proc.wait()
    return metrics, proc.returncode
