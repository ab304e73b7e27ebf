"""agent.serve.client: the running agent's JSON over HTTP for `status` and `explain`, with basic auth and TLS."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from support import free_port
from support.tls import self_signed_cert, web_config

from agent.cli import main
from agent.serve.client import Refused, Unreachable, add_agent_options, agent_base, fetch_json, without_credentials
from agent.serve.http import make_app, serve
from agent.serve.webconfig import BasicAuth, WebSettings, load_web_config

PASSWORD = "s3cret-status"


def _explain(at: float) -> dict[str, Any]:
    if at < 0:
        raise ValueError("outside the history (a test)")
    return {"at": at, "source": "stub"}


def _serve(web: WebSettings | None = None, auth: BasicAuth | None = None, healthy: bool = True) -> Iterator[str]:
    health = (healthy, {"status": "ok" if healthy else "calibrating"})
    app = make_app(CollectorRegistry(), lambda: health, lambda: {"model_id": "x"}, auth, explain=_explain)
    httpd, _ = serve("127.0.0.1:0", app, web)
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_options_name_a_local_address_or_a_url() -> None:
    p = argparse.ArgumentParser()
    add_agent_options(p, timeout=30.0)
    local = p.parse_args(["--web.listen-address", ":9999"])
    assert agent_base(local) == "http://127.0.0.1:9999/" and local.timeout == 30.0
    assert agent_base(p.parse_args(["--url", "https://u:p@host:9840"])) == "https://u:p@host:9840/"
    assert agent_base(p.parse_args([])) == "http://127.0.0.1:9840/"
    with pytest.raises(SystemExit):
        p.parse_args(["--url", "http://host/", "--web.listen-address", ":1"])
    assert without_credentials("https://u:p@host:9840/x") == "https://host:9840/x"


def test_a_503_health_document_is_an_answer_and_an_api_refusal_carries_its_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for addr in _serve(healthy=False):
        base = f"http://{addr}/"
        assert fetch_json(base, "healthz", 5.0) == {"status": "calibrating"}
        assert fetch_json(base, "api/v1/explain", 5.0, {"at": "5"}, answered=()) == {"at": 5.0, "source": "stub"}
        with pytest.raises(Refused) as refused:
            fetch_json(base, "api/v1/explain", 5.0, {"at": "-5"}, answered=())
        assert refused.value.code == 404 and refused.value.error == "outside the history (a test)"
        assert str(refused.value) == f"{base}api/v1/explain?at=-5: HTTP 404 Not Found"
        with pytest.raises(Refused) as missing:
            fetch_json(base, "nothing", 5.0)
        assert missing.value.code == 404 and missing.value.error is None
        with pytest.raises(Unreachable, match="not JSON"):
            fetch_json(base, "metrics", 5.0)
        assert main(["explain", "--at", "5", "--web.listen-address", addr, "--json"]) == 0  # the local agent
        assert json.loads(capsys.readouterr().out) == {"at": 5.0, "source": "stub"}
        assert main(["status", "--web.listen-address", addr]) == 0  # calibrating (503) is an answer
        assert "calibrating" in capsys.readouterr().out
    port = free_port()
    with pytest.raises(Unreachable, match=f"127.0.0.1:{port}/healthz"):
        fetch_json(f"http://127.0.0.1:{port}/", "healthz", 5.0)


def test_status_and_explain_reach_an_agent_with_basic_auth_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = self_signed_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # the system trust store, as the client uses it
    web = load_web_config(web_config(tmp_path / "web.yml", cert, {"operator": PASSWORD}))
    for addr in _serve(web, BasicAuth(web.users)):
        url = f"https://operator:{PASSWORD}@{addr}/"
        assert fetch_json(url, "model", 5.0) == {"model_id": "x"}
        with pytest.raises(Unreachable, match="401 Unauthorized") as denied:
            fetch_json(f"https://{addr}/", "model", 5.0)
        assert "--url https://USER:PASSWORD@HOST:PORT/" in str(denied.value)
        assert main(["explain", "--at", "5", "--url", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"at": 5.0, "source": "stub"}
        assert main(["explain", "--at", "-5", "--url", url, "--timeout", "5"]) == 2
        want = f"https://{addr}/api/v1/explain?at=1969-12-31T23%3A59%3A55Z: outside the history (a test)\n"
        assert capsys.readouterr().err == "anomaly-agent explain: " + want
        assert main(["explain", "--at", "5", "--url", f"https://{addr}/"]) == 2
        err = capsys.readouterr().err
        assert "401 Unauthorized" in err and PASSWORD not in err
