"""Under systemd the agent's stderr lines carry <N> syslog priorities (journalctl -p err finds errors)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from agent import journal

CODE = """
import logging, sys
from agent import cli
from agent import journal
cli._setup_logging("info")
logging.getLogger("agent.x").info("serving")
logging.getLogger("agent.x").warning("source unreadable")
logging.getLogger("agent.x").error("reload rejected")
print(journal.error("anomaly-agent: bad.yaml: invalid configuration:\\n  - a.b: must be > 0"), file=sys.stderr)
"""


def _run(tmp_path: Path, journal_stream: bool) -> list[str]:
    err = tmp_path / "stderr"
    err.touch()
    st = err.stat()
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream:
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    with open(err, "w") as fh:
        subprocess.run([sys.executable, "-c", CODE], stderr=fh, env=env, check=True, timeout=60)
    return err.read_text().splitlines()


def test_journal_lines_have_priorities_and_no_own_timestamp(tmp_path: Path) -> None:
    lines = _run(tmp_path, journal_stream=True)
    assert lines == [
        "<6>INFO agent.x: serving",
        "<4>WARNING agent.x: source unreadable",
        "<3>ERROR agent.x: reload rejected",
        "<3>anomaly-agent: bad.yaml: invalid configuration:",
        "<3>  - a.b: must be > 0",
    ]


def test_plain_stderr_is_unchanged(tmp_path: Path) -> None:
    lines = _run(tmp_path, journal_stream=False)
    assert lines[0].endswith(" INFO agent.x: serving") and lines[0][:2] == "20"  # own timestamp
    assert lines[-2:] == ["anomaly-agent: bad.yaml: invalid configuration:", "  - a.b: must be > 0"]


def test_a_stale_journal_stream_is_ignored(monkeypatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")  # inherited by a child whose stderr is elsewhere
    assert not journal.stderr_is_journal()
    assert journal.error("x") == "x"
    assert journal.priority(logging.DEBUG) == 7 and journal.priority(logging.CRITICAL) == 2
