"""Live on this machine, the quickstart's first hour (issue 17 item 4): quiet while idle, loud under a CPU burn.

The real agent runs with examples/quickstart.yaml's settings (5 s interval, 60-sample warm-up, the default
bundle) in its own state directory on a loopback port.  After calibration:

* 10 minutes idle: at most 1 % of the agent's scores above 1 and no run of 5 in a row (the run that fires
  HostAnomaly in packaging/prometheus/rules-5s.yml, ``for: 25s``);
* three extra persistent TCP connections (to a listener this test opens) for 3 minutes: no such run either
  (a small integer gauge moving by a few must not alert, nor feed an alert);
* two busy processes burning both cores: a run of 5 scores above 1 within a few minutes.  When other jobs
  kept both cores busy through the warm-up (cpu_r centre >= 0.9), a burn cannot be anomalous there: the idle
  and TCP checks still count, and the test is skipped with that reason if the burn does not fire.

Every cycle's score is read once: /metrics is polled every second and de-duplicated on
host_anomaly_last_score_timestamp_seconds.  About 20 minutes; every process and socket is closed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support import DEFAULT_BUNDLE, ROOT, StartAgent, families, http_get

pytestmark = pytest.mark.slow

QUICKSTART = ROOT / "examples" / "quickstart.yaml"
RULE_RUN = 5  # rules-5s.yml: HostAnomaly `for: 25s` at a 5 s interval
IDLE_S = 600.0
TCP_S = 180.0
BURN_MAX_S = 240.0
SATURATED = 0.9  # cpu_r centre of a warm-up on cores other jobs kept busy


@dataclass(frozen=True)
class Score:
    ts: float
    value: float
    top: tuple[str, ...]


def longest_run(values: list[float], above: float = 1.0) -> int:
    """Length of the longest stretch of consecutive values strictly above ``above``."""
    best = cur = 0
    for v in values:
        cur = cur + 1 if v > above else 0
        best = max(best, cur)
    return best


def share_above(values: list[float], above: float = 1.0) -> float:
    return sum(v > above for v in values) / len(values) if values else 0.0


def read(url: str) -> tuple[float | None, float | None, float, tuple[str, ...]]:
    """(score, its timestamp, calibration progress, top contributors) from one scrape."""
    fams = families(http_get(url + "/metrics", timeout=3)[1])

    def one(name: str) -> float | None:
        fam = fams.get(name)
        return fam.samples[0].value if fam is not None and fam.samples else None

    top_fam = fams.get("host_anomaly_top_contributor")
    top = tuple(s.labels["feature"] for s in sorted(top_fam.samples, key=lambda s: -s.value)) if top_fam else ()
    progress = one("host_anomaly_calibration_progress_ratio")
    return one("host_anomaly_score"), one("host_anomaly_last_score_timestamp_seconds"), progress or 0.0, top


class ScoreReader:
    """Every new cycle's score, once: polls /metrics every second, keeps a score when its timestamp is new."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.last_ts: float | None = None

    def collect(self, seconds: float, stop_after_run: int | None = None) -> list[Score]:
        out: list[Score] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                value, ts, _, top = read(self.url)
            except OSError:
                value = ts = None  # a scrape that timed out on a loaded machine; the next one catches up
            if value is not None and ts is not None and ts != self.last_ts:
                self.last_ts = ts
                out.append(Score(ts, value, top))
                if stop_after_run and longest_run([s.value for s in out]) >= stop_after_run:
                    break
            time.sleep(1.0)
        return out


@contextmanager
def persistent_connections(n: int) -> Iterator[None]:
    """``n`` established TCP connections on loopback (client and accepted ends), open until the block ends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(n)
    accepted: list[socket.socket] = []
    clients = [socket.create_connection(server.getsockname(), timeout=5) for _ in range(n)]
    for _ in range(n):
        accepted.append(server.accept()[0])
    try:
        yield
    finally:
        for s in clients + accepted + [server]:
            s.close()


@contextmanager
def cpu_burn(processes: int, seconds: float) -> Iterator[None]:
    """``processes`` busy Python loops, each ending by itself after ``seconds`` and killed when the block ends."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    burners = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(processes)]
    try:
        yield
    finally:
        for b in burners:
            b.kill()
            b.wait()


def describe(name: str, scores: list[Score]) -> str:
    values = [s.value for s in scores]
    high = [f"{s.value:.2f}:{'/'.join(s.top[:2])}" for s in scores if s.value > 1]
    return (
        f"{name}: {len(values)} scores, {share_above(values):.1%} above 1, longest run {longest_run(values)}, "
        f"max {max(values, default=0):.2f}, median {sorted(values)[len(values) // 2] if values else 0:.2f}"
        + (f"; above 1 (score:top): {' '.join(high[:20])}" if high else "")
    )


def test_quickstart_first_hour_is_quiet_idle_and_fires_under_cpu_burn(
    agent_process: StartAgent, tmp_path: Path
) -> None:
    if not Path("/proc/stat").exists():
        pytest.skip("the live collectors need Linux /proc")
    cfg = yaml.safe_load(QUICKSTART.read_text())
    interval = float(cfg["sampling"]["interval_seconds"])
    assert interval == 5.0, "the thresholds here assume the quickstart's 5 s interval (rules-5s.yml)"
    cfg["state_directory"] = str(tmp_path / "state")
    cfg["model"]["bundle"] = str(DEFAULT_BUNDLE)
    (tmp_path / "quickstart.yaml").write_text(yaml.safe_dump(cfg))

    agent = agent_process(["run", "--config.file", str(tmp_path / "quickstart.yaml")])
    agent.wait_ready("/metrics", timeout=60)
    t0 = time.monotonic()
    warmup_s = cfg["calibration"]["warmup_samples"] * interval
    while read(agent.url)[2] < 1.0:
        assert agent.proc.poll() is None, agent.log.read_text()
        limit = warmup_s + 120
        assert time.monotonic() - t0 < limit, f"no calibration in {limit:.0f} s:\n{agent.log.read_text()}"
        time.sleep(1.0)
    learned = json.loads(http_get(agent.url + "/model")[1])["calibration"]["result"]["scaler"]["center"]
    print(
        f"\ncalibrated after {time.monotonic() - t0:.0f} s; warm-up centre: cpu_r {learned['cpu_r']:.2f}, "
        f"load_1 {learned['load_1']:.2f}, load_15 {learned['load_15']:.2f}, curr_estab {learned['curr_estab']:.0f}"
    )

    reader = ScoreReader(agent.url)
    reader.collect(2 * interval)  # skip the first cycles after calibration settles its window
    idle = reader.collect(IDLE_S)
    with persistent_connections(3):
        tcp = reader.collect(TCP_S)
    with cpu_burn(2, BURN_MAX_S):
        burn = reader.collect(BURN_MAX_S, stop_after_run=RULE_RUN)
    for line in (describe("idle", idle), describe("3 TCP connections", tcp), describe("2-core CPU burn", burn)):
        print(line)

    idle_v, tcp_v, burn_v = ([s.value for s in xs] for xs in (idle, tcp, burn))
    assert len(idle_v) >= 0.8 * IDLE_S / interval, f"the agent scored only {len(idle_v)} cycles in {IDLE_S:.0f} s"
    assert share_above(idle_v) <= 0.01, describe("idle", idle)
    assert longest_run(idle_v) < RULE_RUN, describe("idle", idle)
    assert longest_run(tcp_v) < RULE_RUN, describe("3 TCP connections", tcp)
    assert agent.proc.poll() is None, "the agent exited during the test"
    if learned["cpu_r"] >= SATURATED and longest_run(burn_v) < RULE_RUN:
        # Other jobs kept both cores busy through the warm-up: two more busy loops leave cpu_r at 1 and add
        # 2 to a load the host learned at several cores, which is its normal, not an anomaly to page on.
        pytest.skip(
            f"the CPU burn cannot be told apart here: cpu_r was {learned['cpu_r']:.2f} during the "
            f"warm-up (other jobs saturated the cores); idle and TCP checks passed"
        )
    assert longest_run(burn_v) >= RULE_RUN, describe("2-core CPU burn", burn)


def test_longest_run_and_share() -> None:
    assert longest_run([0.5, 1.2, 1.1, 1.0, 2, 3, 4]) == 3
    assert longest_run([]) == 0
    assert share_above([0.5, 1.5, 1.0, 2.0]) == 0.5
