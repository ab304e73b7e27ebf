"""An ``anomaly-agent`` subprocess on a loopback port: started, waited for, stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Protocol

from support.paths import AGENT, DEMO_DATA, ROOT
from support.waiting import wait_for
from support.web import http_get


def demo_replay(bundle: Path, speed: float, *extra: str) -> list[str]:
    """Arguments replaying the demo's machine-1-6 in a loop at ``speed`` rows/s with ``bundle``."""
    data = ["--data", str(DEMO_DATA), "--machine", "machine-1-6", "--speed", f"{speed:g}", "--loop"]
    return ["replay", *data, "--bundle", str(bundle), *extra]


class AgentProcess:
    """``python -m agent ARGS --web.listen-address 127.0.0.1:PORT``, output in ``log``, stopped with SIGTERM."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._fh = open(log, "wb")
        self.proc = subprocess.Popen(
            [*AGENT, *args, "--web.listen-address", f"127.0.0.1:{port}"],
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def wait_ready(self, path: str = "/metrics", timeout: float = 30.0) -> None:
        """Until ``path`` answers 200; fails with the log when the agent exits or does not answer in time."""
        try:
            wait_for(
                lambda: http_get(self.url + path, timeout=1)[0] == 200,
                timeout,
                f"{path} to answer 200",
                step=0.1,
                procs=[self.proc],
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.log.read_text()}") from None

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


class StartAgent(Protocol):
    """The ``agent_process`` fixture: starts an agent (stopped at teardown)."""

    def __call__(self, args: list[str], port: int | None = None) -> AgentProcess: ...
