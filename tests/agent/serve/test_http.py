"""HTTP server: routes, the landing page, basic auth with bcrypt, TLS, and slow clients that must not block others."""

from __future__ import annotations

import gzip
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Gauge
from support import DEFAULT_BUNDLE, http_get
from support.tls import auth_get, self_signed_cert, web_config

from agent.buildinfo import version
from agent.calibrate.calibrator import Calibrator
from agent.config import Config, ConfigError
from agent.history.scores import ScoreHistory
from agent.model.loaded import load_model
from agent.runtime.cycle import Agent
from agent.runtime.daemon import make_registry
from agent.runtime.sources import Row
from agent.serve.http import make_app, serve
from agent.serve.webconfig import BasicAuth, WebSettings, load_web_config

PASSWORD = "s3cret-scrape"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def _registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    Gauge("host_anomaly_score", "test", registry=reg).set(0.5)
    return reg


def _serve(web: WebSettings | None = None, auth: BasicAuth | None = None, timeout: float = 10.0) -> Iterator[str]:
    app = make_app(_registry(), lambda: (True, {"status": "ok"}), lambda: {"model_id": "x"}, auth)
    httpd, thread = serve("127.0.0.1:0", app, web, timeout)
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_routes_plain_http() -> None:
    for addr in _serve():
        assert auth_get(f"http://{addr}/metrics") == 200
        assert auth_get(f"http://{addr}/healthz") == 200
        assert auth_get(f"http://{addr}/model") == 200
        assert auth_get(f"http://{addr}/") == 200
        assert auth_get(f"http://{addr}/other") == 404


def test_metrics_serves_the_registry_in_text_openmetrics_and_gzip() -> None:
    for addr in _serve():
        url = f"http://{addr}/metrics"
        status, text = http_get(url)
        assert status == 200 and b"host_anomaly_score 0.5" in text and b"# EOF" not in text
        status, om = http_get(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert status == 200 and om.endswith(b"host_anomaly_score 0.5\n# EOF\n")
        status, gz = http_get(url, headers={"Accept-Encoding": "gzip"})
        assert status == 200 and gzip.decompress(gz) == text
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200 and r.read() == b"" and int(r.headers["Content-Length"]) == len(text)


def test_basic_auth_and_tls(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    web = load_web_config(web_config(tmp_path / "web.yml", cert, {"prometheus": PASSWORD}))
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    for addr in _serve(web, BasicAuth(web.users)):
        url = f"https://{addr}/metrics"
        assert auth_get(url, "prometheus", PASSWORD, ctx) == 200
        assert auth_get(url, "prometheus", PASSWORD, ctx) == 200  # cached path
        assert auth_get(url, "prometheus", "wrong", ctx) == 401
        assert auth_get(url, "intruder", PASSWORD, ctx) == 401
        assert auth_get(url, ctx=ctx) == 401
        with pytest.raises(OSError):  # plain HTTP to a TLS port fails
            auth_get(f"http://{addr}/metrics", "prometheus", PASSWORD)


def test_web_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("basic_auth_users:\n  bob: plaintext\ntls_server_config:\n  cert_file: /nope\nextra: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_web_config(bad)
    text = str(exc.value)
    assert "basic_auth_users.bob: must be a bcrypt hash" in text
    assert "cert_file and key_file must be given together" in text
    assert "extra: unknown key" in text
    assert "plaintext" not in text  # never echo a secret back


def test_slow_client_does_not_block_scrapes() -> None:
    for addr in _serve(timeout=1.0):
        host, port = addr.split(":")
        idle = socket.create_connection((host, int(port)))  # connects, never sends a request
        try:
            # answered while the idle connection holds its thread (no wall-clock limit: benchmarks time it)
            assert auth_get(f"http://{addr}/metrics") == 200
            time.sleep(1.5)  # the idle connection is dropped after the request timeout
            idle.settimeout(2)
            assert idle.recv(1) == b""
        finally:
            idle.close()


class Page(HTMLParser):
    """What a text browser works from: tags with attributes, headings, links and the visible text."""

    def __init__(self, body: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._open: list[str] = []
        self.feed(body)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if not data.strip() or "title" in self._open:
            return
        if self._open and self._open[-1] in ("h1", "h2", "h3"):
            self.headings.append(data.strip())
        self.text.append(data.strip())

    @property
    def plain(self) -> str:
        return "\n".join(self.text)


def _assert_no_script(page: Page) -> None:
    for tag, attrs in page.tags:
        assert tag not in ("script", "style", "iframe", "object", "embed", "noscript"), tag
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        assert not any("javascript:" in (v or "").lower() for v in attrs.values()), (tag, attrs)


class _Rows:
    def __init__(self, n: int) -> None:
        self.rng, self.n = np.random.default_rng(2), n

    def next(self) -> Row:
        return Row(self.rng.uniform(0.2, 0.4, self.n))

    def error_counts(self) -> dict[str, int]:
        return {"cpu": 0, "netstat": 3}


def _landing(agent: Agent) -> tuple[Page, dict[str, Any], dict[str, Any]]:
    httpd, _ = serve("127.0.0.1:0", make_app(make_registry(), agent.health, agent.model_doc))
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        req = urllib.request.Request(url + "/")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
            body = r.read().decode()
            assert int(r.headers["Content-Length"]) == len(body.encode())
        with urllib.request.urlopen(urllib.request.Request(url + "/", method="HEAD"), timeout=5) as r:
            assert r.status == 200 and r.read() == b""
        health = json.loads(http_get(url + "/healthz")[1])
        model = json.loads(http_get(url + "/model")[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
    page = Page(body)
    _assert_no_script(page)
    return page, health, model


def test_landing_page_shows_version_model_calibration_score_and_errors(tmp_path: Path) -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    b = model.bundle
    cal = Calibrator(b.features, b.window, 40, 1e-3, tmp_path / "calibration.json", b.sha256)
    agent = Agent(Config(), _Rows(len(b.features)), model, make_registry(), calibrator=cal)
    for _ in range(10):
        agent.cycle()
    page, health, _ = _landing(agent)
    assert health["status"] == "calibrating"
    assert f"10/{cal.target_rows} rows" in page.plain and "calibrating (warm-up" in page.plain
    assert "none yet" in page.plain and "none (no score yet)" in page.plain

    for _ in range(cal.target_rows):
        agent.cycle()
    page, health, doc = _landing(agent)
    assert health["status"] == "ok" and cal.calibrated
    assert page.headings == [
        "host-anomaly-exporter",
        "Score",
        "Top contributors",
        "Calibration",
        "Model",
        "Collector errors",
        "Endpoints",
    ]
    assert page.links == ["metrics", "healthz", "model", "api/v1/history"]
    text = page.plain
    for want in (
        f"version {version()}",
        b.model_id,
        b.architecture,
        b.sha256[:12],
        f"{b.window} samples",
        f"{cal.target_rows}/{cal.target_rows} rows (100%)",
        "calibrated",
        doc["calibration"]["result"]["calibrated_at"],
        "netstat",
        "ai_edge_litert",
    ):
        assert want in text, want
    assert f"{health['score']:.3g}" in text
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s ago\)$", text, re.M), text
    # the features count, and the top contributors with share and feature score as in /healthz
    cells = page.text
    assert cells[cells.index("Features") + 1] == str(len(b.features))
    assert health["top_contributors"]
    for rank, c in enumerate(health["top_contributors"], start=1):
        i = cells.index(c["feature"])
        assert cells[i - 1 : i + 3] == [str(rank), c["feature"], f"{c['share']:.1%}", f"{c['feature_score']:.3g}"]
    i = cells.index("netstat")
    assert cells[i + 1] == "3"


def test_landing_page_escapes_every_value() -> None:
    evil = '<script>alert("x")</script><a href="javascript:x" onclick="y">'
    health = {
        "status": evil,
        "score": 2.0,
        "last_score_at": evil,
        "last_score_age_seconds": 3.0,
        "top_contributors": [{"feature": evil, "share": 0.5, "feature_score": 4.0}],
        "collector_errors": {evil: 1},
        "version": evil,
        "revision": evil,
    }
    model = {
        "model_id": evil,
        "architecture": evil,
        "sha256": evil,
        "path": evil,
        "features": [evil],
        "calibration": {"state": evil, "rows": evil, "target_rows": 3},
        "reloads": {"accepted": evil},
    }
    app = make_app(_registry(), lambda: (True, health), lambda: model)
    httpd, _ = serve("127.0.0.1:0", app)
    try:
        status, body = http_get(f"http://127.0.0.1:{httpd.server_address[1]}/")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status == 200
    page = Page(body.decode())
    _assert_no_script(page)
    assert page.links == ["metrics", "healthz", "model", "api/v1/history"]
    assert evil in page.text and "above 1: anomalous" in page.plain


def test_history_api_and_the_landing_page_timeline(tmp_path: Path) -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    b = model.bundle
    clock = iter(1_800_000_000.0 + 60 * i for i in range(10_000))
    now = [0.0]

    def tick() -> float:
        now[0] = next(clock)
        return now[0]

    scores = ScoreHistory(1440, b.features, tmp_path / "scores.npz")
    agent = Agent(Config(), _Rows(len(b.features)), model, make_registry(), clock=tick, scores=scores)
    for _ in range(b.window + 40):
        agent.cycle()
    assert len(scores) == 41  # one entry per published score
    app = make_app(make_registry(), agent.health, agent.model_doc, history=scores.entries, clock=lambda: now[0])
    httpd, _ = serve("127.0.0.1:0", app)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        doc = json.loads(http_get(url + "/api/v1/history")[1])
        assert doc["count"] == 41 and set(doc["entries"][0]) == {"time", "score", "anomalous", "top"}
        assert len(doc["entries"][-1]["top"]) == 3
        since = doc["entries"][30]["time"]
        assert json.loads(http_get(f"{url}/api/v1/history?since={since}")[1])["count"] == 11
        code, body = http_get(url + "/api/v1/history?since=yesterday")
        assert code == 400 and "since" in json.loads(body)["error"]
        html_page = http_get(url + "/")[1].decode()
    finally:
        httpd.shutdown()
        httpd.server_close()
    page = Page(html_page)
    _assert_no_script(page)
    assert page.headings[:3] == ["host-anomaly-exporter", "Last 24 hours", "Last alerts (newest first, at most 10)"]
    assert "<svg" in html_page and "<polyline" in html_page and "41 scores since" in page.plain
    assert ("no alert" in page.plain) == (not doc["alerts"])  # the table lists what the API lists
    for a in doc["alerts"][-10:]:
        assert a["start"] in page.text
