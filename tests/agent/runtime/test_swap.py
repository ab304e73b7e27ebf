"""Automatic rollback with real parts: a signed fleet served over TLS, the agent's pull job, the cycle.

The agent warms up on machine-1-6's rows, then pulls three rounds from ``fleet serve`` (HTTPS, a
self-signed CA, a signed manifest): a good round (the same network in another file: kept after its
probation), a bad round (a host-specific min-max bundle whose thresholds make every window score far
above 1: rolled back), and the bad round served again (never installed again, also after a restart).
A score is published on every cycle throughout.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from support import DEMO_DATA
from support.fleet import fleet_server
from support.rounds import bad_round, good_round, publish, rehash
from support.tls import self_signed_cert

from agent.config import Config
from agent.history import smd
from agent.model.loaded import load_model
from agent.model.remote import RemoteBundle, pull_once
from agent.model.rollback import Probation, RollbackLog, verdict
from agent.runtime.backtest import SimClock
from agent.runtime.cycle import Agent
from agent.runtime.hoststate import host_state
from agent.runtime.sources import RowsSource
from agent.serve.page import render_text
from training.fleet.signing import keygen

HOST = "web-5"  # inside the first rollout share (0.1): tests/agent/model/test_signature.py
WARMUP, T0, STEP = 120, 1.8e9, 60.0


@pytest.fixture
def tls_fleet(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """An empty fleet directory behind `fleet serve` with TLS: (directory, https URL, CA file)."""
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    crt, key = self_signed_cert(tmp_path)
    with fleet_server(fleet, (crt, key)) as url:
        yield fleet, url, crt


class Host:
    """The agent as the daemon wires it (calibration, rollback record, pull job) at a simulated clock."""

    def __init__(self, cfg: Config, rows: np.ndarray, start: float) -> None:
        self.cfg, self.clock = cfg, SimClock(start)
        model = load_model(cfg.model.bundle)
        calibrator, _ = host_state(cfg, model)  # None while a host-specific min-max bundle runs
        if calibrator is not None:
            calibrator.clock = self.clock
        self.rollbacks = RollbackLog.load(cfg.state_directory)
        self.registry = CollectorRegistry(auto_describe=False)
        self.agent = Agent(
            cfg,
            RowsSource(rows),
            model,
            self.registry,
            clock=self.clock,
            monotonic=self.clock,
            calibrator=calibrator,
            rollbacks=self.rollbacks,
        )
        self.remote = RemoteBundle(
            cfg.model, hostname=HOST, state_dir=cfg.state_directory, refused=self.rollbacks.refused
        )
        self.scores: list[tuple[str, float]] = []

    def cycles(self, n: int) -> None:
        for _ in range(n):
            self.clock.now += STEP
            self.agent.cycle()
            snap = self.agent.snapshot
            assert snap.scoring_errors == 0
            if snap.result is not None:
                assert snap.scored_at == self.clock.now  # scored on this cycle: it never stops
                self.scores.append((self.agent.model.bundle.model_id, snap.result.score))

    def pull(self) -> str:
        a = self.agent
        return pull_once(self.remote, lambda: a.model.bundle.sha256, a.reload, a.count_reload)

    def value(self, name: str) -> float | None:
        return self.registry.get_sample_value(name)


def test_verdict_needs_enough_samples_above_1_and_more_than_factor_times_the_previous() -> None:
    p = Probation("n", "new", "o", "old", "/x", 0.0, 1.0)
    assert verdict(replace(p, samples=4, above=4), 3.0, 5) is None  # too few to decide
    assert "5 of 5 samples above 1 with new, against 0 with old" in str(verdict(replace(p, samples=5, above=5), 3, 5))
    assert verdict(replace(p, samples=90, above=9, previous_above=3), 3.0, 5) is None  # 3 x 3 = 9: not more
    assert verdict(replace(p, samples=90, above=10, previous_above=3), 3.0, 5) is not None


def test_a_bad_round_is_rolled_back_and_a_good_one_kept_with_scores_on_every_cycle(
    tls_fleet: tuple[Path, str, Path], default_bundle: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fleet, url, ca = tls_fleet
    private, public = tmp_path / "keys" / "fleet.key", tmp_path / "keys" / "fleet.pub"
    keygen(private, public)
    cfg = Config()
    cfg = replace(
        cfg,
        state_directory=str(tmp_path / "state"),
        model=replace(
            cfg.model,
            bundle=str(default_bundle),
            url=url + "/{hostname}/",
            url_ca_file=str(ca),
            url_public_key=str(public),
            rollback_hours=0.5,  # 30 samples at 60 s
        ),
        calibration=replace(cfg.calibration, warmup_samples=WARMUP),
        history=replace(cfg.history, enabled=False),
        seasonal=replace(cfg.seasonal, enabled=False),
    )
    rows = smd.load_rows(Path(DEMO_DATA) / "test" / "machine-1-6.txt.gz")[1000:1400]
    host = Host(cfg, rows, T0)
    original = host.agent.model.bundle.sha256
    host.cycles(WARMUP + 10)
    assert len(host.scores) >= 10 and host.value("host_anomaly_model_probation") == 0.0

    # a good round: taken, scored beside the previous model for 30 samples, kept
    publish(fleet, HOST, good_round(default_bundle, tmp_path / "good"), private)
    assert host.pull() == "updated" and host.agent.model.bundle.model_id == "good-round"
    assert host.value("host_anomaly_model_probation") == 1.0
    good_dir = default_bundle.resolve()
    with caplog.at_level(logging.INFO, logger="agent.runtime.cycle"):
        host.cycles(31)
    assert "probation: good-round kept after" in caplog.text
    assert host.value("host_anomaly_model_probation") == 0.0 and host.value("host_anomaly_model_rollbacks_total") == 0
    assert host.rollbacks.probation is None and host.agent.model.bundle.model_id == "good-round"

    # a bad round scoring every window at about 5: rolled back after rollback_min_above (5) samples
    publish(fleet, HOST, bad_round(default_bundle, tmp_path / "bad", rows), private)  # scores around 5
    good_scorer = host.agent.scorer
    assert host.pull() == "updated" and host.agent.model.bundle.model_id == "bad-round"
    before = len(host.scores)
    with caplog.at_level(logging.WARNING, logger="agent.runtime.cycle"):
        host.cycles(10)
    timeline = host.scores[before:]
    assert [m for m, _ in timeline] == ["bad-round"] * 4 + ["good-round"] * 6
    print("bad round:", [round(s, 2) for _, s in timeline[:4]], "restored:", [round(s, 2) for _, s in timeline[4:]])
    assert min(s for _, s in timeline[:4]) > 2 and max(s for _, s in timeline[4:]) < 2
    assert host.agent.scorer is good_scorer  # the previous scorer and its calibration, as they were
    assert "model rolled back: bad-round -> good-round: 5 of 5 samples above 1 with bad-round" in caplog.text
    assert host.value("host_anomaly_model_rollbacks_total") == 1.0
    assert host.value("host_anomaly_model_probation") == 0.0
    assert default_bundle.resolve() == good_dir  # the bundle path points at the previous bundle again
    assert host.agent.calibrator is not None and host.agent.calibrator.bundle_sha == host.agent.model.bundle.sha256
    doc = host.agent.model_doc()["rollback"]
    assert (
        doc["rolled_back"][0]["model_id"] == "bad-round" and doc["rolled_back"][0]["restored_model_id"] == "good-round"
    )
    page = render_text(host.agent.health()[1], host.agent.model_doc(), "http://x/")
    assert "bad-round rolled back" in page and "5 of 5 samples above 1" in page

    # the same bad round on the next poll: not installed again
    assert host.pull() == "not_modified" and host.agent.model.bundle.model_id == "good-round"

    # a third round: installed beside the running (restored) bundle, which is kept for its probation
    third = tmp_path / "third"
    shutil.copytree(tmp_path / "good", third)
    with open(third / "model.tflite", "ab") as fh:
        fh.write(b"\1" * 8)
    publish(fleet, HOST, rehash(third, "third-round"), private)
    assert host.pull() == "updated" and host.agent.model.bundle.model_id == "third-round"
    assert good_dir.is_dir() and host.rollbacks.probation is not None
    assert host.rollbacks.probation.previous_path == str(good_dir)
    host.cycles(31)  # the same network again: kept
    assert host.rollbacks.probation is None and host.agent.model.bundle.model_id == "third-round"

    # a restart keeps the decision: the record and the refusal
    again = Host(cfg, rows[200:], host.clock.now)
    assert again.agent.model.bundle.model_id == "third-round" and again.agent.model.bundle.sha256 != original
    assert again.agent.model_doc()["rollback"]["rolled_back"][0]["model_id"] == "bad-round"
    publish(fleet, HOST, tmp_path / "bad", private)  # the bad round served again after a restart
    assert again.pull() == "not_modified" and again.agent.model.bundle.model_id == "third-round"
    again.cycles(40)
    assert again.scores and all(m == "third-round" for m, _ in again.scores)


def test_a_restart_during_probation_resumes_it_with_the_previous_bundle_and_then_rolls_back(
    default_bundle: Path, tmp_path: Path
) -> None:
    """The bundle path switched by hand (a symlink, as a pull leaves it), a restart after 3 bad samples."""
    versions = tmp_path / "versions"
    versions.mkdir()
    shutil.move(default_bundle, versions / "first")
    link = tmp_path / "bundle"
    link.symlink_to(versions / "first")
    cfg = Config()
    cfg = replace(
        cfg,
        state_directory=str(tmp_path / "state"),
        model=replace(cfg.model, bundle=str(link), watch=False),
        calibration=replace(cfg.calibration, warmup_samples=WARMUP),
        history=replace(cfg.history, enabled=False),
        seasonal=replace(cfg.seasonal, enabled=False),
    )
    rows = smd.load_rows(Path(DEMO_DATA) / "test" / "machine-1-6.txt.gz")[1000:1400]
    host = Host(cfg, rows, T0)
    first = host.agent.model.bundle.sha256
    host.cycles(WARMUP + 5)
    bad_round(versions / "first", versions / "bad")
    tmp = tmp_path / "bundle.new"
    tmp.symlink_to(versions / "bad")
    tmp.replace(link)
    assert host.agent.reload("SIGHUP") and host.agent.model.bundle.model_id == "bad-round"
    assert host.agent.reload("SIGHUP") and host.rollbacks.probation is not None  # the same bundle: it goes on
    host.cycles(3)
    host.rollbacks.save()  # as at shutdown: the counts so far
    again = Host(cfg, rows[WARMUP + 5 :], host.clock.now)
    assert again.agent.model.bundle.model_id == "bad-round"
    assert again.rollbacks.probation is not None and again.rollbacks.probation.above == 3
    again.cycles(40)
    assert again.agent.model.bundle.sha256 == first
    assert again.value("host_anomaly_model_rollbacks_total") == 1.0
    assert link.resolve() == versions / "first"


def test_a_swap_with_the_same_features_keeps_the_live_source(default_bundle: Path, tmp_path: Path) -> None:
    """A new sampler's first sample has no rates (NaN): the running one goes on when the features are the same."""
    built: list[object] = []

    def factory(m: object) -> RowsSource:
        built.append(m)
        return RowsSource(np.zeros((10, 38)))

    cfg = replace(Config(), model=replace(Config().model, bundle=str(default_bundle), watch=False))
    model = load_model(str(default_bundle))
    source = RowsSource(np.zeros((10, len(model.bundle.features))))
    agent = Agent(cfg, source, model, CollectorRegistry(auto_describe=False), source_factory=factory)
    good_round(default_bundle, tmp_path / "good")
    shutil.rmtree(default_bundle)
    shutil.copytree(tmp_path / "good", default_bundle)
    assert agent.reload("SIGHUP") and agent.model.bundle.model_id == "good-round"
    assert agent.source is source and built == []
