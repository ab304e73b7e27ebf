"""Signed fleet manifests and staged rollout against a real `fleet serve`: every refusal keeps the running model."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.fleet import fleet_server

from agent.config import Config, ModelConfig
from agent.model.bundle import load_bundle
from agent.model.loaded import load_model
from agent.model.remote import RemoteBundle, pull_once
from agent.model.signature import SIG_SUFFIX, Refused, SerialStore, in_rollout, rollout_point
from agent.runtime.cycle import Agent
from agent.runtime.daemon import make_registry
from agent.runtime.sources import RowsSource
from training.fleet.manifest import write_host_record, write_manifest
from training.fleet.signing import keygen, promote, rollout_line, sign

OTHER = "0" * 64  # "the running model": anything served counts as new
INSIDE, OUTSIDE = "web-5", "web-1"  # rollout points below 0.1 and above 0.6 (asserted below)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "keys" / "fleet.key", tmp_path / "keys" / "fleet.pub"
    keygen(private, public)
    return private, public


@pytest.fixture
def fleet(tmp_path: Path, default_bundle: Path) -> Path:
    """Two hosts with the default bundle, as `fleet fit` leaves them (unsigned)."""
    out = tmp_path / "fleet"
    recs = {}
    for host in (INSIDE, OUTSIDE):
        shutil.copytree(default_bundle, out / host)
        recs[host] = {"host": host, "status": "ok", "sha256": load_bundle(out / host).sha256}
        write_host_record(out, recs[host])
    write_manifest(out, {"hosts": recs})
    return out


@pytest.fixture
def served(fleet: Path) -> Iterator[str]:
    with fleet_server(fleet) as url:
        yield url


def agent_remote(url: str, target: Path, public: Path | None, host: str, state: Path) -> RemoteBundle:
    cfg = ModelConfig(bundle=str(target), url=url + "/{hostname}/", url_public_key=str(public or ""))
    return RemoteBundle(cfg, hostname=host, state_dir=state)


def poll(r: RemoteBundle, counted: list[str]) -> str:
    r.etag = None
    return pull_once(r, lambda: OTHER, lambda _why: True, counted.append)


def test_the_rollout_hash_is_stable_and_splits_the_fleet() -> None:
    assert rollout_point(INSIDE) < 0.1 < 0.6 < rollout_point(OUTSIDE)
    assert rollout_point("web-5") == rollout_point("web-5")  # the same on every poll and restart
    points = [rollout_point(f"host-{i}") for i in range(2000)]
    assert 0.45 < sum(p < 0.5 for p in points) / len(points) < 0.55
    assert in_rollout(OUTSIDE, None) and not in_rollout(OUTSIDE, 0.5) and in_rollout(OUTSIDE, 1.0)
    assert not in_rollout(INSIDE, "garbage")


def test_signed_manifest_is_taken_and_each_forgery_is_refused_with_its_own_result(
    served: str, fleet: Path, default_bundle: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    state = tmp_path / "state"
    state.mkdir()
    counted: list[str] = []
    r = agent_remote(served, default_bundle, public, INSIDE, state)
    slice_ = fleet / "fleet.d" / f"{INSIDE}.json"
    # fleet fit's output, unsigned: refused
    assert poll(r, counted) == "unsigned" and not default_bundle.is_symlink()
    doc = sign(fleet, private)
    assert doc["serial"] == 1 and doc["generation"] == 1 and doc["rollout_share"] == 0.1
    old_body, old_sig = slice_.read_bytes(), (fleet / "fleet.d" / f"{INSIDE}.json{SIG_SUFFIX}").read_bytes()
    assert poll(r, counted) == "updated" and default_bundle.is_symlink()
    assert json.loads((state / "fleet-serial.json").read_text()) == {"serial": 1}
    # tampered after signing: one byte of the manifest changed
    slice_.write_bytes(slice_.read_bytes().replace(b'"status": "ok"', b'"status":  "ok"'))
    assert poll(r, counted) == "bad_signature"
    # signed by another key
    other_private, _ = tmp_path / "other.key", tmp_path / "other.pub"
    keygen(other_private, tmp_path / "other.pub")
    sign(fleet, other_private)
    assert poll(r, counted) == "bad_signature"
    # a newer genuine manifest, then the old one replayed (an attacker serving what was once valid)
    sign(fleet, private)
    assert poll(r, counted) == "updated"
    assert json.loads((state / "fleet-serial.json").read_text())["serial"] == 3
    slice_.write_bytes(old_body)
    (fleet / "fleet.d" / f"{INSIDE}.json{SIG_SUFFIX}").write_bytes(old_sig)
    assert poll(r, counted) == "replayed"
    # a restart remembers the serial: the replay is still refused
    again = agent_remote(served, default_bundle, public, INSIDE, state)
    assert poll(again, counted) == "replayed"
    assert counted == ["unsigned", "bad_signature", "bad_signature", "replayed", "replayed"]


def test_a_host_outside_the_rollout_share_stays_until_a_promotion_takes_it(
    served: str, fleet: Path, default_bundle: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    sign(fleet, private)  # a new generation at share 0.1
    counted: list[str] = []
    out = agent_remote(served, default_bundle, public, OUTSIDE, tmp_path)
    assert poll(out, counted) == "not_modified" and not default_bundle.is_symlink()
    assert "1 of 2 hosts" in rollout_line(json.loads((fleet / "fleet.json").read_text()))
    doc = promote(fleet, private, 1.0)
    assert doc["generation"] == 1 and doc["rollout_share"] == 1.0 and doc["serial"] == 2
    assert poll(out, counted) == "updated" and default_bundle.is_symlink() and counted == []
    assert "2 of 2 hosts" in rollout_line(doc)


def test_without_a_key_manifests_are_taken_as_before_and_the_agent_says_so_once(
    served: str, default_bundle: Path, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.model.remote"):
        r = agent_remote(served, default_bundle, None, INSIDE, tmp_path)
    assert sum("not verified" in m for m in caplog.messages) == 1
    assert poll(r, []) == "updated"


def test_serial_store_refuses_only_older_serials_and_survives_a_torn_file(tmp_path: Path) -> None:
    s = SerialStore(tmp_path)
    s.accept(4)
    s.check(4, "m")  # the same manifest polled again is fine
    with pytest.raises(Refused) as exc:
        s.check(3, "m")
    assert exc.value.result == "replayed"
    assert SerialStore(tmp_path).last == 4
    (tmp_path / "fleet-serial.json").write_text("{torn")
    assert SerialStore(tmp_path).last == 0  # logged; the next signed manifest sets it again


def test_each_refusal_is_on_metrics_and_the_agent_keeps_scoring(
    served: str, fleet: Path, default_bundle: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """The counters as Prometheus scrapes them, with the running agent's cycle between the polls."""
    private, public = keys
    cfg = replace(Config(), model=replace(Config().model, bundle=str(default_bundle), watch=False))
    model = load_model(str(default_bundle))
    rows = np.full((400, len(model.bundle.features)), 0.3)
    registry = make_registry()
    agent = Agent(cfg, RowsSource(rows), model, registry)
    value = registry.get_sample_value
    for result in ("unsigned", "bad_signature", "replayed"):  # exported from 0: increase() sees the first one
        assert value("host_anomaly_model_reloads_total", {"result": result}) == 0.0
    r = agent_remote(served, default_bundle, public, INSIDE, tmp_path)
    slice_ = fleet / "fleet.d" / f"{INSIDE}.json"
    scored: list[float | None] = []

    def pull_and_cycle() -> str:
        r.etag = None
        result = pull_once(r, lambda: OTHER, agent.reload, agent.count_reload)
        for _ in range(model.bundle.window):
            agent.cycle()
            scored.append(agent.snapshot.scored_at)
        return result

    assert pull_and_cycle() == "unsigned"
    sign(fleet, private)
    old_body, old_sig = slice_.read_bytes(), Path(f"{slice_}{SIG_SUFFIX}").read_bytes()
    sign(fleet, private)
    assert pull_and_cycle() == "updated"  # serial 2
    slice_.write_bytes(slice_.read_bytes().replace(b'"status": "ok"', b'"status":  "ok"'))
    assert pull_and_cycle() == "bad_signature"
    slice_.write_bytes(old_body)
    Path(f"{slice_}{SIG_SUFFIX}").write_bytes(old_sig)
    assert pull_and_cycle() == "replayed"  # serial 1 after 2
    counts = {res: value("host_anomaly_model_reloads_total", {"result": res}) for res in ("unsigned", "accepted")}
    assert counts == {"unsigned": 1.0, "accepted": 1.0}
    assert value("host_anomaly_model_reloads_total", {"result": "bad_signature"}) == 1.0
    assert value("host_anomaly_model_reloads_total", {"result": "replayed"}) == 1.0
    assert value("host_anomaly_scoring_errors_total") == 0.0
    assert all(t is not None for t in scored[model.bundle.window :])  # a score on every cycle once the window filled
