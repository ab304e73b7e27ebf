"""The daemon's wiring, asserted through what ``/metrics`` serves over HTTP.

``run()`` is started for real (main thread, signal handlers, scheduler, HTTP
server) on a source that ends once the scrapes are taken; the served bodies
are checked for one registry's worth of families, build info, process
metrics, and by ``promtool check metrics`` in text and OpenMetrics.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DEFAULT_BUNDLE, families, free_port, http_get, om_families

from agent.buildinfo import version
from agent.calibrate.calibrator import Calibrator
from agent.collect.sampler import Sampler
from agent.config import Config
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.cycle import Agent
from agent.runtime.daemon import make_registry, run
from agent.runtime.hoststate import calibration_line, host_state, state_line
from agent.runtime.sources import LiveSource, Row
from agent.serve.http import make_app, serve
from agent.serve.page import age_text
from agent.serve.status import iso

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROC_MISSING = Path(__file__).resolve().parents[2] / "fixtures" / "proc" / "missing"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model(str(DEFAULT_BUNDLE))


class GatedSource:
    """Rows in the SMD [0, 1] scale until ``done`` is set (or ``limit`` rows), then exhausted."""

    def __init__(self, n_features: int, limit: int = 20_000) -> None:
        self.rng = np.random.default_rng(0)
        self.n, self.limit, self.count = n_features, limit, 0
        self.done = threading.Event()

    def next(self) -> Row | None:
        if self.done.is_set() or self.count >= self.limit:
            return None
        self.count += 1
        return Row(self.rng.uniform(0.2, 0.4, self.n))

    def error_counts(self) -> dict[str, int]:
        return {"gated": 0}


def _scrape_when_scoring(url: str, source: GatedSource, out: dict[str, Any]) -> None:
    try:
        while not source.done.is_set():
            try:
                if http_get(url + "/healthz", timeout=2)[0] == 200:  # scores are being published
                    break
            except OSError:
                pass
            time.sleep(0.05)
        out["text"] = http_get(url + "/metrics")
        out["openmetrics"] = http_get(url + "/metrics", headers={"Accept": OPENMETRICS})
        out["gzip"] = http_get(url + "/metrics", headers={"Accept-Encoding": "gzip"})
    except Exception as exc:  # reported by the test
        out["error"] = exc
    finally:
        source.done.set()


@pytest.fixture(scope="module")
def served(model: LoadedModel) -> Iterator[dict[str, Any]]:
    port = free_port()
    cfg = Config()
    cfg = replace(
        cfg,
        web=replace(cfg.web, listen_address=f"127.0.0.1:{port}"),
        sampling=replace(cfg.sampling, interval_seconds=0.02, max_gap_intervals=1e9),
        model=replace(cfg.model, bundle=str(DEFAULT_BUNDLE)),
    )
    source = GatedSource(len(model.bundle.features))
    out: dict[str, Any] = {}
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    scraper = threading.Thread(target=_scrape_when_scoring, args=(f"http://127.0.0.1:{port}", source, out))
    scraper.start()
    try:
        out["exit"] = run(cfg, source, model, exit_at_end=True)
    finally:
        source.done.set()
        scraper.join()
        for s, h in handlers.items():
            signal.signal(s, h)
    if "error" in out:
        raise out["error"]
    yield out


def _body(served: dict[str, Any], kind: str) -> str:
    status, body = served[kind]
    assert status == 200
    return (gzip.decompress(body) if kind == "gzip" else body).decode()


def test_run_serves_one_registry(served: dict[str, Any]) -> None:
    assert served["exit"] == 0
    text = _body(served, "text")
    helps = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# HELP ")]
    assert len(helps) == len(set(helps)), "a family is exposed twice: two registries joined"
    names = set(families(text))
    for name in (
        "host_anomaly_score",
        "host_anomaly_feature_score",
        "host_anomaly_model_info",
        "host_anomaly_scoring_duration_seconds",
        "host_anomaly_collector_errors",
        "host_anomaly_exporter_build_info",
        "process_resident_memory_bytes",
        "process_cpu_seconds",
    ):
        assert name in names, name


def test_build_info_is_one_with_version_revision_pythonversion(served: dict[str, Any]) -> None:
    fams = families(_body(served, "text"))
    (sample,) = fams["host_anomaly_exporter_build_info"].samples
    assert sample.value == 1.0
    assert set(sample.labels) == {"version", "revision", "pythonversion"}
    assert sample.labels["version"] == version()
    assert sample.labels["revision"] and sample.labels["pythonversion"].count(".") == 2


def test_openmetrics_has_one_eof_at_the_end(served: dict[str, Any]) -> None:
    status, body = served["openmetrics"]
    assert status == 200 and body.endswith(b"# EOF\n") and body.count(b"# EOF") == 1
    names = set(om_families(body))
    assert {"host_anomaly_score", "host_anomaly_exporter_build_info", "process_resident_memory_bytes"} <= names


def test_gzip_body_is_the_same_exposition(served: dict[str, Any]) -> None:
    assert set(families(_body(served, "gzip"))) == set(families(_body(served, "text")))


def _promtool(body: bytes) -> tuple[int, list[str]]:
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True)
    return done.returncode, (done.stdout + done.stderr).decode().splitlines()


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed (Debian package prometheus)")
def test_promtool_check_metrics_text(served: dict[str, Any]) -> None:
    rc, findings = _promtool(served["text"][1])
    assert (rc, findings) == (0, [])  # parses, and no lint finding at all


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed (Debian package prometheus)")
def test_promtool_check_metrics_openmetrics(served: dict[str, Any]) -> None:
    """promtool (2.42) lints with the Prometheus text parser: OpenMetrics names a counter family without
    ``_total`` (and ``_created`` is a sample of it), so those samples read as "no help text" to it.
    Anything else -- a parse error (exit 1) or another finding -- fails."""
    body = served["openmetrics"][1]
    rc, findings = _promtool(body)
    counted = {f.name for f in om_families(body).values() if f.type in ("counter", "histogram")}
    expected = {f"{name}{suffix} no help text" for name in counted for suffix in ("_total", "_created")}
    assert rc in (0, 3), findings  # 3: lint findings only
    unexpected = [f for f in findings if f not in expected]
    assert not unexpected, unexpected


def test_collector_errors_are_served_per_source(model: LoadedModel) -> None:
    """A source that cannot be read is counted in host_anomaly_collector_errors_total{source}; others at 0."""
    sampler = Sampler(
        procfs=PROC_MISSING, psutil_module=None, sysfs=PROC_MISSING / "nosys", features=model.bundle.features
    )
    registry = make_registry()
    agent = Agent(Config(), LiveSource(sampler), model, registry)
    for _ in range(2):
        agent.cycle()
    httpd, _ = serve("127.0.0.1:0", make_app(registry, agent.health, agent.model_doc))
    try:
        status, body = http_get(f"http://127.0.0.1:{httpd.server_address[1]}/metrics")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status == 200
    errors = families(body)["host_anomaly_collector_errors"]
    got = {s.labels["source"]: s.value for s in errors.samples if s.name.endswith("_total")}
    assert got["snmp"] == 2.0 and got["netstat"] == 2.0 and got["vmstat"] == 2.0
    assert got["cpu"] == 0.0 and got["meminfo"] == 0.0


def _live_cfg(tmp_path: Path, **calibration: Any) -> Config:
    cfg = Config()
    return replace(
        cfg,
        state_directory=str(tmp_path / "state"),
        sampling=replace(cfg.sampling, interval_seconds=5.0),
        calibration=replace(cfg.calibration, warmup_samples=40, **calibration),
    )


def test_startup_lines_say_calibration_and_where_state_is_kept(
    model: LoadedModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _live_cfg(tmp_path)
    caplog.set_level(logging.INFO, logger="agent.runtime.hoststate")
    cal, history = host_state(cfg, model)
    assert cal is not None and history is not None
    target = cal.target_rows
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.runtime.hoststate"]
    assert lines[0] == (
        f"calibration: starting the warm-up: {target} samples (~{age_text(target * 5.0)}) before the first score"
    )
    state = tmp_path / "state"
    assert lines[1] == (
        f"state directory {state}; calibration state {state / 'calibration.json'}; history in "
        f"{state / 'history'} (up to 64 MiB, 10080 rows per file)"
    )
    rng = np.random.default_rng(0)
    for _ in range(12):
        cal.observe(rng.uniform(0, 1, len(model.bundle.features)))
    cal.save()
    history.close()
    assert calibration_line(
        cfg,
        model,
        Calibrator.load(
            model.bundle.features, model.bundle.window, 40, 1e-3, state / "calibration.json", model.bundle.sha256
        ),
    ) == (
        f"calibration: resumed the warm-up at 12/{target} rows; first score in {target - 12} samples "
        f"(~{age_text((target - 12) * 5.0)})"
    )
    for _ in range(target - 12):
        cal.observe(rng.uniform(0, 1, len(model.bundle.features)))
    cal.calibrate(lambda scaler, w: rng.uniform(0, 0.01, (len(w), len(model.bundle.features))))
    caplog.clear()
    host_state(cfg, model)[1].close()  # type: ignore[union-attr]
    line = next(r.getMessage() for r in caplog.records if r.name == "agent.runtime.hoststate")
    assert line == (
        f"calibration: reusing the saved host calibration from {iso(cal.result.calibrated_at)} "  # type: ignore[union-attr]
        f"({target} rows, provisional)"
    )
    off = _live_cfg(tmp_path, enabled=False)
    assert calibration_line(off, model, None).startswith("calibration: disabled")
    assert state_line(replace(off, history=replace(off.history, enabled=False)), None, None) == (
        f"state directory {state}; no calibration state; history off (history.enabled: false)"
    )


def test_startup_lines_say_model_and_listen_address(model: LoadedModel, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    cfg = Config()
    cfg = replace(
        cfg,
        web=replace(cfg.web, listen_address=f"127.0.0.1:{port}"),
        sampling=replace(cfg.sampling, interval_seconds=0.02),
        model=replace(cfg.model, bundle=str(DEFAULT_BUNDLE)),
    )
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    caplog.set_level(logging.INFO, logger="agent.runtime.daemon")
    try:
        assert run(cfg, GatedSource(len(model.bundle.features), limit=3), model, exit_at_end=True) == 0
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.runtime.daemon"]
    b = model.bundle
    assert lines[0] == (
        f"model {b.model_id} ({b.architecture}, window {b.window}, {len(b.features)} features, "
        f"sha256 {b.sha256[:12]}) from {b.path} on {model.runtime}"
    )
    url = f"http://127.0.0.1:{port}/"
    assert f"serving on 127.0.0.1:{port}: status page {url}, Prometheus metrics {url}metrics" in lines
