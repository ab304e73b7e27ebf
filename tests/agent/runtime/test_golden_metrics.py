"""A behaviour lock on ``/metrics``: the demo rows through the cycle at a simulated clock, byte for byte.

The agent warms up on 720 demo rows and scores 480 more (a slice of machine-1-6's
test split that holds an incident) with the shipped bundle, exactly as
``backtest`` drives it; the exposition of the agent's own families is compared
with ``tests/fixtures/golden/metrics.txt`` (process and timing families left
out: they depend on the machine) and checked by ``promtool check metrics``.  A
restructuring must leave it unchanged; a change of behaviour regenerates it on
purpose (``GOLDEN_UPDATE=1``) and says why in the commit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from support import DEFAULT_BUNDLE, DEMO_DATA

from agent.config import Config
from agent.history import smd
from agent.model.loaded import load_model
from agent.runtime.backtest import SimClock, input_timestamps
from agent.runtime.cycle import Agent
from agent.runtime.hoststate import host_state
from agent.runtime.sources import RowsSource

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "metrics.txt"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
START, ROWS, WARMUP = 18_100, 1_200, 720  # the demo incident starts at row 18600
# families whose values depend on the machine or the wall clock, not on the rows
MACHINE_DEPENDENT = re.compile(r"^(# (HELP|TYPE) )?host_anomaly_scoring_duration_seconds")


def _exposition(tmp_path: Path) -> str:
    cfg = Config()
    cfg = replace(
        cfg,
        state_directory=str(tmp_path),
        model=replace(cfg.model, bundle=str(DEFAULT_BUNDLE)),
        calibration=replace(cfg.calibration, warmup_samples=WARMUP, noise_floors="range"),
        history=replace(cfg.history, enabled=False),
        seasonal=replace(cfg.seasonal, enabled=False),
    )
    model = load_model(str(DEFAULT_BUNDLE))
    rows = smd.load_rows(Path(DEMO_DATA) / "test" / "machine-1-6.txt.gz")[START : START + ROWS]
    timestamps = input_timestamps(len(rows), cfg.sampling.interval_seconds, 1.8e9)
    calibrator, history = host_state(cfg, model)
    clock = SimClock(float(timestamps[0]))
    assert calibrator is not None
    calibrator.clock = clock
    registry = CollectorRegistry(auto_describe=False)
    agent = Agent(cfg, RowsSource(rows), model, registry, clock=clock, monotonic=clock, calibrator=calibrator)
    for t in timestamps:
        clock.now = float(t)
        agent.cycle()
    text = generate_latest(registry).decode()
    return "".join(line + "\n" for line in text.splitlines() if not MACHINE_DEPENDENT.match(line))


def test_metrics_exposition_matches_the_golden_file(tmp_path: Path) -> None:
    text = _exposition(tmp_path)
    if os.environ.get("GOLDEN_UPDATE"):
        GOLDEN.write_text(text)
    assert "host_anomaly_score " in text and "host_anomaly_top_contributor" in text
    assert text == GOLDEN.read_text(), "the /metrics exposition changed; see the module docstring"


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")
def test_the_golden_exposition_passes_promtool() -> None:
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=GOLDEN.read_text(), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
