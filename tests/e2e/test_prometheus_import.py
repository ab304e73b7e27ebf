"""``anomaly-train import prometheus`` against a real Prometheus scraping a real node_exporter.

node_exporter runs with the netstat field list of releases before late 2021
(no ``TcpExt_TCPTimeouts``), so ``tcp_timeouts`` must be reported missing.
Prometheus scrapes it every second; after ~20 s of data the importer pulls
the range with step 1s.  Bounded to about 40 s; every process is stopped in
``finally``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from support import ROOT, free_port, http_get, prometheus_ready, wait_for

pytestmark = pytest.mark.e2e

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
OLD_NETSTAT_FIELDS = (
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|"
    "TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|"
    "RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
)
# read from /proc files every Linux host has: never missing
ALWAYS = (
    "cpu_r",
    "load_1",
    "load_5",
    "load_15",
    "mem_shmem",
    "mem_u",
    "mem_u_e",
    "total_mem",
    "tcp_tw",
    "tcp_use",
    "active_opens",
    "curr_estab",
    "in_errs",
    "in_segs",
    "listen_overflows",
    "out_rsts",
    "out_segs",
    "passive_opens",
    "retransegs",
    "udp_in_dg",
    "udp_out_dg",
    "udp_rcv_buf_errs",
    "udp_snd_buf_errs",
)
DATA_SECONDS = 20


def _need(binary: str) -> None:
    if not Path(binary).is_file():
        pytest.skip(
            f"{binary} not installed (Debian packages prometheus and prometheus-node-exporter; .ci/run installs them)"
        )


def _query(prom: str, path: str, **params: object) -> dict:
    status, body = http_get(f"{prom}{path}?{urllib.parse.urlencode(params)}", timeout=5)
    assert status == 200, body[:300]
    return json.loads(body)["data"]


def test_import_from_real_prometheus(tmp_path: Path) -> None:
    _need(NODE_EXPORTER)
    _need(PROMETHEUS)
    ne_port, prom_port = free_port(), free_port()
    target = f"127.0.0.1:{ne_port}"
    prom = f"http://127.0.0.1:{prom_port}"
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    logs = [open(tmp_path / "node_exporter.log", "wb"), open(tmp_path / "prometheus.log", "wb")]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                [NODE_EXPORTER, f"--web.listen-address={target}", f"--collector.netstat.fields={OLD_NETSTAT_FIELDS}"],
                stdout=logs[0],
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={cfg}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        )
        wait_for(
            lambda: http_get(f"http://{target}/metrics", timeout=1)[0] == 200,
            10,
            "node_exporter",
            step=0.2,
            procs=procs,
        )
        # Prometheus answers 503 until its TSDB is open: wait for /-/ready before querying it
        wait_for(lambda: prometheus_ready(prom), 30, "Prometheus ready", step=0.2, procs=procs)
        wait_for(
            lambda: (
                _query(prom, "/api/v1/query", query=f'up{{instance="{target}"}}')["result"]
                and _query(prom, "/api/v1/query", query=f'up{{instance="{target}"}}')["result"][0]["value"][1] == "1"
            ),
            20,
            "the first scrape",
            step=0.2,
            procs=procs,
        )
        first = time.time()
        time.sleep(DATA_SECONDS)
        start, end = int(first) + 5, int(time.time()) - 1  # rate() needs 4 scrapes before the first row
        out = tmp_path / "smd"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "training",
                "import",
                "prometheus",
                "--url",
                prom,
                "--instance",
                target,
                "--start",
                str(start),
                "--end",
                str(end),
                "--step",
                "1s",
                "--out",
                str(out),
                "--machine",
                "host",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        load1 = _query(
            prom, "/api/v1/query_range", query=f'node_load1{{instance="{target}"}}', start=start, end=end, step=1
        )["result"][0]["values"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in logs:
            f.close()

    from agent.collect.features import SMD38_NAMES
    from agent.history.smd import load_rows

    x = load_rows(out / "train" / "host.txt", n_cols=38)
    meta = json.loads((out / "train" / "host.json").read_text())
    assert x.shape == (end - start + 1, 38) and len(x) >= DATA_SECONDS - 8
    assert meta["features"] == list(SMD38_NAMES) and meta["timestamps"]["count"] == len(x)
    assert meta["source"]["scrape_interval"] == 1.0 and meta["source"]["rate_window"] == 4.0  # max(1+1, 4*1)
    col = {n: x[:, i] for i, n in enumerate(SMD38_NAMES)}
    assert ((col["cpu_r"] >= 0) & (col["cpu_r"] <= 1)).all()
    assert ((col["mem_u"] > 0) & (col["mem_u"] < 1)).all() and np.ptp(col["total_mem"]) == 0
    by_t = {float(t): float(v) for t, v in load1}
    assert len(by_t) == len(x)
    assert np.array_equal(col["load_1"], [by_t[float(start + i)] for i in range(len(x))])
    # missing: reported in the sidecar and on stdout, written as 0
    missing = set(meta["missing"])
    assert "tcp_timeouts" in missing and not missing & set(ALWAYS), missing
    assert all((col[m] == 0).all() for m in missing)
    assert "missing" in run.stdout and "tcp_timeouts" in run.stdout
    assert (col["in_segs"] > 0).any()  # Prometheus' own scrapes make TCP segments on loopback
    assert meta["mapping"]["load_1"] == f'max(node_load1{{instance="{target}"}})'
