"""anomaly-agent's parser and exit codes, in process (the subprocess paths: tests/test_cli_bundle.py)."""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Iterator

import pytest

from agent.cli import COMMANDS, EXIT_CONFIG, build_parser, main
from support import DEFAULT_BUNDLE


@pytest.fixture(autouse=True)
def keep_sighup() -> Iterator[None]:
    """``main()`` ignores SIGHUP while a daemon would start; give the test process its handler back."""
    old = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, old)


def test_parser_knows_every_command() -> None:
    p = build_parser()
    assert set(COMMANDS) == {"run", "check-config", "replay", "score", "backtest"}
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
