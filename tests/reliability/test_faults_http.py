"""Hostile HTTP clients against a running agent: slowloris, oversized requests, a flood of idle connections.

None of them may stall the sampling job (``host_anomaly_last_score_timestamp_seconds``
keeps advancing) or other scrapers, and none may grow threads or memory
without bound: a connection gets one deadline (the request timeout) for its
whole request head, at most ``MAX_REQUEST_HEAD_BYTES`` of it, and at most
``MAX_CONNECTIONS`` connections are served at once.
"""

from __future__ import annotations

import select
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from rel_support import proc_figures
from support import DEFAULT_BUNDLE, AgentProcess, demo_replay, free_port, http_get, sample_value

from agent.serve.http import MAX_CONNECTIONS, MAX_REQUEST_HEAD_BYTES

TIMEOUT = 2.0  # short for the test, long enough that a loaded CI machine is not mistaken for a slow client


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """One agent for the module (start-up costs seconds); every test leaves it as it found it."""
    d = tmp_path_factory.mktemp("http")
    shutil.copytree(DEFAULT_BUNDLE, d / "bundle")
    cfg = d / "agent.yml"
    cfg.write_text(f"web:\n  request_timeout_seconds: {TIMEOUT}\n")
    a = AgentProcess(
        demo_replay(d / "bundle", 20, "--config.file", str(cfg)),
        free_port(),
        d / "agent.log",
    )
    try:
        a.wait_ready("/healthz", timeout=60)
        yield a
    finally:
        a.stop()


def score_time(url: str) -> float:
    return sample_value(http_get(url + "/metrics")[1], "host_anomaly_last_score_timestamp_seconds") or 0.0


class Scraper:
    """Scrapes /metrics in the background and records failures and the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url, self.stop, self.ok, self.failures, self.slowest = url, threading.Event(), 0, [], 0.0
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                status, _ = http_get(self.url + "/metrics", timeout=5)
                assert status == 200
                self.ok += 1
            except Exception as exc:  # reported by the test
                self.failures.append(repr(exc))
            self.slowest = max(self.slowest, time.monotonic() - t0)
            time.sleep(0.05)

    def __enter__(self) -> Scraper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def closed_by_peer(s: socket.socket) -> bool:
    try:
        r, _, _ = select.select([s], [], [], 0)
        return bool(r) and s.recv(65536, socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def test_slowloris_is_cut_off_and_blocks_nobody(agent: AgentProcess) -> None:
    """40 clients send their headers a byte every 100 ms: each is dropped at the request deadline."""
    base = proc_figures(agent.proc.pid)
    t0_score = score_time(agent.url)
    socks = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", agent.port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        socks.append(s)
    start = time.monotonic()
    dropped_at: dict[int, float] = {}
    with Scraper(agent.url) as scraper:
        while time.monotonic() - start < 3 * TIMEOUT + 1 and len(dropped_at) < len(socks):
            for i, s in enumerate(socks):
                if i in dropped_at:
                    continue
                try:
                    s.send(b"a")
                    if closed_by_peer(s):
                        dropped_at[i] = time.monotonic() - start
                except OSError:
                    dropped_at[i] = time.monotonic() - start
            time.sleep(0.1)
    for s in socks:
        s.close()
    assert len(dropped_at) == len(socks), f"{len(socks) - len(dropped_at)} trickling clients still connected"
    assert max(dropped_at.values()) < TIMEOUT + 2.0
    assert scraper.failures == [] and scraper.ok >= 10 and scraper.slowest < TIMEOUT
    assert score_time(agent.url) > t0_score  # the sampling job went on
    time.sleep(0.3)
    assert proc_figures(agent.proc.pid)["threads"] <= base["threads"] + 2


@pytest.mark.parametrize("kind", ["request-line-10MB", "header-line-10MB", "100-headers-of-60kB", "body-10MB"])
def test_oversized_request_is_refused_with_bounded_memory(agent: AgentProcess, kind: str) -> None:
    big = b"a" * (10 * 1024 * 1024)
    requests = {
        "request-line-10MB": b"GET /" + big + b" HTTP/1.1\r\n\r\n",
        "header-line-10MB": b"GET /metrics HTTP/1.1\r\nX-Big: " + big + b"\r\n\r\n",
        "100-headers-of-60kB": b"GET /metrics HTTP/1.1\r\n"
        + b"".join(b"X-H%d: " % i + b"b" * 60_000 + b"\r\n" for i in range(100))
        + b"\r\n",
        "body-10MB": b"POST /metrics HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big) + big,
    }
    want = {
        "request-line-10MB": b" 414 ",
        "header-line-10MB": b" 431 ",
        "100-headers-of-60kB": None,
        "body-10MB": b" 405 ",
    }
    before = proc_figures(agent.proc.pid)
    t0_score = score_time(agent.url)
    with Scraper(agent.url) as scraper:
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as s:
                reply = b""
                try:
                    s.sendall(requests[kind])
                    s.shutdown(socket.SHUT_WR)
                except OSError:  # the agent closed first: it stopped reading, as it should
                    pass
                try:
                    reply = s.recv(200)
                except OSError:
                    pass
            if want[kind] is not None and reply:
                assert want[kind] in reply.split(b"\r\n")[0] + b" ", reply[:80]
    after = proc_figures(agent.proc.pid)
    assert after["rss_kb"] - before["rss_kb"] < 4 * 1024, (before, after)  # never buffered 10 MB
    assert scraper.failures == [] and scraper.ok >= 1
    assert score_time(agent.url) > t0_score


def test_flood_of_idle_connections_is_capped_and_drained(agent: AgentProcess) -> None:
    base = proc_figures(agent.proc.pid)
    socks = [socket.create_connection(("127.0.0.1", agent.port)) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        time.sleep(TIMEOUT / 2)  # all accepted; the served ones not timed out yet
        during = proc_figures(agent.proc.pid)
        assert during["threads"] <= base["threads"] + MAX_CONNECTIONS + 1, (base, during)
        # connections beyond the cap were closed at once
        refused = sum(closed_by_peer(s) for s in socks)
        assert refused >= 2 * MAX_CONNECTIONS - 5
        t0_score = score_time_retry(agent.url)
        time.sleep(TIMEOUT + 1.0)  # the served ones time out
        assert all(closed_by_peer(s) for s in socks)
        after = proc_figures(agent.proc.pid)
        assert after["threads"] <= base["threads"] + 1 and after["fds"] <= base["fds"] + 2, (base, after)
        assert http_get(agent.url + "/metrics")[0] == 200
        assert score_time(agent.url) > t0_score
    finally:
        for s in socks:
            s.close()


def score_time_retry(url: str) -> float:
    """While the connection cap is reached a scrape may be refused: retry until a slot frees."""
    deadline = time.monotonic() + 2 * TIMEOUT + 2
    while True:
        try:
            return score_time(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_request_head_budget_constant_is_generous_for_real_scrapers() -> None:
    """Prometheus sends < 1 kB of headers (with basic auth); the budget leaves two orders of magnitude."""
    assert MAX_REQUEST_HEAD_BYTES >= 64 * 1024 and MAX_CONNECTIONS >= 16
