"""anomaly-agent's parser and exit codes, in process (the subprocess paths: tests/test_cli_bundle.py)."""

from __future__ import annotations

import gzip
import re
import signal
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from support import AGENT, DEFAULT_BUNDLE, DEMO_DATA, ROOT, free_port, http_get

from agent.buildinfo import revision, version
from agent.cli import COMMANDS, EXIT_CONFIG, build_parser, main
from agent.config import Config
from agent.model.loaded import load_model
from agent.runtime.cycle import Agent
from agent.runtime.daemon import make_registry
from agent.runtime.sources import Row
from agent.serve.http import make_app, serve


@pytest.fixture(autouse=True)
def keep_sighup() -> Iterator[None]:
    """``main()`` ignores SIGHUP while a daemon would start; give the test process its handler back."""
    old = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, old)


def test_parser_knows_every_command() -> None:
    p = build_parser()
    assert set(COMMANDS) == {"run", "check-config", "replay", "score", "backtest", "explain", "status"}
    args = p.parse_args(["replay", "--data", "d", "--machine", "m", "--web.listen-address", ":1"])
    assert (args.command, args.speed, args.start, args.end, args.listen_address) == ("replay", 10.0, 0, None, ":1")
    with pytest.raises(SystemExit):
        p.parse_args(["replay", "--data", "d"])  # --machine is required


@pytest.mark.parametrize("speed", ["0", "nan", "1e9"])
def test_bad_speed_exits_2_with_the_flag(speed: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--data", "d", "--machine", "m", "--speed", speed]) == EXIT_CONFIG
    assert "--speed" in capsys.readouterr().err


def test_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yml"
    good.write_text(f"model:\n  bundle: {DEFAULT_BUNDLE}\n")
    assert main(["check-config", str(good)]) == 0
    assert "OK (model" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("sampling:\n  interval_seconds: -1\n")
    assert main(["check-config", str(bad)]) == EXIT_CONFIG
    assert "interval_seconds" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"anomaly-agent {version()} (revision {revision()})\n"


class _Rows:
    def __init__(self, n: int) -> None:
        self.rng, self.n = np.random.default_rng(1), n

    def next(self) -> Row:
        return Row(self.rng.uniform(0.2, 0.4, self.n))

    def error_counts(self) -> dict[str, int]:
        return {"cpu": 0, "snmp": 4}


class _Text(HTMLParser):
    """The text a reader sees (the <title> is the window's, not the page's)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag = tag

    def handle_data(self, data: str) -> None:
        if self.tag != "title":
            self.parts.append(data)


def test_status_prints_what_the_landing_page_shows(capsys: pytest.CaptureFixture[str]) -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    agent = Agent(Config(), _Rows(len(model.bundle.features)), model, make_registry(), clock=lambda: 1764087600.0)
    for _ in range(model.bundle.window):
        agent.cycle()
    httpd, _ = serve("127.0.0.1:0", make_app(make_registry(), agent.health, agent.model_doc))
    port = httpd.server_address[1]
    try:
        assert main(["status", "--web.listen-address", f":{port}"]) == 0
        out = capsys.readouterr().out
        page = _Text()
        page.feed(http_get(f"http://127.0.0.1:{port}/")[1].decode())
    finally:
        httpd.shutdown()
        httpd.server_close()
    b = model.bundle
    for want in (
        f"version {version()}",
        b.model_id,
        b.sha256[:12],
        "38",
        "2025-11-25T16:20:00Z (0 s ago)",
        "Top contributors",
        "snmp",
        f"http://127.0.0.1:{port}/metrics",
        "off (replayed data",
    ):
        assert want in out, want
    shown = [p.strip() for p in page.parts if p.strip() and p.strip() not in ("/metrics", "/healthz", "/model")]
    missing = [p for p in shown if p.rstrip(":") not in out and not p.startswith(":")]
    assert not missing, f"on the page but not in `status`: {missing}\n{out}"


def test_status_of_no_agent_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["status", "--url", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("anomaly-agent status: cannot read the agent: ") and f"127.0.0.1:{port}/healthz" in err


def test_score_prints_no_interpreter_info_line(tmp_path: Path) -> None:
    """The interpreter is built without the default XNNPACK delegate, which printed an INFO line per model."""
    rows = gzip.decompress((DEMO_DATA / "test" / "machine-1-6.txt.gz").read_bytes()).decode().splitlines()[:60]
    data = tmp_path / "in.txt"
    data.write_text("\n".join(rows) + "\n")
    done = subprocess.run(
        [*AGENT, "score", "--bundle", str(DEFAULT_BUNDLE), "--input", str(data), "--output", str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"60 rows, \d+ scored", done.stdout)
    assert "XNNPACK" not in done.stderr and "INFO:" not in done.stderr, done.stderr
