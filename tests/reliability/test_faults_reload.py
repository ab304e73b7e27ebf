"""Faults around the model while running: a bundle rewritten during reloads, scrapes during reloads,
a burst of SIGHUPs, and an interpreter that raises mid-cycle.

Two bundles of the default bundle's shape are told apart by their output
(the fixture models compute 0.5 x and 0.25 x) and by their threshold, so a
reload that pairs one bundle's bundle.json with the other's model, or a torn
model file, cannot pass unnoticed.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rel_support import HALF, QUARTER, ListSource, bundle_doc, make_agent, make_bundle, sha256, value
from support import StartAgent, demo_replay, families, http_get, sample_value

from agent.model.loaded import load_model
from agent.score.scoring import Scorer
from agent.serve.http import make_app, serve

SCALE = {sha256(HALF): 0.5, sha256(QUARTER): 0.25}
THRESHOLD = {sha256(HALF): 0.11, sha256(QUARTER): 0.07}


def two_bundles(tmp_path: Path) -> dict[str, tuple[bytes, bytes]]:
    """sha -> (bundle.json bytes, model bytes) for the two fixture models."""
    out = {}
    for model in (HALF, QUARTER):
        b = make_bundle(tmp_path / model.stem, model, threshold=THRESHOLD[sha256(model)])
        out[sha256(model)] = ((b / "bundle.json").read_bytes(), model.read_bytes())
    return out


def write_torn(path: Path, data: bytes, pieces: int = 3) -> None:
    """Rewrite in place, in pieces, as ``cp`` or a careless deploy script does."""
    with open(path, "r+b" if path.exists() else "wb") as fh:
        fh.truncate(0)
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            fh.write(data[i : i + step])
            fh.flush()
            time.sleep(0)


def check_consistent(agent: Any) -> str:
    sha = agent.model.bundle.sha256
    assert sha in SCALE, sha
    with agent.lock:  # an interpreter is not thread-safe: never invoke it beside a running cycle
        out = agent.model.scorer.predictor.predict(np.ones((1, 30, 38), np.float32))
    np.testing.assert_allclose(out, SCALE[sha])  # the interpreter runs the model bundle.json names
    assert agent.scorer.spec.threshold == THRESHOLD[sha]
    return sha


def test_bundle_rewritten_in_place_during_reloads(tmp_path: Path) -> None:
    versions = two_bundles(tmp_path)
    live = tmp_path / "live"
    live.mkdir()
    first = sha256(HALF)
    (live / "bundle.json").write_bytes(versions[first][0])
    (live / "model.tflite").write_bytes(versions[first][1])
    agent, reg = make_agent(load_model(live), ListSource())
    stop = threading.Event()
    cycles = [0]

    def writer() -> None:
        rng = np.random.default_rng(0)
        while not stop.is_set():
            meta, model = versions[list(versions)[rng.integers(2)]]
            files = [(live / "model.tflite", model), (live / "bundle.json", meta)]
            for path, data in files if rng.random() < 0.5 else files[::-1]:
                write_torn(path, data, int(rng.integers(1, 5)))

    def sampler() -> None:
        while not stop.is_set():
            agent.cycle()
            cycles[0] += 1

    threads = [threading.Thread(target=writer), threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    accepted, rejected, seen = 0, 0, set()
    try:
        deadline = time.monotonic() + 30  # a loaded machine is slower, not less correct
        while time.monotonic() < deadline and (accepted < 20 or rejected < 20 or len(seen) < 2):
            if agent.reload("test"):
                accepted += 1
                seen.add(check_consistent(agent))
            else:
                rejected += 1
                check_consistent(agent)  # the running model is untouched
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert accepted >= 5 and rejected >= 5, (accepted, rejected)
    assert len(seen) == 2  # both versions were taken at some point
    assert value(reg, "host_anomaly_model_reloads_total", result="accepted") == accepted
    assert value(reg, "host_anomaly_model_reloads_total", result="rejected") == rejected
    assert value(reg, "host_anomaly_scoring_errors_total") == 0.0
    assert cycles[0] > 100  # scoring never stopped
    # the model running now survives its file being truncated (it runs from memory, not an mmap)
    os.truncate(live / "model.tflite", 0)
    before = cycles[0]
    agent.cycle()
    check_consistent(agent)
    assert value(reg, "host_anomaly_score") is not None and before >= 0


def test_scrapes_during_reloads(tmp_path: Path) -> None:
    versions = two_bundles(tmp_path)
    live = tmp_path / "live"
    live.mkdir()
    agent = reg = None

    def install(sha: str) -> None:  # atomic: the scrapes are under test here, not the writer
        meta, model = versions[sha]
        for name, data in (("model.tflite", model), ("bundle.json", meta)):
            (live / (name + ".new")).write_bytes(data)
            os.replace(live / (name + ".new"), live / name)

    install(sha256(HALF))
    agent, reg = make_agent(load_model(live), ListSource())
    for _ in range(30):
        agent.cycle()
    app = make_app(reg, agent.health, agent.model_doc)
    httpd, _ = serve("127.0.0.1:0", app, request_timeout=5)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    stop = threading.Event()
    errors: list[str] = []
    scrapes = [0]
    lock = threading.Lock()

    def scraper(i: int) -> None:
        paths = ["/metrics", "/metrics", "/model", "/healthz"]
        k = 0
        while not stop.is_set():
            path = paths[(i + k) % len(paths)]
            k += 1
            try:
                status, body = http_get(url + path, timeout=5)
                if path == "/metrics":
                    fams = families(body)
                    info = fams["host_anomaly_model_info"].samples
                    assert status == 200 and len(info) == 1 and info[0].labels["sha256"] in SCALE
                    assert "host_anomaly_score" in fams
                elif path == "/model":
                    assert status == 200 and json.loads(body)["sha256"] in SCALE
                else:
                    assert status == 200, body
            except Exception as exc:  # collected and reported below
                errors.append(f"{path}: {exc!r}")
            with lock:
                scrapes[0] += 1

    def sampler() -> None:
        while not stop.is_set():
            agent.cycle()
            time.sleep(0.001)

    threads = [threading.Thread(target=scraper, args=(i,)) for i in range(8)] + [threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    reloads = 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (reloads < 40 or scrapes[0] < 200):
            install(list(versions)[reloads % 2])
            assert agent.reload("test")
            reloads += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
        httpd.shutdown()
        httpd.server_close()
    assert errors == [], errors[:5]
    assert reloads >= 40 and scrapes[0] >= 200, (reloads, scrapes[0])
    assert value(reg, "host_anomaly_model_reloads_total", result="accepted") == reloads


class Flaky:
    """A predictor that raises on every ``every``-th call, like an interpreter hitting a bad state."""

    def __init__(self, inner: Any, every: int) -> None:
        self.inner, self.every, self.calls, self.raised = inner, every, 0, 0

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls % self.every == 0:
            self.raised += 1
            raise RuntimeError("tensorflow/lite/kernels/mul.cc: Node number 0 (MUL) failed to invoke")
        return self.inner.predict(batch)


@pytest.mark.parametrize("every", [2, 3, 7])
def test_interpreter_raising_mid_cycle_is_counted_and_the_next_cycle_scores(tmp_path: Path, every: int) -> None:
    model = load_model(make_bundle(tmp_path / "b", HALF))
    flaky = Flaky(model.scorer.predictor, every)
    model = replace(model, scorer=Scorer(model.scorer.spec, flaky))
    now = [1_700_000_000.0]
    agent, reg = make_agent(model, ListSource(), clock=lambda: now[0])
    for _ in range(29):
        agent.cycle()
    stamps = []
    for _ in range(30):
        now[0] += 60
        agent.cycle()
        stamps.append(value(reg, "host_anomaly_last_score_timestamp_seconds"))
    assert flaky.raised == 30 // every
    assert value(reg, "host_anomaly_scoring_errors_total") == flaky.raised
    # a failed cycle keeps the previous score; the cycle after it scores again
    fresh = [s == 1_700_000_000.0 + 60 * (i + 1) for i, s in enumerate(stamps)]
    assert sum(fresh) == 30 - flaky.raised and all(fresh[i] or fresh[i + 1] for i in range(29))


def test_collector_raising_mid_cycle_is_counted(tmp_path: Path) -> None:
    model = load_model(make_bundle(tmp_path / "b", HALF))
    source = ListSource()
    agent, reg = make_agent(model, source)
    for _ in range(30):
        agent.cycle()
    source.fail = MemoryError("cannot allocate")
    agent.cycle()
    source.fail = None
    agent.cycle()
    assert value(reg, "host_anomaly_scoring_errors_total") == 1.0
    assert value(reg, "host_anomaly_score") is not None


@pytest.mark.parametrize("count, pause", [(50, 0.002), (5000, 0.0)], ids=["burst-50", "flood-5000"])
def test_burst_of_sighups(agent_process: StartAgent, default_bundle: Path, count: int, pause: float) -> None:
    """The flood found a crash: handlers that called threading.Event.set() nested until RecursionError
    (a handler interrupting the lock it wanted); handlers now only flip flags."""
    agent = agent_process(demo_replay(default_bundle, 200))
    agent.wait_ready("/healthz", timeout=60)
    before = sample_value(http_get(agent.url + "/metrics")[1], "host_anomaly_last_score_timestamp_seconds")
    for _ in range(count):
        os.kill(agent.proc.pid, signal.SIGHUP)
        if pause:
            time.sleep(pause)
    time.sleep(1.5)
    assert agent.proc.poll() is None, agent.log.read_text()[-2000:]
    status, body = http_get(agent.url + "/metrics")
    text = body.decode()
    accepted = sample_value(text, "host_anomaly_model_reloads_total", result="accepted")
    assert status == 200 and 1 <= accepted <= count
    assert sample_value(text, "host_anomaly_model_reloads_total", result="rejected") == 0
    assert sample_value(text, "host_anomaly_scoring_errors_total") == 0
    assert sample_value(text, "host_anomaly_last_score_timestamp_seconds") > before
    assert http_get(agent.url + "/healthz")[0] == 200
    assert json.loads(http_get(agent.url + "/model")[1])["sha256"] == bundle_doc(default_bundle)["model"]["sha256"]
    assert agent.stop() == 0  # and SIGTERM still stops it cleanly


def test_sighup_during_startup_does_not_kill_the_agent(agent_process: StartAgent, default_bundle: Path) -> None:
    """SIGHUP's default action is to terminate: from ``main()`` on it is ignored until the reload handler is in.

    (Interpreter start-up and the imports before ``main()``, a few hundred ms, stay unprotected; systemd
    does not deliver ``systemctl reload`` to a unit that is still starting.)
    """
    agent = agent_process(demo_replay(default_bundle, 50))
    deadline = time.monotonic() + 60
    while not _ignores_sighup(agent.proc.pid):  # main() has started
        assert agent.proc.poll() is None and time.monotonic() < deadline, agent.log.read_text()
        time.sleep(0.001)
    ready = threading.Event()

    def poll() -> None:
        while not ready.is_set() and time.monotonic() < deadline and agent.proc.poll() is None:
            try:
                if http_get(agent.url + "/metrics", timeout=0.5)[0] == 200:
                    ready.set()
            except OSError:
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    sent = 0
    while not ready.is_set() and time.monotonic() < deadline and agent.proc.poll() is None:
        os.kill(agent.proc.pid, signal.SIGHUP)
        sent += 1
        time.sleep(0.0005)
    poller.join()
    assert agent.proc.poll() is None, f"killed by SIGHUP #{sent}:\n{agent.log.read_text()[-1500:]}"
    assert ready.is_set() and sent >= 10, sent  # sent all through model loading and server start


def _ignores_sighup(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False
