"""Live on this machine, as a fleet operator would see it: a bad retrain round is pulled, rolled back, remembered.

``anomaly-agent run`` samples this host every 0.5 s and pulls its bundle from a real ``fleet serve`` over
TLS with a signed manifest.  Once the agent is calibrated, the operator signs a bad round (a
host-specific min-max bundle whose thresholds put every window far above 1, share 1.0): the agent
takes it, rolls it back within a few samples, and says so in the journal, ``/metrics``, ``/model``
and the landing page.  After a restart the decision holds: the bad round is still served and never
taken again.  Bounded in time; every process is stopped.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest
import yaml
from support import DEFAULT_BUNDLE, StartAgent, families, http_get
from support.fleet import fleet_server
from support.rounds import bad_round, publish
from support.tls import self_signed_cert

from training.fleet.signing import keygen

pytestmark = pytest.mark.slow
INTERVAL = 0.5


def metric(url: str, name: str) -> float | None:
    fam = families(http_get(url + "/metrics")[1]).get(name.removesuffix("_total"))
    return None if fam is None or not fam.samples else fam.samples[0].value


def model_doc(url: str) -> dict:
    return json.loads(http_get(url + "/model")[1])


def wait(what: str, check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, f"{what} not within {timeout:g} s"
        time.sleep(0.2)
    return time.monotonic() - t0


def test_a_bad_round_is_rolled_back_live_and_stays_rolled_back_after_a_restart(
    agent_process: StartAgent, tmp_path: Path
) -> None:
    host = socket.gethostname()
    fleet, keys = tmp_path / "fleet", tmp_path / "keys"
    fleet.mkdir()
    keygen(keys / "fleet.key", keys / "fleet.pub")
    publish(fleet, host, DEFAULT_BUNDLE, keys / "fleet.key", share=1.0)  # generation 1: what the host already runs
    shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle")
    crt, key = self_signed_cert(tmp_path)
    with fleet_server(fleet, (crt, key)) as url:
        cfg = tmp_path / "agent.yml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "sampling": {"interval_seconds": INTERVAL},
                    "calibration": {"warmup_samples": 40},
                    "state_directory": str(tmp_path / "state"),
                    "history": {"enabled": False},
                    "model": {
                        "bundle": str(tmp_path / "bundle"),
                        "watch": False,
                        "url": url + "/{hostname}/",
                        "url_ca_file": str(crt),
                        "url_public_key": str(keys / "fleet.pub"),
                        "url_poll_seconds": 5,
                    },
                }
            )
        )
        agent = agent_process(["run", "--config.file", str(cfg)])
        agent.wait_ready("/metrics", timeout=30)
        wait("calibration", lambda: metric(agent.url, "host_anomaly_calibration_progress_ratio") == 1.0, 90)
        wait("a first score", lambda: metric(agent.url, "host_anomaly_score") is not None, 30)
        good = model_doc(agent.url)["model_id"]

        publish(fleet, host, bad_round(DEFAULT_BUNDLE, tmp_path / "bad"), keys / "fleet.key", share=1.0)
        t_sign = time.monotonic()
        wait("the rollback", lambda: metric(agent.url, "host_anomaly_model_rollbacks_total") == 1.0, 30)
        took = time.monotonic() - t_sign
        doc = model_doc(agent.url)
        assert doc["model_id"] == good and doc["reloads"]["accepted"] == 1
        done = doc["rollback"]["rolled_back"]
        assert [d["model_id"] for d in done] == ["bad-round"] and done[0]["restored_model_id"] == good
        assert metric(agent.url, "host_anomaly_model_probation") == 0.0
        assert metric(agent.url, "host_anomaly_scoring_errors_total") == 0.0
        wait("a score from the restored model", lambda: (metric(agent.url, "host_anomaly_score") or 1e9) < 1e3, 10)
        page = http_get(agent.url + "/")[1].decode()
        assert "bad-round rolled back to" in page and "samples above 1 with bad-round" in page
        log = agent.log.read_text()
        assert "model rolled back: bad-round -> " in log
        print(f"rolled back {took:.1f} s after signing (poll every 5 s, {INTERVAL} s samples); the journal:")
        print("\n".join(ln for ln in log.splitlines() if any(w in ln for w in ("model.url", "probation", "model "))))
        assert agent.stop() == 0

        # a restart with the bad round still served: the decision holds
        again = agent_process(["run", "--config.file", str(cfg)])
        again.wait_ready("/metrics", timeout=30)
        assert model_doc(again.url)["rollback"]["rolled_back"][0]["model_id"] == "bad-round"
        wait("a poll", lambda: "was rolled back on this host; not installing it again" in again.log.read_text(), 20)
        assert model_doc(again.url)["model_id"] == good
        assert metric(again.url, "host_anomaly_model_rollbacks_total") == 0.0  # counted per process: the record says 1
