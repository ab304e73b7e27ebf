"""State directory faults while running: full disk, read-only, missing; scoring never stops.

The agent writes calibration state and history into its state directory.
When the disk refuses (ENOSPC, EROFS) the failure is counted in
``host_anomaly_state_errors_total{kind}`` and logged once per streak; the
next write after space returns succeeds (history opens a new file set, the
calibration save is retried every cycle until it is kept).  Simulated by
patching the writers (works anywhere) and, when the tests run as root, on a
real 256 KiB tmpfs that fills up and is remounted read-only.
"""

from __future__ import annotations

import builtins
import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rel_support import HALF, Clock, live_agent, make_bundle, value

from agent.calibrate import calibrator as cal_mod
from agent.calibrate import persist
from agent.history import writer as hist_mod
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.cycle import Agent
from agent.state import read_json

W = 30
WARMUP = W + cal_mod.MIN_WINDOWS - 1  # warm-up rows for warmup_samples=10 and a 30-row window


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(make_bundle(tmp_path_factory.mktemp("m") / "b", HALF))


class DiskFull:
    """While ``on``: opening for write, writing and atomic JSON saves fail with ENOSPC (or ``code``)."""

    def __init__(self, code: int = errno.ENOSPC) -> None:
        self.on = False
        self.code = code

    def error(self) -> OSError:
        return OSError(self.code, os.strerror(self.code))


class _File:
    def __init__(self, f: Any, disk: DiskFull) -> None:
        self._f, self._disk = f, disk

    def write(self, s: str) -> int:
        if self._disk.on:
            raise self._disk.error()
        return self._f.write(s)

    def flush(self) -> None:
        if self._disk.on:
            raise self._disk.error()
        self._f.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _File:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


@pytest.fixture(params=[errno.ENOSPC, errno.EROFS, errno.EIO], ids=["ENOSPC", "EROFS", "EIO"])
def disk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[DiskFull]:
    d = DiskFull(request.param)
    real_open, real_save = builtins.open, persist.atomic_write_json

    def fake_open(path: Any, mode: str = "r", *a: Any, **kw: Any) -> Any:
        if d.on and any(c in mode for c in "xwa+"):
            raise d.error()
        return _File(real_open(path, mode, *a, **kw), d)

    def fake_save(path: Any, doc: Any, rows: Any = None) -> None:
        if d.on:
            raise d.error()
        real_save(path, doc, rows)

    monkeypatch.setattr(hist_mod, "open", fake_open, raising=False)
    monkeypatch.setattr(persist, "atomic_write_json", fake_save)
    yield d


def cycles(agent: Agent, mono: Clock, n: int) -> None:
    for _ in range(n):
        mono.now += 60.0
        agent.cycle()


def test_full_disk_while_scoring(
    model: LoadedModel, tmp_path: Path, disk: DiskFull, caplog: pytest.LogCaptureFixture
) -> None:
    mono, wall = Clock(0.0), Clock()
    agent, reg = live_agent(model, tmp_path / "state", monotonic=mono, clock=lambda: wall.now + mono.now)
    cycles(agent, mono, WARMUP + 5)
    assert value(reg, "host_anomaly_calibration_progress_ratio") == 1.0
    stamp = value(reg, "host_anomaly_last_score_timestamp_seconds")
    written = agent.history.rows_written
    disk.on = True
    with caplog.at_level(logging.WARNING):
        cycles(agent, mono, 10)
    # scoring went on; every refused row was counted; one warning for the streak
    assert value(reg, "host_anomaly_last_score_timestamp_seconds") == stamp + 600
    assert value(reg, "host_anomaly_scoring_errors_total") == 0.0
    assert value(reg, "host_anomaly_state_errors_total", kind="history_write") == 10
    assert len([r for r in caplog.records if "history recording" in r.getMessage()]) == 1
    disk.on = False
    cycles(agent, mono, 3)
    assert value(reg, "host_anomaly_state_errors_total", kind="history_write") == 10  # no new failures
    assert agent.history.rows_written == written + 3


def test_full_disk_during_warmup_then_calibration_is_saved(model: LoadedModel, tmp_path: Path, disk: DiskFull) -> None:
    mono = Clock(0.0)
    state = tmp_path / "state"
    agent, reg = live_agent(model, state, monotonic=mono)
    cycles(agent, mono, 15)  # one save at 10 rows
    assert len(read_json(state / "calibration.json")["rows"]) == 10
    disk.on = True
    cycles(agent, mono, WARMUP)  # calibrates in memory although every save fails
    assert value(reg, "host_anomaly_calibration_progress_ratio") == 1.0
    assert value(reg, "host_anomaly_score") is not None
    failed = value(reg, "host_anomaly_state_errors_total", kind="calibration_write")
    assert failed >= 1 and read_json(state / "calibration.json")["calibration"] is None
    disk.on = False
    cycles(agent, mono, 1)  # retried at the next cycle, and kept
    assert read_json(state / "calibration.json")["calibration"] is not None
    cycles(agent, mono, 5)
    assert value(reg, "host_anomaly_state_errors_total", kind="calibration_write") == failed


@pytest.mark.parametrize("kind", ["state-is-a-file", "state-parent-missing-and-unwritable"])
def test_unusable_state_directory_at_start(model: LoadedModel, tmp_path: Path, kind: str) -> None:
    """No state directory at all: calibration runs in memory, history is refused row by row, scores come."""
    if kind == "state-is-a-file":
        state = tmp_path / "state"
        state.write_text("not a directory")
    else:
        (tmp_path / "ro").write_text("")
        state = tmp_path / "ro" / "sub" / "state"  # parent is a file: mkdir fails with ENOTDIR
    mono = Clock(0.0)
    agent, reg = live_agent(model, state, monotonic=mono)
    cycles(agent, mono, WARMUP + 3)
    assert value(reg, "host_anomaly_score") is not None
    assert value(reg, "host_anomaly_state_errors_total", kind="history_write") == WARMUP + 3
    assert value(reg, "host_anomaly_state_errors_total", kind="calibration_write") >= 1
    assert value(reg, "host_anomaly_scoring_errors_total") == 0.0


# -- a real file system that fills up and turns read-only (root only) ------------------------------------
@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_real_tmpfs_full_then_read_only(model: LoadedModel, tmpfs: Path) -> None:
    mono = Clock(0.0)
    agent, reg = live_agent(model, tmpfs / "state", monotonic=mono)
    cycles(agent, mono, WARMUP + 2)
    assert value(reg, "host_anomaly_score") is not None
    stamp = value(reg, "host_anomaly_last_score_timestamp_seconds")
    try:
        _fill(tmpfs / "filler")
    except OSError:
        pass
    cycles(agent, mono, 400)  # ~100 bytes a row: the free crumbs run out long before this
    errors = value(reg, "host_anomaly_state_errors_total", kind="history_write")
    assert errors and errors >= 1
    assert value(reg, "host_anomaly_last_score_timestamp_seconds") > stamp
    assert value(reg, "host_anomaly_scoring_errors_total") == 0.0
    (tmpfs / "filler").unlink()
    cycles(agent, mono, 5)
    written = agent.history.rows_written
    assert value(reg, "host_anomaly_state_errors_total", kind="history_write") == errors
    # Read-only on top of the state directory (a remount would be refused while files are open for writing):
    # open descriptors keep writing below it, new files (the next rotation) get EROFS.
    state = str(tmpfs / "state")
    subprocess.run(["mount", "--bind", state, state], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", state], check=True)
        cycles(agent, mono, 25)  # 20 rows per file: the rotation needs new files, which EROFS refuses
        assert value(reg, "host_anomaly_state_errors_total", kind="history_write") > errors
        assert value(reg, "host_anomaly_scoring_errors_total") == 0.0
    finally:
        subprocess.run(["umount", state], check=True)
    before = value(reg, "host_anomaly_state_errors_total", kind="history_write")
    cycles(agent, mono, 3)
    assert value(reg, "host_anomaly_state_errors_total", kind="history_write") == before
    assert agent.history.rows_written > written
