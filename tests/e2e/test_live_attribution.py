"""Live on this machine: calibrate quickly, then load the CPU and the disk and check attribution.

The agent samples every 0.5 s with a short warm-up; after calibration a busy
subprocess must raise the score with cpu_r among the top contributors, and
separately direct writes to disk must do the same for a disk feature.
Bounded in time; every process is stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support import DEFAULT_BUNDLE, StartAgent, families, http_get

pytestmark = pytest.mark.slow
INTERVAL = 0.5
DISK = ("disk_q", "disk_r", "disk_rb", "disk_svc", "disk_u", "disk_w", "disk_wa", "disk_wb")


def read(url: str) -> tuple[float | None, float, list[str]]:
    fams = families(http_get(url + "/metrics")[1])
    score = fams["host_anomaly_score"].samples[0].value if "host_anomaly_score" in fams else None
    progress = fams["host_anomaly_calibration_progress_ratio"].samples[0].value
    fam = fams.get("host_anomaly_top_contributor")
    top = [s.labels["feature"] for s in (fam.samples if fam is not None else [])]
    return score, progress, top


def observe(url: str, seconds: float) -> list[tuple[float, list[str]]]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        score, _, top = read(url)
        if score is not None:
            out.append((score, top))
        time.sleep(INTERVAL)
    return out


def test_cpu_and_disk_load_are_attributed(agent_process: StartAgent, tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "sampling": {"interval_seconds": INTERVAL},
                "calibration": {"warmup_samples": 40},
                "state_directory": str(tmp_path / "state"),
                "model": {"bundle": str(DEFAULT_BUNDLE)},
            }
        )
    )
    agent = agent_process(["run", "--config.file", str(cfg)])
    agent.wait_ready("/metrics", timeout=30)
    t0 = time.monotonic()
    deadline = t0 + 90
    while read(agent.url)[1] < 1.0:
        assert time.monotonic() < deadline, "calibration did not finish in 90 s"
        time.sleep(INTERVAL)
    calibration_s = time.monotonic() - t0
    print(f"calibration took {calibration_s:.1f} s at a {INTERVAL} s interval")
    assert (tmp_path / "state" / "calibration.json").exists()

    quiet = observe(agent.url, 4)
    base = sorted(s for s, _ in quiet)[len(quiet) // 2]

    burners = [
        subprocess.Popen([sys.executable, "-c", "import time\nend=time.time()+13\nwhile time.time()<end: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        busy = observe(agent.url, 12)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    hits = [(s, top) for s, top in busy if "cpu_r" in top and s > base]
    assert len(hits) >= 3, f"cpu_r not attributed under CPU load (baseline {base:.2f}): {busy}"
    assert sorted(s for s, _ in busy)[len(busy) // 2] > base, "the score did not rise under CPU load"

    time.sleep(30 * INTERVAL + 2)  # let the CPU burst leave the window
    quiet = observe(agent.url, 3)
    base = sorted(s for s, _ in quiet)[len(quiet) // 2]
    blob = tmp_path / "blob"
    writer = subprocess.Popen(
        [
            "bash",
            "-c",
            "end=$((SECONDS+13)); while [ $SECONDS -lt $end ]; do "
            f"dd if=/dev/urandom of={blob} bs=1M count=64 oflag=direct conv=fsync status=none; "
            "done",
        ]
    )
    try:
        busy = observe(agent.url, 12)
    finally:
        writer.kill()
        writer.wait()
        blob.unlink(missing_ok=True)
    hits = [(s, top) for s, top in busy if set(top) & set(DISK) and s > base]
    assert len(hits) >= 3, f"no disk feature attributed under disk load (baseline {base:.2f}): {busy}"
    assert sorted(s for s, _ in busy)[len(busy) // 2] > base, "the score did not rise under disk load"
    assert agent.stop() == 0
