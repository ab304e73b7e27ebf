"""Test support shared by every test directory: paths, free ports, HTTP and a running-agent helper."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "models" / "default"
DEMO_DATA = ROOT / "data" / "smd-demo"
SHARED_SMD = ROOT.parent / "shared" / "data" / "smd"
AGENT = [sys.executable, "-m", "agent"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class AgentProcess:
    """An ``anomaly-agent`` subprocess on a loopback port, stopped with SIGTERM."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._fh = open(log, "wb")
        self.proc = subprocess.Popen([*AGENT, *args, "--web.listen-address", f"127.0.0.1:{port}"],
                                     stdout=self._fh, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait_ready(self, path: str = "/metrics", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if http_get(self.url + path, timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"agent not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()
        return self.proc.returncode

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
