"""agent.model.rollback: the probation record survives a restart; a torn or foreign file never stops the agent."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agent.model.rollback import FILE, KEEP, Probation, RollbackLog, RolledBack


def test_the_record_keeps_the_counts_and_the_decisions_across_a_restart(tmp_path: Path) -> None:
    log = RollbackLog.load(tmp_path)
    log.start(Probation("ab" * 32, "new", "cd" * 32, "old", "/v/old", 10.0, 3610.0, {"x": 1}))
    for score, previous in [(5.0, 0.2), (0.5, 0.4), (2.0, 1.5)]:
        log.count(score, previous)
    log.save()
    again = RollbackLog.load(tmp_path)
    assert again.probation is not None
    assert (again.probation.samples, again.probation.above, again.probation.previous_above) == (3, 2, 1)
    assert again.probation.previous_calibration == {"x": 1}
    again.end(RolledBack("ab" * 32, "new", 20.0, "why", "cd" * 32, "old"))
    third = RollbackLog.load(tmp_path)
    assert third.probation is None and third.refused("AB" * 32) is not None and third.refused("cd" * 32) is None


def test_only_the_newest_decisions_are_kept(tmp_path: Path) -> None:
    log = RollbackLog.load(tmp_path)
    for i in range(KEEP + 3):
        log.end(RolledBack(f"{i:064x}", f"m{i}", float(i), "why", "0" * 64, "old"))
    kept = RollbackLog.load(tmp_path).rolled_back
    assert len(kept) == KEEP and kept[0].model_id == "m3" and kept[-1].model_id == f"m{KEEP + 2}"


@pytest.mark.parametrize("content", [b"{torn", b'{"kind": "something else"}', b'{"kind": "host-anomaly-rollback"}'])
def test_an_unusable_record_starts_empty_and_says_so(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE).write_bytes(content)
    with caplog.at_level(logging.ERROR):
        log = RollbackLog.load(tmp_path)
    assert log.probation is None and log.rolled_back == [] and "is unusable" in caplog.text
    log.end(RolledBack("1" * 64, "m", 1.0, "why", "0" * 64, "old"))  # and it is written anew
    assert json.loads((tmp_path / FILE).read_text())["rolled_back"][0]["model_id"] == "m"


def test_a_failed_save_is_counted_and_the_decision_holds_in_memory(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    log = RollbackLog.load(tmp_path / "not-a-dir")
    log.end(RolledBack("1" * 64, "m", 1.0, "why", "0" * 64, "old"))
    assert log.write_errors == 1 and log.refused("1" * 64) is not None


def test_in_memory_for_a_replay() -> None:
    log = RollbackLog.load(None)
    log.end(RolledBack("1" * 64, "m", 1.0, "why", "0" * 64, "old"))
    assert log.path is None and log.write_errors == 0 and log.refused("1" * 64) is not None
