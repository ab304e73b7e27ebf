"""HTTP server: routes, basic auth with bcrypt, TLS, and slow clients that must not block others."""
from __future__ import annotations

import base64
import gzip
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, Gauge

from agent.config import ConfigError
from agent.http import make_app, serve
from agent.webconfig import BasicAuth, load_web_config
from support import http_get

PASSWORD = "s3cret-scrape"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "tls.key", d / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return crt, key


def _registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    Gauge("host_anomaly_score", "test", registry=reg).set(0.5)
    return reg


def _serve(web=None, auth=None, timeout: float = 10.0) -> Iterator[str]:  # type: ignore[no-untyped-def]
    app = make_app(_registry(), lambda: (True, {"status": "ok"}), lambda: {"model_id": "x"}, auth)
    httpd, thread = serve("127.0.0.1:0", app, web, timeout)
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def get(url: str, user: str | None = None, password: str | None = None, ctx: ssl.SSLContext | None = None) -> int:
    req = urllib.request.Request(url)
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def web_config(tmp_path: Path, cert: tuple[Path, Path] | None, users: bool) -> Path:
    lines = []
    if cert:
        lines += ["tls_server_config:", f"  cert_file: {cert[0]}", f"  key_file: {cert[1]}"]
    if users:
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        lines += ["basic_auth_users:", f"  prometheus: '{hashed}'"]
    p = tmp_path / "web.yml"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_routes_plain_http() -> None:
    for addr in _serve():
        assert get(f"http://{addr}/metrics") == 200
        assert get(f"http://{addr}/healthz") == 200
        assert get(f"http://{addr}/model") == 200
        assert get(f"http://{addr}/") == 200
        assert get(f"http://{addr}/other") == 404


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
    web = load_web_config(web_config(tmp_path, cert, users=True))
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    for addr in _serve(web, BasicAuth(web.users)):
        url = f"https://{addr}/metrics"
        assert get(url, "prometheus", PASSWORD, ctx) == 200
        assert get(url, "prometheus", PASSWORD, ctx) == 200  # cached path
        assert get(url, "prometheus", "wrong", ctx) == 401
        assert get(url, "intruder", PASSWORD, ctx) == 401
        assert get(url, ctx=ctx) == 401
        with pytest.raises(OSError):  # plain HTTP to a TLS port fails
            get(f"http://{addr}/metrics", "prometheus", PASSWORD)


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
            assert get(f"http://{addr}/metrics") == 200
            time.sleep(1.5)  # the idle connection is dropped after the request timeout
            idle.settimeout(2)
            assert idle.recv(1) == b""
        finally:
            idle.close()
